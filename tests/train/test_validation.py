"""Validation on a .bin during training (the 10-fold protocol is tested in tests/evaluate)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from maskgen.formats.verification import read_verification_bin, write_verification_bin
from maskgen.train.models import create_model
from maskgen.train.validation import embed_images, validate_bin
from tests.train.helpers import draw_mask, encode_jpeg

pytestmark = pytest.mark.torch


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)


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
