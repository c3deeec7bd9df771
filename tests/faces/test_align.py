"""ArcFace 5-point alignment and LFW pairs parsing."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from maskgen.errors import DatasetFormatError
from maskgen.faces import align_face, five_points, load_face_finder
from maskgen.faces.align import ARCFACE_TEMPLATE_112, estimate_similarity
from maskgen.faces.dataset import read_pairs


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 200, size=(5, 2))
    angle, scale, shift = 0.3, 0.55, np.array([12.0, -7.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rotation.T + shift
    matrix = estimate_similarity(src, dst)
    np.testing.assert_allclose(matrix[:, :2], rotation, atol=1e-5)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-3)


def test_five_points_order():
    landmarks = np.zeros((68, 2), np.float32)
    landmarks[36:42] = (10, 5)
    landmarks[42:48] = (30, 5)
    landmarks[30] = (20, 15)
    landmarks[48] = (12, 25)
    landmarks[54] = (28, 25)
    expected = [[10, 5], [30, 5], [20, 15], [12, 25], [28, 25]]
    np.testing.assert_array_equal(five_points(landmarks), expected)


@pytest.mark.shared
def test_aligned_crop_puts_features_on_the_template(lfw_dir):
    finder = load_face_finder()
    rgb = cv2.cvtColor(cv2.imread(str(lfw_dir / "Al_Gore" / "Al_Gore_0002.jpg")), cv2.COLOR_BGR2RGB)
    crop = align_face(rgb, five_points(finder.find_faces(rgb, "detect")[0].landmarks))
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    big = cv2.resize(crop, (224, 224), interpolation=cv2.INTER_CUBIC)
    refit = five_points(finder.find_faces(big, "detect")[0].landmarks) / 2
    assert np.linalg.norm(refit - ARCFACE_TEMPLATE_112, axis=1).mean() < 3.0


@pytest.mark.shared
def test_read_lfw_pairs(lfw_dir, lfw_pairs):
    paths, issame = read_pairs(lfw_pairs, lfw_dir)
    assert len(issame) == 6000 and sum(issame) == 3000
    assert len(paths) == 12000
    assert paths[0].parent.name == paths[1].parent.name  # the first fold starts with same pairs
    assert all(p.is_file() for p in paths[:50])


def test_pairs_errors(tmp_path):
    (tmp_path / "pairs.txt").write_text("1 1\nNobody 1 2\n")
    with pytest.raises(DatasetFormatError, match="not found"):
        read_pairs(tmp_path / "pairs.txt", tmp_path)
    (tmp_path / "A").mkdir()
    (tmp_path / "A" / "A_0001.jpg").write_bytes(b"")
    (tmp_path / "pairs.txt").write_text("1 1\nA 1 B\n")
    with pytest.raises(DatasetFormatError, match="bad image number"):
        read_pairs(tmp_path / "pairs.txt", tmp_path)


@pytest.mark.shared
def test_pairs_headers_of_both_lfw_forms_and_a_subset_warned(lfw_dir, lfw_pairs, tmp_path, caplog):
    """``pairs.txt`` opens with ``folds size``, ``pairsDevTrain.txt`` with ``size`` alone (it
    was refused as a pair of one field); a subset that kept its header gets a warning."""
    lines = lfw_pairs.read_text().splitlines()
    same, different = lines[1:3], lines[301:303]
    dev = tmp_path / "pairsDevTrain.txt"
    dev.write_text("\n".join(["2", *same, *different]) + "\n")
    with caplog.at_level(logging.WARNING):
        _, issame = read_pairs(dev, lfw_dir)
    assert issame == [True, True, False, False] and not caplog.records
    subset = tmp_path / "pairs.txt"
    subset.write_text("\n".join([lines[0], *same, *different]) + "\n")
    with caplog.at_level(logging.WARNING):
        _, issame = read_pairs(subset, lfw_dir)
    assert issame == [True, True, False, False]
    assert "first line promises 6000 pairs, the file holds 4" in caplog.text
