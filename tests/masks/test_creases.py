"""The crease relief of soft masks (maskgen.masks.creases)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maskgen.masks.creases import (
    CREASE_STRENGTH,
    STRENGTH_BITS,
    FoldStyle,
    crease_relief,
    creases_for,
    flat_seed,
)

CREASED = STRENGTH_BITS | 777
"""A seed with the strongest creases."""


def correlation_length(relief: np.ndarray, axis: int) -> float:
    """How far (pixels, about) neighbours along ``axis`` stay alike: 1 / (1 - lag-1
    autocorrelation), larger for longer or wider folds."""
    centred = relief - relief.mean()
    lag1 = (centred * np.roll(centred, 1, axis=axis)).mean() / (centred**2).mean()
    return 1.0 / max(1.0 - float(lag1), 1e-6)


def test_the_relief_is_a_brightness_factor_around_one_set_by_the_seed():
    strongest = crease_relief(CREASED, 80, 90, face_width=75.0)
    assert strongest.shape == (80, 90) and strongest.dtype == np.float32
    assert abs(float(strongest.mean()) - 1.0) < 0.05
    assert 0.3 * CREASE_STRENGTH < float(strongest.std()) < 1.5 * CREASE_STRENGTH
    assert float(strongest.min()) > 0.2  # shadows deepen a fold, never black it out
    np.testing.assert_array_equal(strongest, crease_relief(CREASED, 80, 90, 75.0))
    assert not np.array_equal(strongest, crease_relief(CREASED + 1, 80, 90, 75.0))
    np.testing.assert_array_equal(crease_relief(flat_seed(CREASED), 80, 90, 75.0), 1.0)
    assert flat_seed(CREASED) == 777  # the grain's bits stay


def test_shadows_are_deeper_than_lit_slopes_are_bright():
    """A white mask's lit folds must not clip: the bright side is compressed."""
    values = np.concatenate(
        [crease_relief(CREASED + 4099 * i, 84, 80, 75.0).ravel() for i in range(20)]
    )
    below, above = np.percentile(values, [1, 99])
    assert 1.0 - below > above - 1.0
    assert float(np.mean((values - values.mean()) ** 3)) < 0  # a long tail of shadows


def test_folds_scale_with_the_face_not_the_region():
    """The same region on a face four times as wide holds folds four times as high; and
    folds run across the face (longer than high)."""
    small_face = crease_relief(CREASED, 200, 200, face_width=75.0)
    large_face = crease_relief(CREASED, 200, 200, face_width=300.0)
    assert correlation_length(large_face, 0) > 4.0 * correlation_length(small_face, 0)
    assert correlation_length(small_face, 1) > correlation_length(small_face, 0)


def test_folds_turn_with_the_eye_line():
    """On a face rolled a quarter turn the folds run up and down the image."""
    upright = crease_relief(CREASED, 200, 200, face_width=300.0)
    turned = crease_relief(CREASED, 200, 200, face_width=300.0, angle=math.pi / 2)
    assert correlation_length(upright, 1) > 1.3 * correlation_length(upright, 0)
    assert correlation_length(turned, 0) > 1.3 * correlation_length(turned, 1)


def test_folds_finer_than_a_pixel_fade_instead_of_aliasing():
    """On a face a few pixels wide the relief is read from a blurred level: it is weaker and
    still smooth from pixel to pixel, not full-strength noise."""
    tiny = crease_relief(CREASED, 30, 30, face_width=20.0)
    large = crease_relief(CREASED, 300, 300, face_width=200.0)
    assert float(tiny.std()) < 0.5 * float(large.std())
    assert correlation_length(tiny, 1) > 1.5  # neighbours agree: no checkerboard


def test_only_surgical_masks_crease_and_a_style_sets_fold_size_and_strength():
    surgical = creases_for("surgical")
    assert surgical is not None
    assert not any(creases_for(f) for f in ("kn95", "n95", "cloth"))
    stiff = FoldStyle(2 * surgical.width, 0.15)  # the KN95 style tried in session 26
    soft = crease_relief(CREASED, 200, 200, face_width=200.0, style=surgical)
    broad = crease_relief(CREASED, 200, 200, face_width=200.0, style=stiff)
    assert float(broad.std()) < 0.85 * float(soft.std())
    assert correlation_length(broad, 0) > 1.5 * correlation_length(soft, 0)  # broader folds


@pytest.mark.parametrize("size", [(0, 10, 50.0), (10, 10, 0.0), (10, -1, 50.0)])
def test_bad_sizes_are_refused(size):
    with pytest.raises(ValueError, match="positive"):
        crease_relief(1, *size)


def test_a_level_face_reads_the_same_folds_cut_straight_or_warped():
    """Under a degree of roll the window is cut and resized (fast); just over, warped: the
    two read the same place of the field, so the folds hardly change."""
    straight = crease_relief(CREASED, 84, 80, 75.0, angle=0.0)
    warped = crease_relief(CREASED, 84, 80, 75.0, angle=math.radians(1.2))
    assert np.corrcoef(straight.ravel(), warped.ravel())[0, 1] > 0.8
