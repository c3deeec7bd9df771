"""maskgen.photo.mask_file (``maskgen mask``): the output's format comes from its suffix, and
the photo's alpha, grey and depth are kept where that format holds them, or the change said."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from maskgen.cli.main import cli
from maskgen.images import read_stored
from maskgen.photo import mask_file

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def masker():
    from maskgen.masks import Masker, MaskSpec

    return Masker(MaskSpec(), face_mode="auto")


@pytest.fixture
def deep_png(tmp_path: Path, lfw_dir: Path) -> Path:
    """A real LFW photo as a 16-bit RGBA PNG with transparent corners."""
    bgr = cv2.imread(str(lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg")).astype(np.uint16) * 257
    alpha = np.full(bgr.shape[:2], 65535, np.uint16)
    alpha[:40, :40] = 0
    path = tmp_path / "gore.png"
    assert cv2.imwrite(str(path), np.dstack([bgr, alpha]))
    return path


def test_same_format_keeps_alpha_and_16_bits(deep_png: Path, tmp_path: Path, masker) -> None:
    result = mask_file(deep_png, tmp_path / "masked.png", masker=masker, seed=2)
    assert result.masked and result.format_change is None and len(result.face_masks) == 1
    before = read_stored(deep_png.read_bytes())
    after = read_stored((tmp_path / "masked.png").read_bytes())
    assert after.layout == before.layout == "rgb+alpha 16-bit"
    assert np.array_equal(after.pixels[:, :, 3], before.pixels[:, :, 3])


def test_another_format_says_what_it_could_not_keep(deep_png: Path, tmp_path: Path) -> None:
    out = tmp_path / "masked.jpg"
    result = CliRunner().invoke(cli, ["mask", str(deep_png), "-o", str(out), "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert "1 face masked" in result.output
    assert f"{out}: written as rgb+alpha 16-bit -> rgb 8-bit" in result.output
    assert read_stored(out.read_bytes()).layout == "rgb 8-bit"


def test_a_palette_photo_says_it_is_written_as_rgb(tmp_path: Path, lfw_dir: Path, masker) -> None:
    """A palette PNG's twin (as PNG or JPEG) is RGB; it was written so without a word."""
    from PIL import Image

    source = tmp_path / "gore.png"
    Image.open(lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg").convert("P").save(source)
    for name in ("m.png", "m.jpg"):
        result = mask_file(source, tmp_path / name, masker=masker, seed=2)
        assert result.masked and result.format_change == "palette -> rgb 8-bit", name
        assert read_stored((tmp_path / name).read_bytes()).layout == "rgb 8-bit"


def test_tiff_and_gif_outputs(deep_png: Path, tmp_path: Path, masker) -> None:
    for name, layout in (("m.tif", "rgb+alpha 16-bit"), ("m.gif", "rgb+alpha 8-bit")):
        result = mask_file(deep_png, tmp_path / name, masker=masker, seed=2)
        written = read_stored((tmp_path / name).read_bytes())
        assert written.format == ("tiff" if name.endswith("tif") else "gif")
        assert written.layout == layout
        expected = None if name.endswith("tif") else "rgb+alpha 16-bit -> rgb+alpha 8-bit"
        assert result.format_change == expected


def _damaged_jpeg(data: bytes) -> bytes:
    """A JPEG with a stray restart marker half-way through its scan: libjpeg decodes it,
    printing "Corrupt JPEG data: premature end of data segment" on stderr."""
    middle = len(data) // 2
    return data[:middle] + b"\xff\xd0" + data[middle + 2 :]


def _warnings_of_one_decode(data: bytes, capfd) -> str:
    capfd.readouterr()
    cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return capfd.readouterr().err


@pytest.mark.parametrize("source", ["face", "no_face"])
@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_a_damaged_jpeg_warns_once(
    lfw_dir: Path, tmp_path: Path, masker, capfd, source: str, suffix: str
) -> None:
    """`maskgen mask` printed libjpeg's warning twice (three times for a photo without a face
    written as another format): the photo was decoded to check it, again to mask it, and
    again to convert it. It is decoded once; libjpeg's own line is kept, as it tells the user
    the file is damaged."""
    if source == "face":
        data = (lfw_dir / "Sandy_Smith" / "Sandy_Smith_0001.jpg").read_bytes()
    else:  # a smooth ramp: no face in it
        ramp = np.tile(np.linspace(0, 255, 200, dtype=np.uint8), (160, 1))
        data = cv2.imencode(".jpg", cv2.merge([ramp, ramp[::-1], ramp]))[1].tobytes()
    damaged = _damaged_jpeg(data)
    path = tmp_path / "damaged.jpg"
    path.write_bytes(damaged)
    once = _warnings_of_one_decode(damaged, capfd)
    assert "Corrupt JPEG data" in once
    result = mask_file(path, tmp_path / f"out{suffix}", masker=masker, seed=0)
    assert result.masked is (source == "face")
    assert capfd.readouterr().err == once
