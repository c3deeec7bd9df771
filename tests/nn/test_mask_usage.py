"""Mask probability and mask-usage accuracy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from maskgen.nn.mask_usage import mask_accuracy, mask_probabilities


def test_probabilities_are_softmax_class_one() -> None:
    logits = np.array([[0.0, 0.0], [0.0, np.log(3.0)], [2.0, -1.0]])
    # softmax: equal logits -> 1/2; exp(ln 3) / (1 + 3) = 3/4; e^-1 / (e^2 + e^-1)
    expected = [0.5, 0.75, np.exp(-1.0) / (np.exp(2.0) + np.exp(-1.0))]
    assert mask_probabilities(logits) == pytest.approx(expected, abs=1e-7)


def test_extreme_logits_do_not_overflow() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probs = mask_probabilities(np.array([[1000.0, -1000.0], [-1000.0, 1000.0]]))
    assert probs.tolist() == [0.0, 1.0]


def test_accuracy_counts_strictly_above_one_half_as_masked() -> None:
    probs = np.array([0.9, 0.2, 0.5, 0.51])
    # predicted masked: yes, no, no (0.5 is not above 0.5), yes
    assert mask_accuracy(probs, True) == 0.5
    assert mask_accuracy(probs, False) == 0.5
    assert mask_accuracy(probs, np.array([True, False, False, True])) == 1.0


def test_no_mask_head_gives_no_accuracy() -> None:
    assert mask_accuracy(None, True) is None
    assert mask_accuracy(np.zeros(0), True) is None
