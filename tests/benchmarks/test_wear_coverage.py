"""The independent-fit benchmark's own parts: the other aligner's crops and the face cache."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import wear_coverage

from maskgen.faces import ARCFACE_TEMPLATE_112, Face
from maskgen.seeding import item_rng


def mesh_with_five(points: np.ndarray) -> np.ndarray:
    """A (478, 2) stand-in FaceMesh whose pupils, nose tip and mouth corners are ``points``
    (template order); the other points are far off and must not matter."""
    mesh = np.full((478, 2), 1e4, dtype=np.float64)
    mesh[[473, 468, 1, 291, 61]] = points  # listed right to left: the order is found by x
    return mesh


def test_other_aligner_lands_near_the_template_with_unbiased_errors():
    angle = np.radians(12.0)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    photo = (ARCFACE_TEMPLATE_112 - 56.0) @ turn.T * 2.3 + [140.0, 120.0]
    mesh = mesh_with_five(photo[[1, 0, 2, 4, 3]])  # pupils and corners given right first
    errors = []
    for index in range(200):
        matrix = wear_coverage.other_aligner_matrix(mesh, item_rng(1, f"face{index}"))
        landed = photo @ matrix[:, :2].T + matrix[:, 2]
        errors.append(landed - ARCFACE_TEMPLATE_112)
    errors = np.array(errors)
    distances = np.hypot(errors[..., 0], errors[..., 1])
    assert distances.max() < 12.0  # a few px, degrees and percent: never far off
    assert np.median(distances) > 1.0  # but off: crops of another, imperfect aligner
    assert np.all(np.abs(errors.mean(axis=0)) < 1.0)  # no bias toward any side


def test_face_cache_keeps_faces_and_meshes_between_runs(tmp_path: Path):
    path = tmp_path / "faces.npz"
    cache = wear_coverage.FaceCache(path)
    landmarks = np.arange(136, dtype=np.float32).reshape(68, 2)
    mesh = np.linspace(0, 1, 956, dtype=np.float32).reshape(478, 2)
    cache.put("a/a_0001.jpg", Face((1.0, 2.0, 30.0, 40.0), landmarks, True), mesh)
    cache.put("b/b_0001.jpg", None, np.full((478, 2), np.nan, dtype=np.float32))
    cache.save()
    again = wear_coverage.FaceCache(path)
    face, kept_mesh = wear_coverage._unpack(again.get("a/a_0001.jpg"))
    assert face.box == (1.0, 2.0, 30.0, 40.0)
    np.testing.assert_array_equal(face.landmarks, landmarks)
    np.testing.assert_array_equal(kept_mesh, mesh)
    none, empty = wear_coverage._unpack(again.get("b/b_0001.jpg"))
    assert none is None and np.isnan(empty).all()
    assert again.get("c/c_0001.jpg") is None
    assert wear_coverage.FaceCache(None).get("a/a_0001.jpg") is None


def test_spill_is_the_share_of_coverage_on_background():
    coverage = np.zeros((10, 10), np.float32)
    coverage[2:6, 2:6] = 1.0  # 16 covered pixels
    coverage[2:6, 6] = 0.5  # 4 half-covered pixels: 18 in all
    person = np.zeros((10, 10), np.float32)
    person[:, :5] = 0.9  # the person fills the left half
    assert wear_coverage.spill(coverage, person) == (4 * 1.0 + 4 * 0.5) / 18.0
    assert wear_coverage.spill(coverage, np.ones((10, 10), np.float32)) == 0.0
    assert wear_coverage.spill(np.zeros((10, 10), np.float32), person) == 0.0


def test_control_moves_landmarks_toward_the_side_the_nose_points(lfw_dir: Path):
    from maskgen.faces import load_face_finder
    from maskgen.images import decode_rgb

    photo = decode_rgb((lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg").read_bytes())
    landmarks = load_face_finder().find_faces(photo, "detect")[0].landmarks.astype(np.float64)
    width = landmarks[16] - landmarks[0]
    moved = wear_coverage.shifted_sideways(landmarks, 0.1)
    assert np.allclose(moved - landmarks, (moved - landmarks)[0])  # one rigid move
    assert np.isclose(np.hypot(*(moved[0] - landmarks[0])), 0.1 * np.hypot(*width))
    # the same face mirrored turns the other way: its control moves the other way too
    mirrored = landmarks.copy()
    mirrored[:, 0] = photo.shape[1] - 1 - mirrored[:, 0]
    mirrored[:17] = mirrored[16::-1]  # dlib's jaw runs from the face's right to its left
    back = wear_coverage.shifted_sideways(mirrored, 0.1)
    nose_side = np.sign((landmarks[30] - (landmarks[0] + landmarks[16]) / 2) @ width)
    assert np.sign((moved - landmarks)[0] @ width) == (nose_side or 1.0)
    assert np.sign((back - mirrored)[0, 0]) == -np.sign((moved - landmarks)[0, 0]) or nose_side == 0
