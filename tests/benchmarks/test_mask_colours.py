"""benchmarks/mask_colours.py: the palette's colours, rendered on real LFW faces and measured as
the real masks are measured, come out as the real masks' colours (issue 8, item 6)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from maskgen.masks.policy import PALETTE
from tests.benchmarks.conftest import load_benchmark


@pytest.fixture(scope="module")
def mask_colours() -> ModuleType:
    return load_benchmark("mask_colours")


@pytest.mark.parametrize("name", ["white", "light_blue", "pink"])
def test_drawn_palette_colour_measures_as_the_real_median(
    mask_colours: ModuleType, shared_data: Path, lfw_dir: Path, name: str
) -> None:
    """A white drawn as the real masks' median measured 9-12 % darker and warmer once the light
    model and photo match had shaded it (half such whites read as grey or beige); the palette
    colour is now the one whose renders measure as the real median. Within 4 % per channel
    on 40 renders (the calibration used 400), each channel against the real masks' median."""
    if not (shared_data / "real-masks").is_dir():
        pytest.skip("needs ../shared/data/real-masks")
    real, _ = mask_colours.real_colours(shared_data)
    members = [c for c in real if mask_colours.colour_class(c) == name]
    assert len(members) >= 10
    target = np.median(members, axis=0)
    colour = dict((n, c) for n, c, _ in PALETTE)[name]
    crops = mask_colours.lfw_crops(lfw_dir, faces=20)
    drawn = mask_colours.drawn_colours(crops, renders=40, colour=colour)
    measured = np.median(drawn, axis=0)
    assert np.abs(measured / target - 1).max() < 0.04, (name, measured, target)
