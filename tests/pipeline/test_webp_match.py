"""A lossy WebP's twin is lossy again, at about its source's quality: it came out lossless and
several times larger, every twin free of the compression its original shows."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from maskgen.images import read_stored
from maskgen.pipeline import augment_dataset
from maskgen.pipeline.webp_match import image_bytes, is_lossy_webp, matched_webp_quality


def _webp(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", **options)
    return buffer.getvalue()


@pytest.fixture
def face(lfw_dir: Path) -> Image.Image:
    return Image.open(lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg").convert("RGB")


@pytest.mark.shared
def test_lossy_and_lossless_webps_are_told_apart(face: Image.Image) -> None:
    with_alpha = face.convert("RGBA")  # extended format: VP8X, ALPH, then VP8 or VP8L
    assert is_lossy_webp(_webp(face, quality=80))
    assert is_lossy_webp(_webp(with_alpha, quality=80))
    assert not is_lossy_webp(_webp(face, lossless=True))
    assert not is_lossy_webp(_webp(with_alpha, lossless=True))
    png = io.BytesIO()
    face.save(png, "PNG")
    assert not is_lossy_webp(png.getvalue()) and not is_lossy_webp(b"RIFF")


@pytest.mark.shared
def test_the_matched_quality_follows_the_quality_the_source_was_saved_at(
    face: Image.Image,
) -> None:
    """Re-encoded pixels that went through the encoder once compress a little better, so the
    match reads a few points high; it must still order and place the qualities."""
    matched = []
    for quality in (30, 60, 80, 95):
        data = _webp(face, quality=quality)
        stored = read_stored(data)
        assert stored is not None
        matched.append(matched_webp_quality(stored.pixels, len(data)))
        assert quality - 5 <= matched[-1] <= quality + 15, (quality, matched[-1])
    assert matched == sorted(matched)
    # a phone's file carries metadata beside the image: read by the image's bytes alone
    data = _webp(face, quality=60, exif=b"Exif\x00\x00" + bytes(20000))
    stored = read_stored(data)
    assert stored is not None and image_bytes(data) < len(data) - 20000
    assert 55 <= matched_webp_quality(stored.pixels, image_bytes(data)) <= 75


@pytest.mark.shared
def test_a_lossy_webps_twin_is_lossy_and_a_lossless_ones_lossless(
    face: Image.Image, tmp_path: Path
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "lossy.webp").write_bytes(_webp(face, quality=60))
    (source / "lossless.webp").write_bytes(_webp(face, lossless=True))
    out = tmp_path / "out"
    augment_dataset(source, out, workers=1, progress=False)
    rows = {
        r["key"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().split("\n")[:-1])
    }
    assert all(row["masked"] and row["format_change"] is None for row in rows.values())
    lossy, lossless = (out / "lossy.webp").read_bytes(), (out / "lossless.webp").read_bytes()
    assert is_lossy_webp(lossy) and not is_lossy_webp(lossless)
    # the mask adds a little detail; a lossless twin of the lossy source was ~9 times larger
    assert 0.7 < len(lossy) / (source / "lossy.webp").stat().st_size < 1.5
