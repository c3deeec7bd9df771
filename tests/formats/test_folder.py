"""Image folders: every file listed, recursively; parts staged and joined in place."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.errors import DatasetFormatError, OutputError
from maskgen.formats.base import Reader, find_format
from maskgen.formats.folder import FOLDER, FolderReader, image_format_of, staging_dir
from maskgen.types import Sample

TREE = {
    "b/Person_0001.JPG": ".jpg",
    "b/nested/two.Jpeg": ".jpeg",
    "a.png": ".png",
    "c/x.BMP": ".bmp",
    "c/y.webp": ".webp",
}
OTHER_FILES = ["notes.txt", "c/readme.md", ".hidden.jpg", "b/no_suffix", "b/._Person_0001.JPG"]
IN_HIDDEN_FOLDERS = [".cache/z.jpg", ".maskgen-parts/chunk-000000.part"]
FILES = sorted([*TREE, *OTHER_FILES])


def _encoded(suffix: str, value: int) -> bytes:
    image = np.full((8, 8, 3), value, dtype=np.uint8)
    ok, buffer = cv2.imencode(suffix, image)
    assert ok
    return buffer.tobytes()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    for number, (key, suffix) in enumerate(TREE.items()):
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(_encoded(suffix, 10 * number))
    for key in OTHER_FILES + IN_HIDDEN_FOLDERS:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(b"not an image")
    return root


def test_lists_every_file_recursively_sorted_hidden_files_included(
    tree: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Text files, files without a suffix and macOS ``._`` files are items too (the masking
    step decides what is an image); hidden folders are not entered, and a warning says so."""
    with caplog.at_level("WARNING", logger="maskgen.formats.folder"):
        reader = FolderReader(tree)
    assert list(reader.keys()) == FILES
    assert len(reader) == len(FILES)
    assert "2 hidden folder(s) not read: .cache, .maskgen-parts" in caplog.text
    for key in FILES:
        sample = reader.read(key)
        assert sample == Sample(key=key, data=(tree / key).read_bytes(), name=key)
    for key in TREE:
        decoded = cv2.imdecode(np.frombuffer(reader.read(key).data, np.uint8), cv2.IMREAD_COLOR)
        assert decoded.shape == (8, 8, 3)


def test_format_registry_and_pickling(tree: Path, tmp_path: Path) -> None:
    assert find_format(tree) is FOLDER and not FOLDER.aligned_by_default
    reader = FOLDER.open_reader(tree)
    assert isinstance(reader, Reader)
    assert FOLDER.output_path(reader, tmp_path / "out") == tmp_path / "out"
    clone = pickle.loads(pickle.dumps(reader))
    assert clone.read("c/y.webp").data == reader.read("c/y.webp").data
    photo = next(p for p in tree.rglob("*.webp"))  # one photo is not a dataset
    with pytest.raises(DatasetFormatError, match="a single photo is masked by `maskgen mask`"):
        find_format(photo)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetFormatError, match=r"tried: [a-z, ]+\)$"):
        find_format(tmp_path / "notes.txt")


def test_an_idx_given_for_its_rec_says_to_give_the_rec(tmp_path: Path) -> None:
    (tmp_path / "train.rec").write_bytes(b"")
    (tmp_path / "train.idx").write_text("0\t0\n")
    with pytest.raises(DatasetFormatError, match=r"give the \.rec, .*train\.rec \(its \.idx"):
        find_format(tmp_path / "train.idx")


@pytest.mark.skipif(os.sep == "\\", reason="a backslash separates folders on Windows")
def test_a_backslash_in_a_file_name_is_a_name_character(tree: Path, tmp_path: Path) -> None:
    """On POSIX 'a\\b.png' is one file in the root, not a path: it is listed, read and written
    back like any other (it used to stop a whole augment run: 'not a relative path')."""
    name = "back\\slash.png"
    (tree / name).write_bytes((tree / "a.png").read_bytes())
    reader = FolderReader(tree)
    assert name in list(reader.keys()) and reader.read(name).data == (tree / "a.png").read_bytes()
    out = tmp_path / "out"
    with FOLDER.open_part_writer(reader, tmp_path / "p.part", out_dir=out) as writer:
        writer.write(reader.read(name))
    assert (out / name).read_bytes() == (tree / "a.png").read_bytes()


def test_refuses_keys_outside_the_root(tree: Path) -> None:
    reader = FolderReader(tree)
    for key in ["../in/a.png", "/etc/passwd"]:
        with pytest.raises(DatasetFormatError, match="not a relative path"):
            reader.read(key)
    with pytest.raises(KeyError):
        reader.read("missing.jpg")


def test_empty_folder_is_an_error_with_a_hint(tmp_path: Path) -> None:
    (tmp_path / "train.rec").write_bytes(b"")
    with pytest.raises(DatasetFormatError, match=r"no image files .*train\.rec"):
        FolderReader(tmp_path)


