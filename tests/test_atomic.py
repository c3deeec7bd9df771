"""write_bytes_atomic: whole files or none, folders made where missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from maskgen.atomic import write_bytes_atomic
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
