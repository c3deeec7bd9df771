"""Verification accuracy (insightface's 10-fold protocol) and validation on a .bin."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from maskgen.formats.verification import read_verification_bin, write_verification_bin
from maskgen.train.models import create_model
from maskgen.train.validation import embed_images, validate_bin, verification_accuracy
from tests.train.helpers import draw_mask, encode_jpeg

pytestmark = pytest.mark.torch


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_ten_fold_accuracy_by_hand() -> None:
    # 20 pairs, 2 per fold; pair distances alternate same (0.555) and different (2.5),
    # except that pair 3 (fold 1, "different") sits at distance 0.555.
    e1 = np.tile([[1.0, 0.0]], (20, 1))
    angle_same, angle_diff = np.arccos(1 - 0.555 / 2), np.arccos(1 - 2.5 / 2)
    issame = np.array([i % 2 == 0 for i in range(20)])
    angles = np.where(issame, angle_same, angle_diff)
    angles[3] = angle_same
    e2 = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    result = verification_accuracy(e1, e2, issame)
    # every fold picks the first threshold above 0.555 (0.56); fold 1 then scores 1/2
    assert result.accuracy == pytest.approx((9 * 1.0 + 0.5) / 10)
    assert result.std == pytest.approx(np.std([1.0] * 9 + [0.5]))
    assert result.threshold == pytest.approx(0.56)


def test_random_embeddings_score_near_chance() -> None:
    rng = np.random.default_rng(0)
    e1, e2 = _unit(rng.normal(size=(600, 64))), _unit(rng.normal(size=(600, 64)))
    issame = rng.random(600) < 0.5
    assert 0.4 < verification_accuracy(e1, e2, issame).accuracy < 0.6


@pytest.mark.shared
def test_embeddings_are_unit_and_flip_invariant(lfw_fold1_bin: Path) -> None:
    images, _ = read_verification_bin(lfw_fold1_bin)
    torch.manual_seed(0)
    net = create_model("tiny").train()
    emb, p_masked = embed_images(net, images[:16], device=torch.device("cpu"), batch_size=8)
    assert net.training  # left as it was
    assert emb.shape == (16, 512) and p_masked is not None and p_masked.shape == (16,)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    flipped = []
    for data in images[:16]:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        flipped.append(cv2.imencode(".png", bgr[:, ::-1])[1].tobytes())
    decoded = []
    for data in images[:16]:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        decoded.append(cv2.imencode(".png", bgr)[1].tobytes())
    emb_a, _ = embed_images(net, decoded, device=torch.device("cpu"))
    emb_b, _ = embed_images(net, flipped, device=torch.device("cpu"))
    assert np.allclose(emb_a, emb_b, atol=1e-5)


@pytest.mark.shared
def test_validate_bin_reports_all_views(lfw_fold1_bin: Path, tmp_path: Path) -> None:
    images, issame = read_verification_bin(lfw_fold1_bin)
    pairs = [*range(0, 15), *range(300, 315)]  # 15 same and 15 different pairs
    images = [images[2 * p + i] for p in pairs for i in (0, 1)]
    issame = [issame[p] for p in pairs]
    rng = np.random.default_rng(0)
    twin = []
    for i, data in enumerate(images):
        if i % 5 == 0:
            twin.append(data)  # could not be masked: stored as is
            continue
        rgb = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
        twin.append(encode_jpeg(draw_mask(rgb, rng)))
    original_path = write_verification_bin(tmp_path / "lfw-30.bin", images, issame)
    twin_path = write_verification_bin(tmp_path / "masked" / "lfw-30.bin", twin, issame)
    torch.manual_seed(0)
    net = create_model("tiny")
    row = validate_bin(net, original_path, twin_path, device=torch.device("cpu"))
    assert row["set"] == "lfw-30"
    for key in ("accuracy", "accuracy_masked", "accuracy_mixed", "mask_accuracy"):
        assert 0.0 <= row[key] <= 1.0
    # the mask-usage truth: 60 originals unmasked, 48 twins masked, 12 stored as is
    _, p_orig = embed_images(net, images, device=torch.device("cpu"))
    _, p_twin = embed_images(net, twin, device=torch.device("cpu"))
    truth = np.r_[np.zeros(60, bool), [i % 5 != 0 for i in range(60)]]
    expected = np.mean((np.r_[p_orig, p_twin] >= 0.5) == truth)
    assert row["mask_accuracy"] == pytest.approx(expected)
    plain = validate_bin(net, original_path, device=torch.device("cpu"))
    assert plain["accuracy"] == row["accuracy"] and "mask_accuracy" not in plain
    assert 0.0 <= plain["threshold"] < 4.0
    with pytest.raises(ValueError, match="not the masked twin"):
        validate_bin(net, original_path, lfw_fold1_bin, device=torch.device("cpu"))


def test_agrees_with_the_evaluation_implementation() -> None:
    evaluate = pytest.importorskip("maskgen.evaluate.verification")
    rng = np.random.default_rng(1)
    e1 = _unit(rng.normal(size=(600, 16)))
    issame = rng.random(600) < 0.5
    noise = np.where(issame[:, None], 0.9, 1.6) * rng.normal(size=(600, 16)) / 4
    e2 = _unit(e1 + noise)
    ours = verification_accuracy(e1, e2, issame)
    both = np.empty((1200, 16))
    both[0::2], both[1::2] = e1, e2
    theirs = evaluate.evaluate_verification(both, issame)
    assert 0.6 < ours.accuracy < 0.99
    assert ours.accuracy == pytest.approx(theirs.accuracy, abs=1e-12)
    assert ours.std == pytest.approx(theirs.accuracy_std, abs=1e-12)
    assert ours.threshold == pytest.approx(theirs.threshold, abs=1e-12)
