"""Masked JPEGs are written with their source's quantisation tables and subsampling, so a twin
image's compression says nothing about its mask label."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from maskgen.formats.recordio import RecordIOReader
from maskgen.pipeline.jpeg_match import (
    encode_like_source,
    estimate_jpeg_quality,
    ijg_table,
    read_source_jpeg,
)
from maskgen.pipeline.step import MaskerConfig, load_masker, mask_sample


def _jpeg(bgr: np.ndarray, quality: int, sampling: int) -> bytes:
    ok, buffer = cv2.imencode(
        ".jpg",
        bgr,
        [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, sampling],
    )
    assert ok
    return buffer.tobytes()


def _scene() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur((rng.random((112, 112, 3)) * 255).astype(np.uint8), (0, 0), 2)
    cv2.circle(image, (56, 56), 30, (150, 180, 220), -1)
    return image


def test_ijg_tables_are_libjpegs_and_their_quality_is_read_back() -> None:
    # Table K.1 at quality 50 is the standard table itself; at 100 every entry is 1
    assert ijg_table(50)[:8].tolist() == [16, 11, 10, 16, 24, 40, 51, 61]
    assert set(ijg_table(100).tolist()) == {1}
    for quality in (10, 30, 50, 75, 90, 95):
        data = _jpeg(_scene(), quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420)
        source = read_source_jpeg(data)
        assert source is not None and source.quality.quality == quality and source.quality.exact
        assert source.tables[0] == ijg_table(quality).tolist()  # what libjpeg wrote
        assert source.tables[1] == ijg_table(quality, chrominance=True).tolist()
    odd = (ijg_table(80) + np.arange(64) % 3).tolist()  # another encoder's tables
    assert (
        estimate_jpeg_quality(odd).quality in (78, 79, 80) and not estimate_jpeg_quality(odd).exact
    )
    with pytest.raises(ValueError, match="64 entries"):
        estimate_jpeg_quality([1, 2, 3])


@pytest.mark.parametrize(
    ("quality", "sampling", "pillow"),
    [(40, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444, 0), (85, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420, 2)],
)
def test_encode_like_source_keeps_tables_and_subsampling(quality, sampling, pillow) -> None:
    data = _jpeg(_scene(), quality, sampling)
    source = read_source_jpeg(data)
    assert source is not None and source.subsampling == pillow
    rgb = cv2.cvtColor(_scene(), cv2.COLOR_BGR2RGB)
    rgb[60:100] = (90, 140, 200)  # "masked"
    out = encode_like_source(rgb, source)
    assert out is not None
    again = read_source_jpeg(out)
    assert again is not None and (again.tables, again.subsampling) == (source.tables, pillow)
    decoded = np.asarray(Image.open(io.BytesIO(out)).convert("RGB"))
    assert np.abs(decoded.astype(int) - rgb).mean() < 6
    assert encode_like_source(rgb[:, :, 0], source) is None  # grey pixels for an RGB source
    assert encode_like_source(rgb.astype(np.uint16), source) is None


def test_a_progressive_sources_twin_is_progressive_and_a_baseline_ones_baseline() -> None:
    """A progressive JPEG's twin was written baseline: same tables, another file structure."""
    rgb = cv2.cvtColor(_scene(), cv2.COLOR_BGR2RGB)
    for progressive in (True, False):
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, "JPEG", quality=80, progressive=progressive)
        source = read_source_jpeg(buffer.getvalue())
        assert source is not None and source.progressive is progressive
        out = encode_like_source(rgb, source)
        assert out is not None
        again = read_source_jpeg(out)
        assert again is not None and again.progressive is progressive
        assert again.tables == source.tables


def test_non_jpeg_or_broken_bytes_have_no_source_tables() -> None:
    ok, png = cv2.imencode(".png", _scene())
    assert ok and read_source_jpeg(png.tobytes()) is None
    assert read_source_jpeg(b"\xff\xd8\xff garbage") is None
    grey = _jpeg(
        cv2.cvtColor(_scene(), cv2.COLOR_BGR2GRAY), 60, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420
    )
    source = read_source_jpeg(grey)
    assert source is not None and source.mode == "L" and source.subsampling is None
    assert read_source_jpeg(encode_like_source(np.full((16, 16), 128, np.uint8), source)) == source


@pytest.mark.shared
def test_a_masked_record_keeps_its_sources_compression(lfw_mini: Path, spec) -> None:
    """lfw-mini's face re-saved at quality 60, 4:4:4 (not the --jpeg-quality 95 default): the
    masked twin record has the very same quantisation tables and subsampling."""
    sample = RecordIOReader(lfw_mini).read(1)
    bgr = cv2.imdecode(np.frombuffer(sample.data, np.uint8), cv2.IMREAD_COLOR)
    source = dataclasses.replace(sample, data=_jpeg(bgr, 60, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444))
    twin, result = mask_sample(
        source, load_masker(MaskerConfig(spec, "aligned")), seed=0, jpeg_quality=95
    )
    assert result is not None and result.masked
    original, masked = read_source_jpeg(source.data), read_source_jpeg(twin.data)
    assert original is not None and masked is not None
    assert (masked.tables, masked.subsampling) == (original.tables, 0)
    assert masked.quality.quality == 60 and twin.data != source.data
