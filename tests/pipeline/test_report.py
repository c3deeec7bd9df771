"""The run summary's counts read as English: one of a thing is singular, others plural."""

from __future__ import annotations

from pathlib import Path

from maskgen.pipeline.report import Counts, RunReport


def _report(counts: Counts, **fields) -> RunReport:
    return RunReport(Path("in"), Path("out"), "folder", counts, **fields)


def test_a_count_of_one_is_singular():
    """A run of one image said "1 images", one face left unmasked "1 faces"."""
    counts = Counts(
        items=4,
        images=1,
        masked=1,
        skipped={"not_an_image": 1},
        faces_not_masked={"occluded": 1},
    )
    text = _report(counts, output=Path("out"), merged_shards=1).summary()
    assert text.startswith("merged 1 shard; 1 image: 1 masked, 0 not masked, ")
    assert "1 face left unmasked (occluded 1)" in text
    assert "1 other file, not images (not_an_image 1)" in text
    assert "2 other records copied" in text
    assert " 1 images" not in text and " 1 faces" not in text and " 1 shards" not in text


def test_counts_above_one_are_plural():
    counts = Counts(
        items=6,
        images=3,
        masked=2,
        reasons={"no_face": 1},
        skipped={"not_an_image": 2},
        faces_not_masked={"occluded": 2},
    )
    text = _report(counts, shard=(0, 2)).summary()
    assert "3 images: 2 masked, 1 not masked (no_face 1)" in text
    assert "2 faces left unmasked" in text and "2 other files, not images" in text
    assert "1 other record copied" in text
    assert text.endswith("once all 2 shards are done")


def test_a_single_shard_run_is_not_told_to_wait_for_all_1_shards():
    text = _report(Counts(items=1, images=1, masked=1), shard=(0, 1)).summary()
    assert "all 1 shards" not in text and text.endswith("to finish the twin")


def test_a_shard_with_no_chunk_says_why_it_has_no_images():
    """``--shard 0/7`` of a 1,200-image .bin in chunks of 600 printed "0 images: 0 masked"
    and nothing more: two chunks cannot fill seven shards."""
    empty = _report(Counts(), shard=(0, 7)).summary()
    assert empty.startswith("shard 0/7; no chunk of the input falls to this shard")
    assert "no chunk" not in _report(Counts(items=1, images=1, masked=1), shard=(3, 7)).summary()


def test_a_slow_run_reads_seconds_per_image_not_zero_images_per_second():
    """One slow image (a 4,000-pixel photo on a first run) read "0.0 images/s"."""
    counts = Counts(items=1, images=1, masked=1)
    assert "4.0 s/image" in _report(counts, processed=1, seconds=4.0).summary()
    assert "2.5 images/s" in _report(counts, processed=5, seconds=2.0).summary()
    assert "25.0 s/image" in _report(counts, processed=2, seconds=50.0).summary()
    assert "images/s" not in _report(counts, processed=2, seconds=50.0).summary()
