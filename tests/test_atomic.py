"""maskgen.atomic: whole files or none, folders made where missing, quiet clean-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from maskgen.atomic import discard_temporary, make_folder, write_bytes_atomic
from maskgen.errors import OutputError


def test_writes_into_folders_it_makes(tmp_path: Path) -> None:
    target = tmp_path / "Aaron_Eckhart" / "deeper" / "Aaron_Eckhart_0001.jpg"
    write_bytes_atomic(target, b"\xff\xd8 first")
    write_bytes_atomic(target, b"\xff\xd8 second")  # replaces, in a folder that now exists
    assert target.read_bytes() == b"\xff\xd8 second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["Aaron_Eckhart_0001.jpg"]


def test_a_folder_that_cannot_be_made_is_an_output_error_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "person"
    blocker.write_bytes(b"a file where the identity folder should go")
    with pytest.raises(OutputError, match="cannot write here"):
        write_bytes_atomic(blocker / "photo.jpg", b"data")
    assert blocker.read_bytes() == b"a file where the identity folder should go"
    assert [p.name for p in tmp_path.iterdir()] == ["person"]


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "twin" / "photo.jpg"
    target.mkdir(parents=True)  # a folder in the file's place: the rename fails
    with pytest.raises(OutputError):
        write_bytes_atomic(target, b"data")
    assert [p.name for p in target.parent.iterdir()] == ["photo.jpg"]
    assert target.is_dir()


def test_discarding_a_temporary_file_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a read-only file system even ``unlink(missing_ok=True)`` raises (EROFS); a clean-up
    path that let it through hid the error that explained the failure behind a traceback."""
    import errno

    leftover = tmp_path / ".photo.jpg.1-abc.tmp"
    leftover.write_bytes(b"partial")
    discard_temporary(leftover)
    discard_temporary(leftover)  # gone already: nothing to say
    assert not leftover.exists()

    def read_only(self: Path, missing_ok: bool = False) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "unlink", read_only)
    discard_temporary(tmp_path / ".other.tmp")


def test_a_folder_under_a_regular_file_is_one_output_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("hi")
    with pytest.raises(
        OutputError, match=r"afile/run: cannot make this folder \(Not a directory\)"
    ):
        make_folder(tmp_path / "afile" / "run")
    make_folder(tmp_path / "new" / "run")
    make_folder(tmp_path / "new" / "run")  # there already: fine
    assert (tmp_path / "new" / "run").is_dir()
