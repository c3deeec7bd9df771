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


def test_tiff_and_gif_outputs(deep_png: Path, tmp_path: Path, masker) -> None:
    for name, layout in (("m.tif", "rgb+alpha 16-bit"), ("m.gif", "rgb+alpha 8-bit")):
        result = mask_file(deep_png, tmp_path / name, masker=masker, seed=2)
        written = read_stored((tmp_path / name).read_bytes())
        assert written.format == ("tiff" if name.endswith("tif") else "gif")
        assert written.layout == layout
        expected = None if name.endswith("tif") else "rgb+alpha 16-bit -> rgb+alpha 8-bit"
        assert result.format_change == expected