def test_images_without_image_suffixes_are_found_by_their_bytes(tmp_path: Path) -> None:
    """A folder whose photos have no image suffix (hashed names, ``.dat``) is a folder of
    images: the masking step recognises them by their bytes, so the reader must not refuse it
    as holding no image files."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "3f9a0c").write_bytes(_encoded(".jpg", 40))
    (tmp_path / "photo.dat").write_bytes(_encoded(".png", 90))
    (tmp_path / "notes.txt").write_text("hello\n")
    assert list(FolderReader(tmp_path).keys()) == ["notes.txt", "photo.dat", "sub/3f9a0c"]
    (tmp_path / "photo.dat").unlink()
    (tmp_path / "sub" / "3f9a0c").write_bytes(b"\x00" * 64)
    with pytest.raises(DatasetFormatError, match="no image files"):
        FolderReader(tmp_path)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a/b.JPG", "jpeg"),
        ("x.jpeg", "jpeg"),
        (Path("y.Png"), "png"),
        ("z.bmp", "bmp"),
        ("w.WEBP", "webp"),
        ("face.gif", "gif"),
        ("scan.tif", "tiff"),
        ("scan.TIFF", "tiff"),
    ],
)
def test_image_format_of(name: str | Path, expected: str) -> None:
    assert image_format_of(name) == expected


def test_image_format_of_refuses_other_files() -> None:
    with pytest.raises(DatasetFormatError, match=r"notes\.txt.*allowed: .*\.gif.*\.tiff"):
        image_format_of("notes.txt")
    with pytest.raises(DatasetFormatError, match=r"layers\.psd"):  # Pillow reads PSD only
        image_format_of("layers.psd")


def _write_parts(reader: FolderReader, parts_dir: Path, **kwargs) -> list[Path]:
    keys = list(reader.keys())
    parts = []
    for number, start in enumerate(range(0, len(keys), 2)):
        part = parts_dir / f"part-{number:05d}.json"
        with FOLDER.open_part_writer(reader, part, **kwargs) as writer:
            for key in keys[start : start + 2]:
                writer.write(reader.read(key))
        parts.append(part)
    return parts


def _image_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_staged_parts_join_into_the_output(tree: Path, tmp_path: Path) -> None:
    reader = FolderReader(tree)
    out = tmp_path / "out"
    parts = _write_parts(reader, out / ".parts")
    assert (staging_dir(parts[0]) / "a.png").is_file()
    assert FOLDER.join_parts(reader, parts, out) == out
    files = {key: data for key, data in _image_files(out).items() if not key.startswith(".p")}
    assert files == {key: (tree / key).read_bytes() for key in FILES}
    assert not staging_dir(parts[0]).exists()
    assert FOLDER.join_parts(reader, parts, out) == out  # a rerun finds everything in place
    assert list(FolderReader(out).keys()) == FILES  # the hidden parts folder is not entered


def test_parts_written_in_place(tree: Path, tmp_path: Path) -> None:
    reader = FolderReader(tree)
    out = tmp_path / "out"
    parts = _write_parts(reader, tmp_path / "parts", out_dir=out)
    assert _image_files(out) == {key: (tree / key).read_bytes() for key in FILES}
    assert FOLDER.join_parts(reader, parts, out) == out
    (out / "a.png").unlink()
    with pytest.raises(OutputError, match=r"a\.png"):
        FOLDER.join_parts(reader, parts, out)


def test_part_file_appears_only_when_complete(tree: Path, tmp_path: Path) -> None:
    reader = FolderReader(tree)
    part = tmp_path / "parts" / "part-00000.json"
    with pytest.raises(RuntimeError), FOLDER.open_part_writer(reader, part) as writer:
        writer.write(reader.read("a.png"))
        raise RuntimeError("interrupted")
    assert not part.exists()
    with pytest.raises(OutputError, match="part missing"):
        FOLDER.join_parts(reader, [part], tmp_path / "out")


@pytest.mark.shared
def test_reads_all_of_lfw(lfw_dir: Path) -> None:
    reader = FolderReader(lfw_dir)
    assert len(reader) == 13233
    first = reader.keys()[0]
    assert first == "AJ_Cook/AJ_Cook_0001.jpg"
    assert reader.read(first).data == (lfw_dir / first).read_bytes()
    assert image_format_of(first) == "jpeg"


def test_a_subset_reader_reads_its_keys_without_listing_the_folder(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a pipeline job carries: just its keys (small to pickle), the same samples."""
    import pickle

    reader = FolderReader(tree)
    keys = list(reader.keys())[1:3]
    monkeypatch.setattr("maskgen.formats.folder.list_files", lambda root: pytest.fail("walked"))
    part = reader.subset(keys)
    assert list(part.keys()) == keys and len(part) == 2
    assert [part.read(k) for k in keys] == [reader.read(k) for k in keys]
    copy = pickle.loads(pickle.dumps(part))
    assert list(copy.keys()) == keys and copy.read(keys[0]) == reader.read(keys[0])
    assert "_key_set" not in copy.__dict__
    part.close()
    with pytest.raises(KeyError, match="nope"):
        reader.subset([keys[0], "nope.png"])


