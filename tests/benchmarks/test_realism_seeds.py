"""benchmarks/realism_seeds.py: several models' mask probabilities read together."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from tests.benchmarks.conftest import load_benchmark


@pytest.fixture(scope="module")
def realism_seeds() -> ModuleType:
    return load_benchmark("realism_seeds")


def test_counts_each_photos_wrong_models_and_the_ensemble(realism_seeds: ModuleType) -> None:
    """Three models on 2 masked, 2 bare and 3 RMFD photos (RMFD position 2 shows no mask):
    a photo one model gets wrong by a little is right in the ensemble, one all get wrong
    stays wrong, and leaving RMFD's maskless crop out counts only the rest."""
    models = [
        {
            "mfr2_masked": np.array([0.9, 0.4]),
            "mfr2_unmasked": np.array([0.1, 0.2]),
            "rwmfd": np.array([0.8, 0.9, 0.3]),
        },
        {
            "mfr2_masked": np.array([0.9, 0.6]),
            "mfr2_unmasked": np.array([0.1, 0.7]),
            "rwmfd": np.array([0.8, 0.9, 0.2]),
        },
        {
            "mfr2_masked": np.array([0.9, 0.7]),
            "mfr2_unmasked": np.array([0.3, 0.2]),
            "rwmfd": np.array([0.8, 0.4, 0.1]),
        },
    ]
    result = realism_seeds.summarise(models, left_out=[2])
    masked = result["sets"]["mfr2_masked"]
    assert masked["wrong_in_n_models"] == [1, 1, 0, 0] and masked["wrong_by_photo"] == {1: 1}
    assert masked["ensemble_accuracy"] == 1.0  # mean 0.57 on photo 1
    assert result["sets"]["rwmfd"]["wrong_by_photo"] == {1: 1, 2: 3}
    # each model gets 5 of 7 right; the ensemble misses only RMFD's maskless crop
    assert result["all"]["per_model_accuracy"] == pytest.approx([5 / 7] * 3, abs=1e-4)
    assert result["all"]["ensemble_accuracy"] == pytest.approx(6 / 7)
    assert result["all_checked"]["photos"] == 6
    assert result["all_checked"]["ensemble_accuracy"] == 1.0
    assert result["all_checked"]["per_model_accuracy"] == pytest.approx([5 / 6] * 3, abs=1e-4)
