"""The per-item step on real images with the real masking engine."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.formats.recordio import RecordIOReader
from maskgen.images import decode_rgb, sniff_image_format
from maskgen.pipeline.plan import input_stamp
from maskgen.pipeline.step import (
    ChunkJob,
    MaskerConfig,
    load_masker,
    mask_chunk,
    mask_sample,
    mask_samples,
)
from maskgen.types import Sample

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def mini_reader(lfw_mini: Path) -> RecordIOReader:
    return RecordIOReader(lfw_mini)


@pytest.fixture(scope="module")
def aligned_masker(spec):
    return load_masker(MaskerConfig(spec, "aligned"))


def _encode(rgb: np.ndarray, ext: str) -> bytes:
    ok, buffer = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buffer.tobytes()


def test_sniff_image_format_reads_the_bytes_not_a_name(mini_reader: RecordIOReader) -> None:
    rgb = decode_rgb(mini_reader.read(1).data)
    assert rgb is not None and rgb.shape == (112, 112, 3)
    assert sniff_image_format(mini_reader.read(1).data) == "jpeg"
    for ext, name in ((".png", "png"), (".bmp", "bmp"), (".webp", "webp")):
        assert sniff_image_format(_encode(rgb, ext)) == name
    assert sniff_image_format(b"RIFF\0\0\0\0AVI LIST") is None
    assert sniff_image_format(b"not an image") is None
    assert decode_rgb(b"not an image") is None
    assert decode_rgb(b"") is None


def test_masked_record_is_reencoded_and_labelled(mini_reader: RecordIOReader, aligned_masker):
    sample = mini_reader.read(1)
    twin, result = mask_sample(sample, aligned_masker, seed=0, jpeg_quality=95)
    assert result is not None and result.masked and result.reason is None
    assert result.key == 1 and result.faces == 1 and result.mask_type
    assert sniff_image_format(twin.data) == "jpeg" and twin.data != sample.data
    masked_rgb = decode_rgb(twin.data)
    assert masked_rgb is not None and masked_rgb.shape == (112, 112, 3)
    assert twin.label.dtype == np.float32
    assert twin.label.tolist() == [sample.label[0], 1.0]
    assert twin.extra == sample.extra and twin.key == sample.key
    again, _ = mask_sample(sample, aligned_masker, seed=0, jpeg_quality=95)
    assert again.data == twin.data  # the draw depends only on (seed, key)


def test_png_stays_png(mini_reader: RecordIOReader, aligned_masker) -> None:
    rgb = decode_rgb(mini_reader.read(2).data)
    sample = Sample(key="face.png", data=_encode(rgb, ".png"))
    twin, result = mask_sample(sample, aligned_masker, seed=3, jpeg_quality=95)
    assert result.masked
    assert sniff_image_format(twin.data) == "png" and twin.label is None
    assert not np.array_equal(decode_rgb(twin.data), rgb)


def test_undecodable_record_is_copied_and_flagged(mini_reader: RecordIOReader, aligned_masker):
    record = mini_reader.read(5)
    garbage = Sample(key=5, data=b"\x00garbage", label=record.label, extra=record.extra)
    twin, result = mask_sample(garbage, aligned_masker, seed=0, jpeg_quality=95)
    assert twin.data == garbage.data
    assert twin.label.tolist() == [record.label[0], 0.0]
    assert result.masked is False and result.reason == "unreadable" and result.faces == 0


def test_non_image_record_passes_through_untouched(mini_reader: RecordIOReader, aligned_masker):
    header = mini_reader.read(0)
    assert not header.is_image
    twin, result = mask_sample(header, aligned_masker, seed=0, jpeg_quality=95)
    assert twin is header and result is None


def test_a_batch_of_samples_equals_each_sample_alone(mini_reader: RecordIOReader, aligned_masker):
    """mask_samples (one batched landmark fit for all the images) gives each sample the twin
    and row mask_sample gives it alone, whatever else is in the batch: header and undecodable
    records in between, the same image twice under two keys."""
    garbage = Sample(key="garbage", data=b"\x00garbage")
    twice = dataclasses.replace(mini_reader.read(7), key="7 again")
    samples = [mini_reader.read(0), *(mini_reader.read(k) for k in range(1, 9)), garbage, twice]
    together = mask_samples(samples, aligned_masker, seed=4, jpeg_quality=95)
    alone = [mask_sample(s, aligned_masker, seed=4, jpeg_quality=95) for s in samples]
    assert [twin.data for twin, _ in together] == [twin.data for twin, _ in alone]
    assert [row for _, row in together] == [row for _, row in alone]
    assert together[0][1] is None and together[9][1].reason == "unreadable"
    assert together[7][0].data != together[10][0].data  # same face, its own draw per key


def test_photo_without_a_face_keeps_its_bytes(photo_folder: Path, spec) -> None:
    masker = load_masker(MaskerConfig(spec, "auto"))
    data = (photo_folder / "odd" / "no_face.jpg").read_bytes()
    twin, result = mask_sample(Sample("odd/no_face.jpg", data), masker, seed=0, jpeg_quality=95)
    assert twin.data == data
    assert result.masked is False and result.reason == "no_face"


def test_chunk_with_its_own_reader_equals_one_opening_the_input(
    tmp_path: Path, lfw_mini: Path, mini_reader: RecordIOReader, spec
) -> None:
    """The job's subset reader (what workers get) and the worker opening the whole input write
    the same parts, header record included."""
    keys = range(0, 12)
    outputs = []
    for name, reader in (("own", mini_reader.subset(keys)), ("opened", None)):
        job = ChunkJob(
            index=0,
            keys=keys,
            input_path=str(lfw_mini),
            format_name="recordio",
            input_stamp=input_stamp(lfw_mini),
            data_part=tmp_path / name / "chunk.part",
            manifest_part=tmp_path / name / "chunk.jsonl",
            masker=MaskerConfig(spec, "aligned"),
            seed=0,
            jpeg_quality=95,
            reader=reader,
        )
        summary = mask_chunk(job)
        assert summary.counts.items == 12 and summary.counts.masked >= 10
        outputs.append(sorted((p.name, p.read_bytes()) for p in (tmp_path / name).iterdir()))
    assert [name for name, _ in outputs[0]] == ["chunk.jsonl", "chunk.part", "chunk.part.idx"]
    assert outputs[0] == outputs[1]


def test_check_masker_fails_early_without_loading_models(tmp_path):
    from maskgen.errors import ConfigError, ModelNotFoundError
    from maskgen.masks import MaskSpec
    from maskgen.pipeline.step import check_masker

    check_masker(MaskerConfig(MaskSpec(), "aligned"))
    with pytest.raises(ModelNotFoundError):
        check_masker(MaskerConfig(MaskSpec(), "aligned", models_dir=str(tmp_path)))
    with pytest.raises(ConfigError, match="unknown mask type"):
        check_masker(MaskerConfig(MaskSpec(mask_types=("visor",)), "aligned"))
    with pytest.raises(ConfigError, match="face_mode"):
        check_masker(MaskerConfig(MaskSpec(), "sideways"))
