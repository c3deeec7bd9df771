"""insightface's 10-fold verification: a hand-worked example, and checks against direct counts."""

from __future__ import annotations

import numpy as np
import pytest

from maskgen.errors import ConfigError
from maskgen.nn.verification import (
    accuracy_at_thresholds,
    evaluate_verification,
    fold_indices,
    pair_distances,
    tar_at_far,
)


def _pairs_at(distances: list[float]) -> np.ndarray:
    """2-D unit embeddings whose pair i lies at squared L2 distance ``distances[i]``:
    (1, 0) and (cos a, sin a) with 2 - 2 cos a = d."""
    rows = []
    for d in distances:
        angle = np.arccos(1.0 - d / 2.0)
        rows += [[1.0, 0.0], [np.cos(angle), np.sin(angle)]]
    return np.array(rows, dtype=np.float64)


# 20 pairs, 10 folds of 2 (fold k = pairs 2k, 2k+1): each fold holds one genuine (G) and one
# impostor (I) pair. Easy pairs: G at 0.405, I at 1.605. Three hard ones:
#   fold 3: I at 0.305 (an impostor closer than every genuine pair)
#   fold 5: G at 1.005 (a genuine pair further apart than the others)
#   fold 7: G at 1.905 (a genuine pair further apart than every impostor)
GENUINE = [0.405, 0.405, 0.405, 0.405, 0.405, 1.005, 0.405, 1.905, 0.405, 0.405]
IMPOSTOR = [1.605, 1.605, 1.605, 0.305, 1.605, 1.605, 1.605, 1.605, 1.605, 1.605]


def test_hand_worked_ten_folds() -> None:
    distances = [d for pair in zip(GENUINE, IMPOSTOR, strict=True) for d in pair]
    issame = [True, False] * 10
    # Worked by hand ("same" iff distance < t; ties between thresholds go to the smallest):
    # - test fold k in {0,1,2,4,6,8,9}: the 9 training folds hold G = 7 x 0.405, 1.005, 1.905
    #   and I = 8 x 1.605, 0.305. t in (0.405, 1.005] gets 7 + 8 = 15 of 18 right,
    #   t in (1.005, 1.605] gets 8 + 8 = 16, anything else less: t = 1.01. The test fold
    #   (G 0.405, I 1.605) is all right at 1.01: accuracy 1.
    # - test fold 3: training G = 7 x 0.405, 1.005, 1.905; I = 9 x 1.605. t in (1.005, 1.605]
    #   gets 8 + 9 = 17: t = 1.01. Test: G 0.405 right, I 0.305 < 1.01 wrong: 0.5.
    # - test fold 5: training G = 8 x 0.405, 1.905; I = 8 x 1.605, 0.305. t in (0.405, 1.605]
    #   gets 8 + 8 = 16, the most: t = 0.41. Test: G 1.005 is not < 0.41, wrong; I right: 0.5.
    # - test fold 7: training G = 8 x 0.405, 1.005; I = 8 x 1.605, 0.305. t in (1.005, 1.605]
    #   gets 9 + 8 = 17: t = 1.01. Test: G 1.905 wrong, I 1.605 right: 0.5.
    # Fold accuracies: 1 1 1 .5 1 .5 1 .5 1 1 -> mean 0.85; deviations +0.15 (x7) and -0.35
    # (x3): variance (7 x 0.0225 + 3 x 0.1225) / 10 = 0.0525, std = sqrt(0.0525) = 0.22913.
    # Thresholds: 1.01 on nine folds, 0.41 on fold 5 -> mean (9 x 1.01 + 0.41) / 10 = 0.95.
    result = evaluate_verification(_pairs_at(distances), issame, n_folds=10)

    assert result.fold_accuracies == pytest.approx([1, 1, 1, 0.5, 1, 0.5, 1, 0.5, 1, 1])
    assert result.fold_thresholds == pytest.approx([1.01] * 5 + [0.41] + [1.01] * 4)
    assert result.accuracy == pytest.approx(0.85)
    assert result.accuracy_std == pytest.approx(np.sqrt(0.0525))
    assert result.threshold == pytest.approx(0.95)
    assert result.tar_at_far is None  # 10 impostor pairs are far too few for FAR = 1e-3


def test_folds_are_unshuffled_kfold_blocks() -> None:
    folds = fold_indices(23, 10)
    # KFold(10, shuffle=False) on 23 items: the first 23 % 10 = 3 folds hold 3, the rest 2
    assert [len(f) for f in folds] == [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]
    assert np.array_equal(np.concatenate(folds), np.arange(23))
    with pytest.raises(ConfigError):
        fold_indices(9, 10)


def test_accuracy_counts_match_a_direct_count() -> None:
    rng = np.random.default_rng(3)
    distances = np.round(rng.uniform(0, 4, 500), 2)  # on the grid: the strict "<" matters
    issame = rng.random(500) < 0.5
    thresholds = np.arange(0.0, 4.0, 0.01)
    direct = [np.mean((distances < t) == issame) for t in thresholds]
    assert accuracy_at_thresholds(distances, issame, thresholds) == pytest.approx(direct)


def test_embeddings_are_normalised_first() -> None:
    rng = np.random.default_rng(5)
    embeddings = rng.normal(size=(200, 16))
    issame = rng.random(100) < 0.5
    scaled = embeddings * rng.uniform(0.1, 10.0, size=(200, 1))
    assert pair_distances(scaled) == pytest.approx(pair_distances(embeddings))
    assert evaluate_verification(scaled, issame) == evaluate_verification(embeddings, issame)
    assert np.all((pair_distances(embeddings) >= 0) & (pair_distances(embeddings) <= 4))


def test_tar_at_far_hand_example() -> None:
    # 1000 impostors evenly from 1.0 to 3.0 (step 2/999): FAR 1e-3 lets floor(1.0) = 1 through,
    # so the threshold is the 2nd smallest impostor distance, 1.002002...; genuine pairs at
    # 0.5 and 1.0005 fall below it, 1.5 does not: TAR = 2/3.
    impostor = np.linspace(1.0, 3.0, 1000)
    genuine = np.array([0.5, 1.0005, 1.5])
    distances = np.concatenate([genuine, impostor])
    issame = np.array([True] * 3 + [False] * 1000)
    assert tar_at_far(distances, issame, 1e-3) == pytest.approx(2 / 3)
    # at FAR 1e-2, 10 impostors may pass: threshold 1.02002, still 2 of 3 genuine
    assert tar_at_far(distances, issame, 1e-2) == pytest.approx(2 / 3)
    # 999 impostors are too few to measure FAR = 1e-3
    assert tar_at_far(distances[:-1], issame[:-1], 1e-3) is None


def test_tar_at_far_is_reported_for_large_sets() -> None:
    rng = np.random.default_rng(11)
    n = 2400  # 1200 impostor pairs
    embeddings = rng.normal(size=(2 * n, 8))
    issame = np.arange(n) % 2 == 0
    embeddings[1::2][issame] = embeddings[0::2][issame] + 0.01 * rng.normal(size=(n // 2, 8))
    result = evaluate_verification(embeddings, issame)
    assert result.tar_at_far is not None and set(result.tar_at_far) == {"1e-03"}
    assert result.tar_at_far["1e-03"] == 1.0  # genuine pairs are near-identical
    assert result.accuracy == 1.0


def test_bad_shapes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="even number"):
        evaluate_verification(np.zeros((21, 4)), [True] * 10)
    with pytest.raises(ConfigError, match="flags"):
        evaluate_verification(np.ones((40, 4)), [True] * 19)
