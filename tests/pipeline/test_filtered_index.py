"""A .rec whose .idx a user filtered by hand (records dropped from the middle; the .rec still
holds them): the twin holds exactly the listed records, as the unfiltered run masks them, its
.idx lists the same keys, and the run says what the .idx leaves out."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from maskgen.errors import DatasetFormatError
from maskgen.formats.recordio import RecordIOReader

pytestmark = pytest.mark.shared

DROPPED = range(10, 20)  # images of identities 1 and 2 (identity 1 spans keys 8-14)


@pytest.fixture
def filtered_mini(tmp_path: Path, lfw_mini: Path) -> Path:
    folder = tmp_path / "filtered"
    folder.mkdir()
    for name in ("train.rec", "property"):
        shutil.copyfile(lfw_mini.parent / name, folder / name)
    lines = lfw_mini.with_suffix(".idx").read_text().splitlines(keepends=True)
    kept = [line for line in lines if int(line.split("\t")[0]) not in DROPPED]
    (folder / "train.idx").write_text("".join(kept))
    return folder / "train.rec"


def test_a_filtered_index_gives_the_listed_records_masked_as_in_the_full_run(
    tmp_path: Path, filtered_mini: Path, mini_reference: Path, spec, run_augment, caplog
) -> None:
    out = tmp_path / "twin"
    with caplog.at_level(logging.WARNING, logger="maskgen"):
        report = run_augment(filtered_mini, out, spec, workers=2, chunk_size=50)
    source = RecordIOReader(filtered_mini)
    twin = RecordIOReader(out / "train.rec")
    reference = RecordIOReader(mini_reference / "train.rec")
    assert list(twin.keys()) == list(source.keys())
    assert report.counts.images == 284 and report.counts.items == 325
    for key in list(twin.keys()):  # header, identity records and masked images alike
        assert twin.read_raw(key) == reference.read_raw(key)
    assert twin.unlisted_keys().tolist() == list(DROPPED)
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 1
    assert said[0].startswith(
        f"{filtered_mini.with_suffix('.idx')}: leaves out 10 of the 294 image records and 0 "
        "of the 40 identity records"
    )


def _filtered_copy(lfw_mini: Path, folder: Path, drop) -> Path:
    folder.mkdir()
    for name in ("train.rec", "property"):
        shutil.copyfile(lfw_mini.parent / name, folder / name)
    lines = lfw_mini.with_suffix(".idx").read_text().splitlines(keepends=True)
    (folder / "train.idx").write_text("".join(x for x in lines if not drop(int(x.split("\t")[0]))))
    return folder / "train.rec"


def test_a_filter_that_dropped_the_identity_records_says_to_keep_them(
    tmp_path: Path, lfw_mini: Path
) -> None:
    """A hand filter that kept some images and dropped the identity records' lines (the last
    records of the .rec) was called truncated, with rebuilding the index (losing the filter)
    as the only fix; it now names the lines a filtered .idx keeps."""
    rec = _filtered_copy(lfw_mini, tmp_path / "f", lambda key: key >= 295 or key % 3 == 1)
    with pytest.raises(DatasetFormatError) as caught:
        RecordIOReader(rec)
    message = str(caught.value)
    assert message.endswith(
        "`maskgen index "
        f"{rec} --overwrite` (an .idx filtered by hand keeps the lines of the identity "
        "records, keys 295..334, at the end of the .rec: put those back instead)"
    )


def test_a_truncated_flat_index_is_told_to_rebuild_only(tmp_path: Path, lfw_mini: Path) -> None:
    """A flat file has no identity records to keep: its message is as it was."""
    flat = lfw_mini.parent.parent / "lfw-mini-flat" / "train.rec"
    folder = tmp_path / "t"
    folder.mkdir()
    shutil.copyfile(flat, folder / "train.rec")
    lines = flat.with_suffix(".idx").read_text().splitlines(keepends=True)
    (folder / "train.idx").write_text("".join(lines[:100]))
    with pytest.raises(DatasetFormatError) as caught:
        RecordIOReader(folder / "train.rec")
    assert str(caught.value).endswith(
        f"(truncated, or another file's); rebuild it with `maskgen index {folder / 'train.rec'} "
        "--overwrite`"
    )
