"""Mask-usage classification: how often the mask head says "masked" exactly when a mask is worn.

The mask head gives two logits per face; the mask probability is the softmax's class 1. A face
counts as masked when that probability is above 0.5 (the same decision as argmax of the logits).
A wear-class head gives five (``maskgen.masks.wear.WEAR_CLASSES``); its mask probability is the
sum of the four masked classes, and its wear class the argmax.
"""

from __future__ import annotations

import numpy as np

from maskgen.errors import ConfigError

__all__ = [
    "MASK_THRESHOLD",
    "mask_accuracy",
    "mask_probabilities",
    "wear_class_accuracy",
    "wear_confusion",
]

MASK_THRESHOLD = 0.5
"""Mask probability above which a face counts as masked."""


def mask_probabilities(logits: np.ndarray) -> np.ndarray:
    """Probability of class 1 (masked) from (N, 2) logits, a numerically stable softmax.

    Returns (N,) float32.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] != 2:
        raise ConfigError(f"mask logits: expected shape (N, 2), got {logits.shape}")
    # softmax over two classes: p1 = 1 / (1 + exp(l0 - l1)), written to avoid overflow
    diff = logits[:, 0] - logits[:, 1]
    return (0.5 * (1.0 - np.tanh(diff / 2.0))).astype(np.float32)


def mask_accuracy(
    mask_prob: np.ndarray | None,
    expected_masked: bool | np.ndarray,
    threshold: float = MASK_THRESHOLD,
) -> float | None:
    """Fraction of faces whose predicted mask usage (probability > ``threshold``) matches the
    expected one. ``expected_masked``: one bool for the whole set or (N,) bools. None when the
    model has no mask head (``mask_prob`` None) or there are no faces."""
    if mask_prob is None:
        return None
    prob = np.asarray(mask_prob, dtype=np.float64).reshape(-1)
    if prob.size == 0:
        return None
    expected = np.broadcast_to(np.asarray(expected_masked, dtype=bool), prob.shape)
    return float(np.mean((prob > threshold) == expected))


def wear_confusion(expected: np.ndarray, wear_prob: np.ndarray) -> np.ndarray:
    """Confusion matrix ``(K, K)`` int64 of wear classes: row = expected class, column = the
    argmax of ``wear_prob`` (N, K). ``expected``: (N,) ints in ``[0, K)``."""
    prob = np.asarray(wear_prob)
    if prob.ndim != 2:
        raise ConfigError(f"wear probabilities: expected shape (N, K), got {prob.shape}")
    classes = prob.shape[1]
    truth = np.asarray(expected, dtype=np.int64).reshape(-1)
    if truth.shape[0] != prob.shape[0]:
        raise ConfigError(f"wear classes: {truth.shape[0]} labels for {prob.shape[0]} faces")
    if truth.size and (truth.min() < 0 or truth.max() >= classes):
        raise ConfigError(f"wear classes: labels must be in [0, {classes}), got {truth.max()}")
    predicted = prob.argmax(axis=1) if prob.shape[0] else np.zeros(0, np.int64)
    return np.bincount(truth * classes + predicted, minlength=classes * classes).reshape(
        classes, classes
    )


def wear_class_accuracy(confusion: np.ndarray) -> list[float | None]:
    """Per-class accuracy (recall: the share of faces of each expected class predicted as it)
    from a confusion matrix; None for a class with no faces."""
    confusion = np.asarray(confusion)
    totals = confusion.sum(axis=1)
    return [float(confusion[k, k] / totals[k]) if totals[k] else None for k in range(len(totals))]