def test_links_not_followed_are_named_in_a_warning(
    tree: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A linked folder (say one identity folder linked from elsewhere) and a broken link are
    not read: a warning names them, where they used to vanish from the twin without a word."""
    (tmp_path / "elsewhere").mkdir()
    (tree / "Alan").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tree / "gone.jpg").symlink_to(tmp_path / "missing.jpg")
    with caplog.at_level("WARNING", logger="maskgen.formats.folder"):
        reader = FolderReader(tree)
    keys = list(reader.keys())
    assert "Alan" not in keys and "gone.jpg" not in keys
    (warning,) = [r.getMessage() for r in caplog.records if "not followed" in r.getMessage()]
    assert "2 link(s) to folders, or broken, not followed: Alan, gone.jpg" in warning


def test_a_loop_of_links_is_named_as_broken_and_the_rest_is_read(
    tree: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two links to each other (or one to itself) stopped the whole run with "Too many levels
    of symbolic links" and nothing written: they lead nowhere, like a broken link, so a
    warning names them and every other file is read."""
    (tree / "a_loop.jpg").symlink_to("b_loop.jpg")
    (tree / "b_loop.jpg").symlink_to("a_loop.jpg")
    (tree / "self.jpg").symlink_to("self.jpg")
    with caplog.at_level("WARNING", logger="maskgen.formats.folder"):
        reader = FolderReader(tree)
    assert list(reader.keys()) == sorted(FILES)
    (warning,) = [r.getMessage() for r in caplog.records if "not followed" in r.getMessage()]
    assert "3 link(s) to folders, or broken, not followed: a_loop.jpg, b_loop.jpg, self.jpg" in (
        warning
    )


def test_a_folder_that_cannot_be_listed_is_named_in_a_warning(
    tree: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sub-folder without read permission was skipped without a word: its photos missing
    from the twin and its manifest, an identity lost to align."""
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "b":
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr("maskgen.formats.folder.os.scandir", scandir)
    with caplog.at_level("WARNING", logger="maskgen.formats.folder"):
        reader = FolderReader(tree)
    keys = list(reader.keys())
    assert keys and not [key for key in keys if key.startswith("b/")]
    (warning,) = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    assert warning.endswith("1 folder(s) that cannot be read skipped: b")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_in_the_folder_is_named_in_a_warning(
    tree: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A named pipe called photo.jpg was left out of the twin and its manifest without a
    word (reading it would block): a warning now names it."""
    os.mkfifo(tree / "pipe.jpg")
    with caplog.at_level("WARNING", logger="maskgen.formats.folder"):
        reader = FolderReader(tree)
    assert "pipe.jpg" not in list(reader.keys())
    (warning,) = [r.getMessage() for r in caplog.records if "special" in r.getMessage()]
    assert "1 special file(s) (pipes, sockets, devices) not read: pipe.jpg" in warning


def test_a_folder_of_linked_folders_says_they_are_links(tree: Path, tmp_path: Path) -> None:
    """A folder whose identity folders are all links (a common way to gather a dataset) was
    refused as 'no image files' followed by the list of image suffixes, never naming the
    links; the error now says they were not followed and what to do."""
    people = tmp_path / "people"
    people.mkdir()
    for name in ("Alan", "Beth"):
        (people / name).symlink_to(tree / "b", target_is_directory=True)
    with pytest.raises(DatasetFormatError) as error:
        FolderReader(people)
    message = str(error.value)
    assert "no image files" in message and "\n" not in message
    assert "2 link(s) to folders, or broken, are not followed: Alan, Beth" in message
    assert "give a linked folder itself, or copy it in" in message


def test_listing_follows_file_links_not_folder_links(tree: Path, tmp_path: Path) -> None:
    """As ``os.walk`` lists: a link to a file is an item, a linked folder is not entered (no
    loops, nothing read twice), a hidden folder is named, not entered."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.png").write_bytes((tree / "a.png").read_bytes())
    (tree / "linked_folder").symlink_to(outside, target_is_directory=True)
    (tree / "linked.png").symlink_to(outside / "x.png")
    (tree / ".cache" / "deep").mkdir(parents=True)
    (tree / ".cache" / "deep" / "y.png").write_bytes(b"")
    reader = FolderReader(tree)
    assert list(reader.keys()) == sorted([*FILES, "linked.png"])
    assert reader.read("linked.png").data == (tree / "a.png").read_bytes()
