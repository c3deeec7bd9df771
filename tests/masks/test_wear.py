"""Placements (how a mask is worn): drawing them, and where each one leaves the face bare.

The real-face tests judge the rendered pixels, and where they can, locate the face with a
model other than the 68-point one the masks are warped onto (dlib's 5-point model, trained
separately, gives the bottom of the nose).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import cv2
import dlib
import numpy as np
import pytest

from maskgen.errors import ConfigError
from maskgen.faces import ARCFACE_TEMPLATE_112, find_model_file, load_face_finder
from maskgen.formats import open_reader
from maskgen.images import decode_rgb
from maskgen.masks import (
    WEAR_CLASSES,
    WEAR_PLACEMENTS,
    MaskSpec,
    apply_mask,
    load_templates,
    load_textures,
    sample_mask_params,
)
from maskgen.masks import wear as wear_module
from maskgen.masks.policy import _ANGLES, COLOR_JITTER, FIT_JITTER_STD, parse_wear
from maskgen.masks.render import face_points
from maskgen.masks.wear import wear_class
from maskgen.types import MaskParams
from tests.conftest import lfw_sample_paths

MIXED = {"correct": 0.4, "nose_uncovered": 0.2, "mouth_uncovered": 0.2, "chin_uncovered": 0.2}


@pytest.fixture(scope="module")
def templates():
    return load_templates()


@pytest.fixture(scope="module")
def textures():
    return load_textures()


def legacy_draws(rng: np.random.Generator, n_types: int, n_textures: int) -> None:
    """The draws ``sample_mask_params`` made before placements existed, in order: type,
    colour (pick, hue/saturation/value, brightness, tint), texture flag, texture pick, scale,
    angle (base, wobble), offset, fit jitter."""
    rng.integers(n_types)
    rng.random()
    rng.random()
    rng.random(3)
    rng.normal(0.0, COLOR_JITTER[0])
    rng.normal(0.0, COLOR_JITTER[1], size=3)
    rng.random()
    rng.integers(max(n_textures, 1))
    rng.normal()
    rng.integers(len(_ANGLES))
    rng.normal()
    rng.random()
    rng.random()
    rng.normal(0.0, FIT_JITTER_STD, size=2)


def test_constants():
    assert WEAR_PLACEMENTS == ("correct", "nose_uncovered", "mouth_uncovered", "chin_uncovered")
    assert ("none", *WEAR_PLACEMENTS) == WEAR_CLASSES


@pytest.mark.parametrize("wear", [None, MIXED, {"chin_uncovered": 1.0}])
def test_draws_consume_exactly_the_pre_placement_stream(templates, textures, wear):
    """Whatever the wear probabilities, the face's generator advances exactly as it did
    before placements existed, so every other draw (and every later face's) is unchanged."""
    spec = MaskSpec() if wear is None else MaskSpec(wear=wear)
    ours, twin = np.random.default_rng(21), np.random.default_rng(21)
    for _ in range(300):
        sample_mask_params(ours, spec, templates, textures)
        legacy_draws(twin, len(templates), len(textures))
        assert ours.bit_generator.state == twin.bit_generator.state


def test_wear_changes_nothing_else(templates, textures):
    def run(spec):
        rng = np.random.default_rng(5)
        return [sample_mask_params(rng, spec, templates, textures) for _ in range(400)]

    plain, mixed = run(MaskSpec()), run(MaskSpec(wear=MIXED))
    assert {p.wear for p in plain} == {"correct"}
    assert [replace(p, wear="correct") for p in mixed] == plain
    assert run(MaskSpec(wear=MIXED)) == mixed  # deterministic


def test_wear_frequencies(templates, textures):
    rng = np.random.default_rng(0)
    spec = MaskSpec(wear=MIXED)
    draws = [sample_mask_params(rng, spec, templates, textures).wear for _ in range(4000)]
    for name, probability in MIXED.items():
        assert abs(draws.count(name) / len(draws) - probability) < 0.03, name
    rng = np.random.default_rng(0)
    only = MaskSpec(wear={"mouth_uncovered": 1.0, "correct": 0.0})
    assert {sample_mask_params(rng, only, templates, textures).wear for _ in range(50)} == {
        "mouth_uncovered"
    }


def test_wear_spec_validation_and_form():
    spec = MaskSpec(wear={"chin_uncovered": 0.1, "correct": 0.7, "nose_uncovered": 0.2})
    assert spec.wear == (("correct", 0.7), ("nose_uncovered", 0.2), ("chin_uncovered", 0.1))
    assert spec.wear_probabilities["mouth_uncovered"] == 0.0
    assert hash(spec) == hash(MaskSpec(wear=list(spec.wear)))
    assert sum(p for _, p in MaskSpec(wear={"correct": 0.9999999, "nose_uncovered": 0}).wear) == 1
    assert "wear" not in MaskSpec().to_json()  # a default run records what it did before
    assert spec.to_json()["wear"] == {"correct": 0.7, "nose_uncovered": 0.2, "chin_uncovered": 0.1}
    assert MaskSpec().to_json()["texture_dirs"] == []
    bad = [
        ({"under_eyes": 1.0}, r"unknown wear placement 'under_eyes'; known: correct, nose_unc"),
        ({"correct": 0.5}, "must sum to 1, got 0.5"),
        ({"correct": 0.7, "chin_uncovered": 0.7}, "must sum to 1, got 1.4"),
        ({"correct": 1.2, "chin_uncovered": -0.2}, "chin_uncovered must be a finite number >= 0"),
        ({"correct": float("nan")}, "correct must be a finite number >= 0"),
        ({"correct": "1"}, "correct must be a number"),
        ({"correct": True}, "correct must be a number"),
        ({}, "must sum to 1, got 0"),
        (3, "wear must map placements"),
        ("sideways", "unknown placement 'sideways'"),  # a string is --wear's form
    ]
    for wear, message in bad:
        with pytest.raises(ConfigError, match=message):
            MaskSpec(wear=wear)


def test_params_record_wear_and_unknown_wear_is_refused(templates):
    assert MaskParams("cloth").to_json()["wear"] == "correct"
    assert MaskParams("cloth", wear="chin_uncovered").to_json()["wear"] == "chin_uncovered"
    rgb = np.zeros((64, 64, 3), np.uint8)
    landmarks = np.zeros((68, 2), np.float32)
    with pytest.raises(ConfigError, match="unknown wear 'sideways'"):
        apply_mask(rgb, landmarks, templates["cloth"], MaskParams("cloth", wear="sideways"))
    worn = MaskParams("cloth", color="#102030", wear="mouth_uncovered")
    assert MaskParams.from_json({**worn.to_json(), "box": [0, 0, 1, 1]}) == worn
    legacy = {k: v for k, v in worn.to_json().items() if k != "wear"}  # a row from before
    assert MaskParams.from_json(legacy).wear == "correct"


def test_wear_classes_number_the_labels():
    assert [wear_class(name) for name in (None, *WEAR_PLACEMENTS)] == [0, 1, 2, 3, 4]
    with pytest.raises(ConfigError, match="unknown wear 'none'"):
        wear_class("none")


def test_parse_wear_reads_the_command_line_form():
    given = "correct=0.7,nose_uncovered=0.1,mouth_uncovered=0.1,chin_uncovered=0.1"
    wanted = {"correct": 0.7, "nose_uncovered": 0.1, "mouth_uncovered": 0.1, "chin_uncovered": 0.1}
    assert parse_wear(given) == MaskSpec(wear=wanted).wear
    assert parse_wear(" Chin_Uncovered = .25 , correct=0.75 ,") == (
        ("correct", 0.75),
        ("chin_uncovered", 0.25),
    )
    assert parse_wear("nose_uncovered") == (("nose_uncovered", 1.0),)
    assert parse_wear("correct=1,chin_uncovered=0") == (("correct", 1.0),)
    # the named mix for training twins, in any case
    training = (("correct", 0.8), ("nose_uncovered", 0.15), ("chin_uncovered", 0.05))
    assert parse_wear(" Training ") == parse_wear("training") == training
    assert parse_wear("correct=0.8,nose_uncovered=0.15,chin_uncovered=0.05") == training
    assert MaskSpec(wear=dict(training)).wear_given
    known = "correct, nose_uncovered, mouth_uncovered, chin_uncovered"
    bad = [
        ("", "expected NAME=PROBABILITY pairs separated by commas"),
        (" , ", f"NAME one of {known}"),
        ("correct=", "'correct=': expected NAME=PROBABILITY"),
        ("=0.5,correct=0.5", "'=0.5': expected"),
        ("correct:1", f"unknown placement 'correct:1'; known: {known} (or a mix: training)"),
        ("training=1", f"unknown placement 'training'; known: {known}"),
        ("correct=0.7;nose_uncovered=0.3", "'0.7;nose_uncovered=0.3' is not a number"),
        ("correct=half", "'half' is not a number"),
        ("correct=0.5,CORRECT=0.5", "placement 'correct' given twice"),
        ("correct=0.6,nose_uncovered=0.3", "must sum to 1, got 0.9"),
        ("correct=inf", "correct must be a finite number >= 0"),
        ("correct=1.1,nose_uncovered=-0.1", "nose_uncovered must be a finite number >= 0"),
        ("correct,nose_uncovered", "must sum to 1, got 2"),
    ]
    for text, message in bad:
        with pytest.raises(ConfigError, match=re.escape(message)):
            parse_wear(text)


# --- real faces ---------------------------------------------------------------------------


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def lfw_faces(lfw_dir: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(photo, 68 landmarks, nose bottom from dlib's separate 5-point model) for 16 spread
    LFW photos."""
    finder = load_face_finder()
    five = dlib.shape_predictor(str(find_model_file("shape_predictor_5_face_landmarks.dat")))
    faces = []
    for path in lfw_sample_paths(lfw_dir, 18):
        rgb = read_rgb(path)
        found = finder.find_faces(rgb, "detect")
        if not found:
            continue
        x0, y0, x1, y1 = (round(v) for v in found[0].box)
        shape = five(rgb, dlib.rectangle(x0, y0, x1, y1))
        nose = np.array([shape.part(4).x, shape.part(4).y], dtype=np.float64)
        faces.append((rgb, found[0].landmarks, nose))
    assert len(faces) >= 16
    return faces[:16]


@pytest.fixture(scope="module")
def aligned_faces(rec_dir: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(112x112 crop, landmarks) for 10 crops of the MXNet-written lfw-mini set."""
    reader = open_reader(rec_dir / "lfw-mini" / "train.rec")
    finder = load_face_finder()
    crops = []
    for key in range(1, 295, 29):
        rgb = decode_rgb(reader.read(key).data)
        crops.append((rgb, finder.find_faces(rgb, "aligned")[0].landmarks))
    return crops


def unchanged(original: np.ndarray, image: np.ndarray, centre: np.ndarray, radius: int) -> bool:
    """Every pixel within ``radius`` of ``centre`` (x, y) is exactly the original's."""
    height, width = original.shape[:2]
    ys, xs = np.ogrid[:height, :width]
    disc = (xs - centre[0]) ** 2 + (ys - centre[1]) ** 2 <= radius**2
    return bool(np.array_equal(original[disc], image[disc]))


def disc(radius: int) -> np.ndarray:
    """(K, 2) integer offsets within ``radius`` of the origin."""
    ys, xs = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    inside = xs**2 + ys**2 <= radius**2
    return np.stack([xs[inside], ys[inside]], axis=1)


def covered(coverage: np.ndarray, points: np.ndarray) -> np.ndarray:
    xy = np.round(points).astype(int)
    return coverage[xy[:, 1], xy[:, 0]] > 0.5


@pytest.mark.shared
def test_nose_uncovered_shows_the_nose_and_covers_mouth_and_chin(lfw_faces, templates):
    for index, (rgb, landmarks, nose_bottom) in enumerate(lfw_faces):
        for name, template in templates.items():
            params = MaskParams(name, wear="nose_uncovered")
            image, coverage = apply_mask(rgb, landmarks, template, params)
            _, worn_right = apply_mask(rgb, landmarks, template, MaskParams(name))
            size = np.hypot(*(landmarks[8] - landmarks[27]))
            tip = landmarks[30]
            assert unchanged(rgb, image, tip, 1), (index, name)
            assert not covered(coverage, tip + disc(round(0.04 * size))).any(), (index, name)
            # the nostrils, just above the 5-point model's nose bottom: bare, where the
            # correct fit covers them
            nostrils = nose_bottom[None] - (0, 0.02 * size)
            assert not covered(coverage, nostrils).any(), (index, name)
            assert covered(worn_right, nostrils).all(), (index, name)
            assert covered(coverage, landmarks[48:68]).all(), (index, name)
            chin = (landmarks[57] + landmarks[8]) / 2
            assert covered(coverage, np.array([chin, landmarks[8]])).all(), (index, name)


@pytest.mark.shared
def test_mouth_uncovered_shows_nose_and_mouth_and_covers_the_chin(lfw_faces, templates):
    for index, (rgb, landmarks, nose_bottom) in enumerate(lfw_faces):
        for name, template in templates.items():
            _, coverage = apply_mask(rgb, landmarks, template, MaskParams(name))
            low, bunched = apply_mask(
                rgb, landmarks, template, MaskParams(name, wear="mouth_uncovered")
            )
            lips = landmarks[48:60]
            mouth = np.vstack([lips, lips.mean(axis=0)])
            assert all(unchanged(rgb, low, p, 1) for p in mouth), (index, name)
            assert unchanged(rgb, low, nose_bottom, 2), (index, name)
            below_lip = landmarks[57] + 0.75 * (landmarks[8] - landmarks[57])
            assert covered(bunched, np.array([below_lip, landmarks[8]])).all(), (index, name)
            # bunched: far shorter than the correct mask on the face's centre line
            column = round(float(landmarks[57, 0] + landmarks[8, 0]) / 2)
            heights = [(c[:, column] > 0.5).sum() for c in (coverage, bunched)]
            assert 0 < heights[1] < 0.6 * heights[0], (index, name)


@pytest.mark.shared
def test_chin_uncovered_shows_the_chin_and_covers_nose_and_mouth(lfw_faces, templates):
    for index, (rgb, landmarks, nose_bottom) in enumerate(lfw_faces):
        for name, template in templates.items():
            params = MaskParams(name, wear="chin_uncovered")
            image, coverage = apply_mask(rgb, landmarks, template, params)
            size = np.hypot(*(landmarks[8] - landmarks[27]))
            chin = landmarks[8] + (landmarks[57] - landmarks[8]) * 0.1  # just inside the face
            assert unchanged(rgb, image, chin, round(0.02 * size)), (index, name)
            assert covered(coverage, np.vstack([landmarks[48:68], [nose_bottom]])).all()
            assert covered(coverage, landmarks[30:31]).all(), (index, name)
            assert not covered(coverage, landmarks[36:48]).any(), (index, name)


@pytest.mark.shared
def test_placements_on_aligned_crops(aligned_faces, templates):
    for index, (rgb, landmarks) in enumerate(aligned_faces):
        for name, template in templates.items():
            nose, _ = apply_mask(rgb, landmarks, template, MaskParams(name, wear="nose_uncovered"))
            assert unchanged(rgb, nose, landmarks[30], 1), (index, name)
            chin, _ = apply_mask(rgb, landmarks, template, MaskParams(name, wear="mouth_uncovered"))
            assert unchanged(rgb, chin, landmarks[48:60].mean(axis=0), 1), (index, name)
            _, up = apply_mask(rgb, landmarks, template, MaskParams(name, wear="chin_uncovered"))
            assert covered(up, landmarks[[30, 51, 57]]).all(), (index, name)


@pytest.mark.shared
def test_mouth_uncovered_keeps_a_band_of_mask_inside_aligned_crops(
    aligned_faces, templates, monkeypatch
):
    """A mask pulled onto the chin falls mostly below a 112x112 crop; its top corners, pulled
    up toward the ears beside the mouth, keep a band of it inside. The crops were aligned by
    insightface (not by maskgen), so the ArcFace template's mouth corners are where the mouth
    is, independently of the dlib landmarks the mask is warped onto."""
    mouth_corners = ARCFACE_TEMPLATE_112[3:5]
    beside_mouth = (np.arange(112) < mouth_corners[0, 0]) | (np.arange(112) > mouth_corners[1, 0])
    for index, (rgb, landmarks) in enumerate(aligned_faces):
        for name, template in templates.items():
            params = MaskParams(name, wear="mouth_uncovered")
            _, risen = apply_mask(rgb, landmarks, template, params)
            with monkeypatch.context() as patch:
                patch.setattr(wear_module, "CORNER_RISE", 0.0)  # the corners left down
                _, flat = apply_mask(rgb, landmarks, template, params)
            risen, flat = risen > 0.5, flat > 0.5
            assert not covered(risen.astype(np.float32), mouth_corners).any(), (index, name)
            assert risen.mean() >= 0.02, (index, name)  # 250 of 12,544 pixels at least
            assert risen.sum() >= 1.1 * flat.sum(), (index, name)
            added = risen & ~flat  # what the rise adds lies beside the mouth, not under it
            assert added[:, beside_mouth].sum() >= 0.8 * added.sum(), (index, name)


@pytest.mark.shared
@pytest.mark.parametrize("mask_type", ["surgical", "kn95", "n95", "cloth"])
def test_placements_deform_without_folding_and_keep_loops_at_the_ears(
    lfw_faces, templates, mask_type
):
    """Every triangle that draws the mask keeps its orientation (no fold-over), and the fit
    points at the ears do not move, so loops stretch from the ears to the moved mask. (The
    turned faces among these folded cloth and KN95 masks while the jaw's width was read on
    the wrong side of the face.)"""
    template = templates[mask_type]
    ears = [template.point_names.index(n) for n in ("lm00", "lm16", "out00", "out16")]
    corners = template.active_corners

    def turns(points: np.ndarray) -> np.ndarray:
        a, b, c = (points[corners[:, i]] for i in range(3))
        (ux, uy), (vx, vy) = (b - a).T, (c - a).T
        return ux * vy - uy * vx

    for _, landmarks, _ in lfw_faces:
        correct = face_points(template, landmarks)
        for wear in WEAR_PLACEMENTS[1:]:
            placed = face_points(template, landmarks, wear=wear)
            assert np.all(np.sign(turns(placed)) == np.sign(turns(correct))), wear
            assert np.allclose(placed[ears], correct[ears], atol=1e-3), wear
            assert not np.allclose(placed, correct), wear
