"""Training augmentation: the realism degradations, drawn per sample from (seed, epoch, key)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from maskgen.nn.preprocess import decode_face
from maskgen.train.augment import RealismAugment, augment_rng, build_augment, recompress
from maskgen.train.data import EpochSampler, FaceDataset, Ticket, open_train_data, training_loader


def _face(seed: int = 0) -> np.ndarray:
    """A smooth synthetic (112, 112, 3) uint8 RGB image with edges (a face stand-in)."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur((rng.random((112, 112, 3)) * 255).astype(np.uint8), (0, 0), 3)
    cv2.circle(image, (56, 56), 30, (220, 180, 150), -1)
    cv2.rectangle(image, (30, 70), (82, 100), (40, 60, 200), -1)
    return image


def test_same_draw_gives_the_same_image_and_other_draws_differ() -> None:
    augment = RealismAugment()
    image = _face()
    first = augment(image, augment_rng(3, 0, 17))
    again = augment(image, augment_rng(3, 0, 17))
    assert first.shape == image.shape and first.dtype == np.uint8 and first.flags.c_contiguous
    assert np.array_equal(first, again)
    others = [augment(image, augment_rng(3, epoch, 17)) for epoch in range(1, 6)]
    others += [augment(image, augment_rng(4, 0, 17)), augment(image, augment_rng(3, 0, 18))]
    assert all(not np.array_equal(first, other) for other in others)
    assert np.array_equal(image, _face())  # the input is not changed in place


def test_each_step_runs_alone_and_changes_the_image() -> None:
    image = _face()
    off = {"geometry_p": 0.0, "resolution_p": 0.0, "colour_p": 0.0, "jpeg_p": 0.0}
    assert np.array_equal(RealismAugment(**off)(image, augment_rng(0, 0, 0)), image)
    for step in off:
        only = RealismAugment(**{**off, step: 1.0})
        changed = [not np.array_equal(only(image, augment_rng(0, 0, k)), image) for k in range(5)]
        assert all(changed), step


def test_recompression_degrades_with_falling_quality() -> None:
    image = _face()
    errors = [np.abs(recompress(image, q).astype(int) - image).mean() for q in (95, 60, 30, 5)]
    assert errors == sorted(errors) and errors[-1] > 2 * errors[0]


def _bar_angle(image: np.ndarray) -> float:
    """The angle in degrees (image y down, so clockwise-positive) of the one bright bar in
    ``image``, from the second moments of its pixels."""
    moments = cv2.moments((image[:, :, 0] > 127).astype(np.uint8), binaryImage=True)
    spread = moments["mu20"] - moments["mu02"]
    return float(np.degrees(0.5 * np.arctan2(2 * moments["mu11"], spread)))


def test_rotate_limit_rotates_within_it_and_leaves_the_other_draws_alone() -> None:
    """``rotate_limit`` turns the face by up to that many degrees either way (a horizontal
    bar's angle, measured), and at 0 (the default) draws no angle at all, so every other draw
    of a sample is the one it was before the setting existed."""
    bar = np.zeros((112, 112, 3), np.uint8)
    bar[52:60, 16:96] = 255
    geometry = {"geometry_p": 1.0, "resolution_p": 0.0, "colour_p": 0.0, "jpeg_p": 0.0}
    turned = RealismAugment(**geometry, rotate_limit=10.0)
    angles = [_bar_angle(turned(bar, augment_rng(0, 0, key))) for key in range(60)]
    assert max(abs(a) for a in angles) <= 10.5 and sum(abs(a) > 5 for a in angles) >= 15
    assert min(angles) < -5 < 5 < max(angles)  # both ways
    level = RealismAugment(**geometry)
    assert all(abs(_bar_angle(level(bar, augment_rng(0, 0, key)))) < 0.5 for key in range(60))
    face = _face()
    for limit in (0.0, 10.0):  # the draws, in order: coin, [angle,] scale, shift
        for key in range(10):
            rng = augment_rng(1, 2, key)
            rng.random()
            angle = rng.uniform(-limit, limit) if limit else 0.0
            matrix = cv2.getRotationMatrix2D((56, 56), angle, rng.uniform(0.9, 1.1))
            matrix[:, 2] += rng.uniform(-5.0, 5.0, size=2)
            expected = cv2.warpAffine(face, matrix, (112, 112), borderMode=cv2.BORDER_REFLECT_101)
            drawn = RealismAugment(**geometry, rotate_limit=limit)(face, augment_rng(1, 2, key))
            assert np.array_equal(drawn, expected), (limit, key)
    for bad in (float("nan"), float("inf"), -1.0):  # NaN drew NaN angles: a silent warp
        with pytest.raises(ValueError, match="rotate_limit must be a finite angle >= 0"):
            RealismAugment(rotate_limit=bad)


def test_build_augment_names() -> None:
    assert build_augment("none") is None
    assert isinstance(build_augment("realism"), RealismAugment)
    with pytest.raises(ValueError, match="augment: 'blur' is not one of none, realism"):
        build_augment("blur")


@pytest.mark.shared
def test_dataset_augments_originals_and_twins_alike_per_epoch(
    lfw_mini: Path, lfw_mini_twin: Path
) -> None:
    data = open_train_data(lfw_mini, lfw_mini_twin)
    plain = FaceDataset(data)
    augmented = FaceDataset(data, augment=RealismAugment(), seed=5)
    key = int(data.keys[3])
    for masked in (False, True):
        ticket = Ticket(3, masked, False, 0)
        base = plain[ticket][0].numpy()
        image, identity, label = augmented[ticket]
        assert (identity, label) == plain[ticket][1:]  # labels untouched
        expected = RealismAugment()(base, augment_rng(5, 0, key))
        assert np.array_equal(image.numpy(), expected)
        assert not np.array_equal(image.numpy(), base)
        assert np.array_equal(augmented[ticket][0].numpy(), image.numpy())
    assert not np.array_equal(
        augmented[Ticket(3, False, False, 1)][0], augmented[Ticket(3, False, False, 0)][0]
    )
    flipped = augmented[Ticket(3, False, True, 0)][0].numpy()
    assert np.array_equal(flipped, augmented[Ticket(3, False, False, 0)][0].numpy()[:, ::-1])
    reference = decode_face(data.reader.read(key).data, "x", key)
    assert np.array_equal(plain[Ticket(3, False, False, 0)][0].numpy(), reference)


@pytest.mark.shared
def test_augmented_batches_are_the_same_for_any_worker_count(lfw_mini: Path) -> None:
    data = open_train_data(lfw_mini)
    dataset = FaceDataset(data, augment=RealismAugment(), seed=2)
    batches = {}
    for workers in (0, 2):
        sampler = EpochSampler(len(data), 16, seed=2, masked_prob=0.0)
        sampler.set_position(1, 3)
        loader = training_loader(dataset, sampler, workers=workers, seed=2)
        batches[workers] = [batch[0] for _, batch in zip(range(2), loader, strict=False)]
    assert len(batches[0]) == 2
    for a, b in zip(batches[0], batches[2], strict=True):
        assert torch.equal(a, b)
