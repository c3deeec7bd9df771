"""A lossy JPEG 2000's twin is lossy again, at its source's ratio: it came out lossless, free
of the wavelet blur and ringing its original shows, and several times larger."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from maskgen.images import read_stored
from maskgen.pipeline import augment_dataset
from maskgen.pipeline.jpeg2000_match import (
    encode_like_source_jpeg2000,
    is_lossy_jpeg2000,
    read_jpeg2000_coding,
)


def _jpeg2000(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG2000", **options)
    return buffer.getvalue()


def _decoded(data: bytes) -> np.ndarray:
    stored = read_stored(data)
    assert stored is not None
    return stored.pixels


@pytest.fixture
def face(lfw_dir: Path) -> Image.Image:
    return Image.open(lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg").convert("RGB")


@pytest.mark.shared
def test_the_main_header_is_read_from_a_jp2_file_and_a_bare_codestream(
    face: Image.Image,
) -> None:
    jp2 = _jpeg2000(face, quality_mode="rates", quality_layers=[20], irreversible=True)
    coding = read_jpeg2000_coding(jp2)
    assert coding is not None and coding.container == "jp2" and coding.irreversible
    assert 19 < coding.ratio < 21.5  # 250 x 250 x 3 bytes over the codestream's
    bare = _jpeg2000(
        face, no_jp2=True, mct=1, progression="RPCL", num_resolutions=4, codeblock_size=(32, 32)
    )
    coding = read_jpeg2000_coding(bare)
    assert coding is not None and coding.container == "j2k" and not coding.irreversible
    assert coding.multiple_component_transform and coding.progression == "RPCL"
    assert coding.levels == 3 and coding.codeblock_size == (32, 32)
    ok, png = cv2.imencode(".png", np.asarray(face))
    assert ok and read_jpeg2000_coding(png.tobytes()) is None
    assert read_jpeg2000_coding(jp2[:40]) is None  # cut off before its codestream


@pytest.mark.shared
def test_lossy_and_lossless_codestreams_are_told_apart(face: Image.Image) -> None:
    """The 9-7 wavelet is lossy; a 5-3 codestream is lossy only when cut short, as OpenCV's
    writer does below IMWRITE_JPEG2000_COMPRESSION_X1000 = 1000."""
    cases = {
        "9-7 at ratio 20": (
            _jpeg2000(face, quality_mode="rates", quality_layers=[20], irreversible=True),
            True,
        ),
        "5-3 at ratio 20": (_jpeg2000(face, quality_mode="rates", quality_layers=[20]), True),
        "5-3 lossless": (_jpeg2000(face), False),
        "5-3 lossless, mct": (_jpeg2000(face, mct=1), False),
    }
    bgr = np.asarray(face)[:, :, ::-1]
    for rate, lossy in ((50, True), (1000, False)):
        ok, data = cv2.imencode(".jp2", bgr, [cv2.IMWRITE_JPEG2000_COMPRESSION_X1000, rate])
        assert ok
        cases[f"OpenCV at {rate}"] = (data.tobytes(), lossy)
    for name, (data, lossy) in cases.items():
        coding = read_jpeg2000_coding(data)
        assert coding is not None, name
        assert is_lossy_jpeg2000(coding, _decoded(data)) == lossy, name


@pytest.mark.shared
def test_a_twin_is_coded_as_its_source_at_its_ratio(face: Image.Image) -> None:
    source = _jpeg2000(
        face, quality_mode="rates", quality_layers=[30], irreversible=True, mct=1, no_jp2=True
    )
    original = _decoded(source)
    masked = original.copy()
    masked[150:220, 70:180] = (120, 170, 220)  # a light-blue patch where a mask would be
    twin = encode_like_source_jpeg2000(masked, original, source)
    assert twin is not None
    source_coding, twin_coding = read_jpeg2000_coding(source), read_jpeg2000_coding(twin)
    assert twin_coding is not None and source_coding is not None
    assert twin_coding.container == "j2k" and twin_coding.irreversible
    assert twin_coding.multiple_component_transform
    assert abs(twin_coding.ratio / source_coding.ratio - 1) < 0.05
    # lossy at that ratio: the upper face, left alone by the mask, is not given back exactly
    upper = slice(0, 140)
    error = np.abs(_decoded(twin)[upper].astype(int) - masked[upper].astype(int)).mean()
    assert 0 < error < 8  # decoded pixels re-coded at their own ratio change little
    lossless = _jpeg2000(face)
    assert encode_like_source_jpeg2000(masked, _decoded(lossless), lossless) is None
    assert encode_like_source_jpeg2000(masked.astype(np.uint16), original, source) is None


@pytest.mark.shared
def test_a_lossy_jpeg2000s_twin_is_lossy_and_a_lossless_ones_lossless(
    face: Image.Image, tmp_path: Path
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "lossy.jp2").write_bytes(
        _jpeg2000(face, quality_mode="rates", quality_layers=[20], irreversible=True)
    )
    (source / "lossless.jp2").write_bytes(_jpeg2000(face))
    out = tmp_path / "out"
    augment_dataset(source, out, workers=1, progress=False)
    rows = {
        r["key"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().split("\n")[:-1])
    }
    assert all(row["masked"] and row["format_change"] is None for row in rows.values())
    sizes = {
        name: (out / name).stat().st_size / (source / name).stat().st_size
        for name in ("lossy.jp2", "lossless.jp2")
    }
    # a lossless twin of the lossy source was about seven times larger
    assert 0.9 < sizes["lossy.jp2"] < 1.1, sizes
    lossy = read_jpeg2000_coding((out / "lossy.jp2").read_bytes())
    lossless = read_jpeg2000_coding((out / "lossless.jp2").read_bytes())
    assert lossy is not None and lossy.irreversible
    assert lossless is not None and not lossless.irreversible
    assert is_lossy_jpeg2000(lossy, _decoded((out / "lossy.jp2").read_bytes()))
    assert not is_lossy_jpeg2000(lossless, _decoded((out / "lossless.jp2").read_bytes()))


@pytest.mark.shared
def test_subsampled_components_and_palettes_are_read_as_stored(face: Image.Image) -> None:
    """A 4:2:0 codestream holds a quarter of the samples in each chroma component: its raw
    size, and so its ratio, is half a 4:4:4 one's. A palette image (``pclr``) decodes one
    index component to RGB: its ratio says nothing of the twin's, which is left as before."""
    bare = bytearray(_jpeg2000(face, no_jp2=True, quality_mode="rates", quality_layers=[20]))
    full = read_jpeg2000_coding(bytes(bare))
    siz = bare.index(b"\xff\x51") + 4  # the SIZ segment after its marker and length
    for component in (1, 2):  # XRsiz, YRsiz of the two chroma components
        bare[siz + 37 + 3 * component : siz + 39 + 3 * component] = b"\x02\x02"
    subsampled = read_jpeg2000_coding(bytes(bare))
    assert full is not None and subsampled is not None
    assert subsampled.ratio == pytest.approx(full.ratio * (1 + 0.25 + 0.25) / 3)
    jp2 = _jpeg2000(face, quality_mode="rates", quality_layers=[20], irreversible=True)
    palette_box = (12).to_bytes(4, "big") + b"pclr" + bytes(4)
    assert read_jpeg2000_coding(jp2[:12] + palette_box + jp2[12:]) is None
