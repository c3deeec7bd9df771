"""The crease relief of soft masks (maskgen.masks.creases)."""

from __future__ import annotations

import numpy as np
import pytest

from maskgen.masks.creases import CREASE_STRENGTH, CREASE_WIDTH, crease_relief, creases_for


def test_the_relief_is_a_brightness_factor_around_one_set_by_the_seed():
    strongest = crease_relief((1023 << 20) | 777, 80, 90, jaw=75.0)
    assert strongest.shape == (80, 90) and strongest.dtype == np.float32
    assert abs(float(strongest.mean()) - 1.0) < 0.05
    assert 0.3 * CREASE_STRENGTH < float(strongest.std()) < 1.5 * CREASE_STRENGTH
    np.testing.assert_array_equal(strongest, crease_relief((1023 << 20) | 777, 80, 90, 75.0))
    assert not np.array_equal(strongest, crease_relief((1023 << 20) | 778, 80, 90, 75.0))
    np.testing.assert_array_equal(crease_relief(777, 80, 90, 75.0), np.ones((80, 90)))


def test_folds_scale_with_the_face_and_run_across_it():
    """A fold is CREASE_WIDTH of the jaw high at any photo size, and longer than high."""

    def fold_size(relief: np.ndarray, axis: int) -> float:
        centred = relief - relief.mean()
        lag1 = (centred * np.roll(centred, 1, axis=axis)).mean() / (centred**2).mean()
        return 1.0 / max(1.0 - lag1, 1e-6)  # larger where neighbours along axis agree more

    seed = (1023 << 20) | 4321
    small = crease_relief(seed, 90, 100, jaw=75.0)
    large = crease_relief(seed, 360, 400, jaw=300.0)
    ratio = fold_size(large, 0) / fold_size(small, 0)
    assert 8.0 < ratio < 24.0  # 4 times the size: neighbour correlation length ~ squared
    assert fold_size(small, 1) > fold_size(small, 0)
    assert CREASE_WIDTH * 75.0 > 2.0  # a fold on a 112x112 crop spans a few pixels


def test_only_the_surgical_family_creases():
    assert creases_for("surgical")
    assert not any(creases_for(f) for f in ("kn95", "n95", "cloth"))


@pytest.mark.parametrize("size", [(0, 10, 50.0), (10, 10, 0.0), (10, -1, 50.0)])
def test_bad_sizes_are_refused(size):
    with pytest.raises(ValueError, match="positive"):
        crease_relief(1, *size)
