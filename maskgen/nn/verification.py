"""insightface's face-verification protocol, in plain numpy.

Pairs are images ``2i`` and ``2i + 1``. Each image's embedding is the sum of the embeddings of the
image and of its horizontal flip, L2-normalised; a pair's score is the squared L2 distance of its
two embeddings (0 = identical, 4 = opposite), and a pair is called "same" when the distance is
strictly below a threshold. Accuracy is estimated with 10 folds taken IN ORDER (no shuffling, the
fold sizes of scikit-learn's ``KFold(shuffle=False)``): on each fold, the threshold that is most
accurate on the other nine folds (the smallest one, on ties; candidates 0.00, 0.01, ..., 3.99) is
scored on the held-out fold. The result is the mean and the (population) standard deviation of
the ten fold accuracies, as insightface reports them.

This module is the reference implementation: training-time validation calls it too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from maskgen.errors import ConfigError, DatasetFormatError

__all__ = [
    "DEFAULT_FAR_TARGETS",
    "DEFAULT_THRESHOLDS",
    "MIN_IMPOSTOR_PAIRS",
    "N_FOLDS",
    "VerificationResult",
    "accuracy_at_thresholds",
    "check_enough_pairs",
    "evaluate_verification",
    "fold_indices",
    "normalise_rows",
    "pair_distances",
    "tar_at_far",
]

DEFAULT_THRESHOLDS = np.arange(0.0, 4.0, 0.01)
"""Candidate squared-L2 thresholds: 0.00 to 3.99 in steps of 0.01 (insightface's grid)."""

N_FOLDS = 10
"""Folds of the protocol (insightface's)."""


def check_enough_pairs(path: object, pairs: int) -> None:
    """DatasetFormatError naming ``path`` for a set of fewer pairs than :data:`N_FOLDS`: every
    fold needs at least one pair."""
    if pairs < N_FOLDS:
        raise DatasetFormatError(f"{path}: {pairs} pairs, fewer than the {N_FOLDS} folds")


DEFAULT_FAR_TARGETS = (1e-3,)
"""False-accept rates at which the true-accept rate is reported."""

MIN_IMPOSTOR_PAIRS = 1000
"""Fewest different-identity pairs for which a TAR at FAR = 1e-3 means anything (1 false accept
allowed per 1000): smaller sets report ``tar_at_far = None``."""


@dataclass(frozen=True)
class VerificationResult:
    """The 10-fold verification outcome.

    ``accuracy`` and ``accuracy_std``: mean and standard deviation of the fold accuracies, as
    fractions (0.9967, not 99.67). ``threshold``: mean of the folds' chosen squared-L2
    thresholds (the value to deploy; cosine similarity = 1 - threshold / 2).
    ``tar_at_far``: ``{"1e-03": tar}`` or None where the set has too few impostor pairs.
    """

    accuracy: float
    accuracy_std: float
    threshold: float
    tar_at_far: dict[str, float] | None
    fold_accuracies: tuple[float, ...]
    fold_thresholds: tuple[float, ...]


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """Each row divided by its L2 norm (rows of zeros stay zero); (N, D) -> float32. The norm is
    taken in float64, so rows with huge values (an untrained network's) do not overflow."""
    x64 = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x64, axis=1, keepdims=True)
    return (x64 / np.maximum(norms, 1e-12)).astype(np.float32)


def pair_distances(embeddings: np.ndarray) -> np.ndarray:
    """Squared L2 distance of each pair ``(2i, 2i + 1)`` after L2-normalising every row.

    ``embeddings``: (2N, D) float. Returns (N,) float64, each in [0, 4].
    """
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or embeddings.shape[0] % 2:
        raise ConfigError(
            f"embeddings: expected an even number of rows (pairs) of a 2-D array, "
            f"got shape {embeddings.shape}"
        )
    unit = normalise_rows(embeddings).astype(np.float64)
    diff = unit[0::2] - unit[1::2]
    return np.einsum("ij,ij->i", diff, diff)


