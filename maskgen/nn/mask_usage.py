"""Mask-usage classification: how often the mask head says "masked" exactly when a mask is worn.

The mask head gives two logits per face; the mask probability is the softmax's class 1. A face
counts as masked when that probability is above 0.5 (the same decision as argmax of the logits).
"""

from __future__ import annotations

import numpy as np

from maskgen.errors import ConfigError

__all__ = ["MASK_THRESHOLD", "mask_accuracy", "mask_probabilities"]

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
