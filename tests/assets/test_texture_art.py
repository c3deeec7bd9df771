"""Drawing the built-in fabric textures: the shipped textures/ is exactly what the code draws."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.assets import differing_files
from maskgen.assets import texture_art as art
from maskgen.masks.textures import default_textures_dir


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """Every built-in drawn afresh from seed 0 into an empty folder."""
    out = tmp_path_factory.mktemp("textures")
    return out, art.generate_textures(out, seed=0)


def test_regeneration_is_byte_identical_to_the_shipped_set(
    regenerated: tuple[Path, list[Path]],
) -> None:
    out, paths = regenerated
    shipped = default_textures_dir()
    assert paths[-1] == out / "index.json"
    assert sorted(p.name for p in paths) == sorted(p.name for p in shipped.iterdir())
    for path in paths:
        if path.suffix == ".png":  # pixels first, for a clearer failure than a byte diff
            new_px = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            old_px = cv2.imread(str(shipped / path.name), cv2.IMREAD_UNCHANGED)
            assert np.array_equal(new_px, old_px), f"{path.name}: pixels changed"
    assert differing_files(shipped, out) == []


def test_seed_changes_the_random_parts() -> None:
    named = dict(art._named(art._catalogue()))
    for name in ("camo_01", "floral_02", "denim_01"):
        first = art._render(name, named[name], seed=0)
        assert np.array_equal(first, art._render(name, named[name], seed=0))
        assert not np.array_equal(first, art._render(name, named[name], seed=1))