def fold_indices(n: int, n_folds: int) -> list[np.ndarray]:
    """Pair indices of each fold: contiguous blocks in order, the first ``n % n_folds`` one
    longer (scikit-learn's ``KFold(n_folds, shuffle=False)``). One fold: every pair."""
    if n_folds < 1 or n < n_folds:
        raise ConfigError(f"n_folds: need 1 <= n_folds <= pairs, got {n_folds} for {n} pairs")
    return np.array_split(np.arange(n), n_folds)


def accuracy_at_thresholds(
    distances: np.ndarray, issame: np.ndarray, thresholds: np.ndarray
) -> np.ndarray:
    """Fraction of pairs classified right (same iff distance < threshold), per threshold.

    Counted with sorted distances and ``searchsorted``, so memory stays O(pairs + thresholds).
    """
    distances = np.asarray(distances, dtype=np.float64)
    issame = np.asarray(issame, dtype=bool)
    genuine = np.sort(distances[issame])
    impostor = np.sort(distances[~issame])
    true_accepts = np.searchsorted(genuine, thresholds, side="left")
    true_rejects = impostor.size - np.searchsorted(impostor, thresholds, side="left")
    return (true_accepts + true_rejects) / distances.size


def tar_at_far(
    distances: np.ndarray,
    issame: np.ndarray,
    far: float,
    min_impostors: int = MIN_IMPOSTOR_PAIRS,
) -> float | None:
    """True-accept rate at the strictest threshold that lets at most ``floor(far * impostors)``
    impostor pairs through, over all pairs (no folds). None with fewer than ``min_impostors``
    impostor pairs or no genuine pair.

    The threshold is the (k+1)-th smallest impostor distance, k = floor(far * impostors): with
    the strict "<" rule, at most k impostors fall below it.
    """
    distances = np.asarray(distances, dtype=np.float64)
    issame = np.asarray(issame, dtype=bool)
    impostor = np.sort(distances[~issame])
    genuine = distances[issame]
    if impostor.size < max(1, min_impostors) or genuine.size == 0:
        return None
    allowed = math.floor(far * impostor.size)
    threshold = impostor[allowed] if allowed < impostor.size else np.inf
    return float(np.mean(genuine < threshold))


def far_key(far: float) -> str:
    """The JSON key of a FAR target: ``1e-03`` for 0.001."""
    return f"{far:.0e}"


def evaluate_verification(
    embeddings: np.ndarray,
    issame: Sequence[bool] | np.ndarray,
    n_folds: int = 10,
    *,
    thresholds: np.ndarray | None = None,
    far_targets: Sequence[float] = DEFAULT_FAR_TARGETS,
    min_impostors: int = MIN_IMPOSTOR_PAIRS,
) -> VerificationResult:
    """10-fold verification accuracy of a pair set.

    ``embeddings``: (2N, D) float, image ``2i`` paired with ``2i + 1``, already flip-summed
    (rows are L2-normalised here, which changes nothing for rows that already are);
    ``issame``: (N,) bool. See the module docstring for the protocol.
    """
    distances = pair_distances(embeddings)
    issame = np.asarray(issame, dtype=bool).reshape(-1)
    if issame.size != distances.size:
        raise ConfigError(
            f"issame: {issame.size} flags for {distances.size} pairs ({2 * distances.size} "
            "embeddings)"
        )
    grid = DEFAULT_THRESHOLDS if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    folds = fold_indices(distances.size, n_folds)
    fold_acc, fold_thr = [], []
    for test in folds:
        train = np.ones(distances.size, dtype=bool)
        if len(folds) > 1:
            train[test] = False
        train_acc = accuracy_at_thresholds(distances[train], issame[train], grid)
        best = float(grid[int(np.argmax(train_acc))])
        test_acc = accuracy_at_thresholds(distances[test], issame[test], np.array([best]))[0]
        fold_acc.append(float(test_acc))
        fold_thr.append(best)
    tars = {far_key(far): tar_at_far(distances, issame, far, min_impostors) for far in far_targets}
    return VerificationResult(
        accuracy=float(np.mean(fold_acc)),
        accuracy_std=float(np.std(fold_acc)),
        threshold=float(np.mean(fold_thr)),
        tar_at_far=None if not tars or None in tars.values() else tars,  # type: ignore[arg-type]
        fold_accuracies=tuple(fold_acc),
        fold_thresholds=tuple(fold_thr),
    )
