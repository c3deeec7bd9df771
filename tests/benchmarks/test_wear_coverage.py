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
