"""``doubtful_face``: a detection the detector barely took whose eyes and nose move when the
landmark fit restarts is left unmasked (the mission patch on scikit-image's astronaut), while
real faces, even ones the detector scores low, are masked."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from maskgen.faces.visibility import (
    DOUBTFUL_FACE,
    DOUBTFUL_SCORE_MAX,
    DOUBTFUL_UPPER_SPREAD_MIN,
    face_problems,
    fit_spread,
)
from maskgen.masks import Masker, MaskSpec


@pytest.fixture(scope="module")
def masker() -> Masker:
    return Masker(MaskSpec())


def test_the_astronauts_mission_patch_is_left_unmasked_and_her_face_masked(masker):
    portrait = data.astronaut()
    faces = masker.finder.find_faces(portrait)
    assert len(faces) == 2  # her face, then the patch on her sleeve
    face, patch = faces
    assert patch.box[1] > face.box[3]  # the patch lies below her chin
    assert face.score > 1.0 and patch.score < DOUBTFUL_SCORE_MAX
    outcome = masker.mask_image(portrait, np.random.default_rng(0))
    assert [applied.face.box for applied in outcome.applied] == [face.box]
    assert [(skipped.face.box, skipped.reason) for skipped in outcome.skipped] == [
        (patch.box, DOUBTFUL_FACE)
    ]
    x0, y0, x1, y1 = (int(v) for v in patch.box)
    np.testing.assert_array_equal(outcome.image[y0:y1, x0:x1], portrait[y0:y1, x0:x1])
    unchecked = Masker(MaskSpec(face_checks=False)).mask_image(portrait, np.random.default_rng(0))
    assert len(unchecked.applied) == 2  # without the checks the patch gets a mask


def test_both_the_score_and_the_restless_fit_are_needed(masker):
    """The patch with a confident score is not doubtful; the patch's fit is restless."""
    portrait = data.astronaut()
    _, patch = masker.finder.find_faces(portrait)
    pair = [(patch.box, patch.landmarks)]
    assert fit_spread(masker.finder, [portrait], pair)[0][1] > DOUBTFUL_UPPER_SPREAD_MIN
    assert face_problems(masker.finder, [portrait], pair, scores=[patch.score]) == [DOUBTFUL_FACE]
    assert face_problems(masker.finder, [portrait], pair, scores=[1.5]) != [DOUBTFUL_FACE]
    assert face_problems(masker.finder, [portrait], pair) != [DOUBTFUL_FACE]  # no score known


@pytest.mark.shared
def test_a_real_face_scored_low_is_not_doubtful(masker, lfw_dir: Path):
    """LFW faces given a score under the bound: their eyes and nose hold still, so each is
    judged by the other checks alone (masked, as with its own score)."""
    for name in ("Aaron_Eckhart_0001", "George_W_Bush_0001", "Abdullah_Gul_0001"):
        person = name.rsplit("_", 1)[0]
        rgb = cv2.cvtColor(cv2.imread(str(lfw_dir / person / f"{name}.jpg")), cv2.COLOR_BGR2RGB)
        face = masker.finder.find_faces(rgb)[0]
        pair = [(face.box, face.landmarks)]
        assert face_problems(masker.finder, [rgb], pair, scores=[0.0]) == [None], name
        assert face_problems(masker.finder, [rgb], pair, scores=[face.score]) == [None], name


def test_detect_gives_the_scored_boxes_and_aligned_faces_have_no_score(masker):
    portrait = data.astronaut()
    scored = masker.finder.detect_scored(portrait)
    assert masker.finder.detect(portrait) == [box for box, _ in scored]
    assert all(isinstance(score, float) and score >= 0.0 for _, score in scored)
    crop = cv2.resize(portrait[60:200, 160:290], (112, 112))
    aligned = masker.finder.find_faces(crop, mode="aligned")
    assert aligned and all(face.score is None and not face.detected for face in aligned)
