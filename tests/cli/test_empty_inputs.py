"""An input with nothing in it: ``augment`` wrote an empty twin and exited 0, ``index`` an
empty ``.idx``. Now each is one error line, exit 1, and nothing written; ``align`` agrees."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from maskgen.cli.main import cli
from maskgen.errors import DatasetFormatError
from maskgen.formats.insightface import RecordHeader, pack_record
from maskgen.formats.recordio import RecordIOWriter
from maskgen.pipeline import augment_dataset


def _run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_line_error(result: Result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _empty_bin(folder: Path) -> Path:
    path = folder / "lfw.bin"
    path.write_bytes(pickle.dumps(([], []), protocol=4))
    return path


def _empty_rec(folder: Path) -> Path:
    with RecordIOWriter(folder / "train.rec"):
        pass
    return folder / "train.rec"


def _header_only_rec(folder: Path) -> Path:
    """insightface's layout with a header and two identity records but no image record."""
    with RecordIOWriter(folder / "train.rec") as writer:
        writer.write_raw(0, pack_record(RecordHeader(flag=2, label=[1, 3], id=0), b""))
        for key in (1, 2):
            writer.write_raw(key, pack_record(RecordHeader(flag=2, label=[1, 1], id=key), b""))
    return folder / "train.rec"


EMPTY_INPUTS = {
    "bin": (_empty_bin, "no images in it, nothing to mask"),
    "rec": (_empty_rec, "no records in it, nothing to mask"),
    "rec-header-only": (_header_only_rec, "no image records, only header records in it"),
}


@pytest.mark.parametrize("kind", sorted(EMPTY_INPUTS))
@pytest.mark.parametrize("extra", [[], ["--resume"], ["--shard", "0/2"], ["--overwrite"]])
def test_augment_of_an_empty_input_is_refused(kind: str, extra: list[str], tmp_path: Path):
    make, message = EMPTY_INPUTS[kind]
    source = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "twin"
    _one_line_error(_run("augment", source, "-o", out, *extra), source.name, message)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    # an OUTDIR made beforehand is left as it was, empty
    out.mkdir()
    _one_line_error(_run("augment", source, "-o", out, *extra), message)
    assert list(out.iterdir()) == []


def test_augment_dataset_raises_for_an_empty_input(tmp_path: Path) -> None:
    with pytest.raises(DatasetFormatError, match="no images in it"):
        augment_dataset(_empty_bin(tmp_path), tmp_path / "twin")
    assert not (tmp_path / "twin").exists()


def test_augment_of_an_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "photos" / "alice").mkdir(parents=True)
    _one_line_error(_run("augment", tmp_path / "photos", "-o", tmp_path / "o"), "no image files")
    assert not (tmp_path / "o").exists()


@pytest.mark.shared
def test_an_index_that_lists_nothing_of_a_full_rec(tmp_path: Path, rec_dir: Path) -> None:
    """A .rec with data and an empty .idx is a damaged index, not an empty input."""
    rec = tmp_path / "train.rec"
    rec.write_bytes((rec_dir / "lfw-mini-flat" / "train.rec").read_bytes())
    (tmp_path / "train.idx").write_bytes(b"")
    _one_line_error(
        _run("augment", rec, "-o", tmp_path / "o"), "lists no records", "maskgen index --overwrite"
    )
    assert not (tmp_path / "o").exists()


def test_index_of_an_empty_rec_is_refused(tmp_path: Path) -> None:
    rec = tmp_path / "empty.rec"
    rec.write_bytes(b"")
    _one_line_error(_run("index", rec), "empty.rec", "no records in it", "nothing to index")
    _one_line_error(_run("index", rec, "-o", tmp_path / "x.idx"), "nothing to index")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.rec"]


def test_align_of_empty_inputs_is_refused(tmp_path: Path) -> None:
    """``align`` already refused these; the same shape of error as augment's."""
    (tmp_path / "photos" / "alice").mkdir(parents=True)
    _one_line_error(_run("align", tmp_path / "photos", "-o", tmp_path / "a.rec"), "no identity")
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("")
    _one_line_error(
        _run("align", tmp_path / "photos", "--pairs", pairs, "-o", tmp_path / "a.bin"), "no pairs"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.txt", "photos"]
