"""benchmarks/wear_classes.py: the schedule that reaches `maskgen train`, and a prepared work
folder reused without aligning or masking again."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import ModuleType

import pytest

from tests.benchmarks.conftest import load_benchmark


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("wear_classes")


def _args(**values: object) -> argparse.Namespace:
    defaults = {"schedule": "poly", "warmup": 100, "min_images": 4, "per_person": 15}
    return argparse.Namespace(**{**defaults, "people_train": 300, "workers": 1, **values})


@pytest.mark.torch
def test_poly_schedule_reaches_training_and_decays_to_zero(
    bench: ModuleType, tmp_path: Path
) -> None:
    from maskgen.train.config import resolve_config
    from maskgen.train.trainer import lr_factor

    options = bench.schedule_options(tmp_path, _args())
    assert options[0] == "--config"
    config = resolve_config(config_file=options[1], overrides={"lr": 0.1, "steps": 4000})
    assert (config.schedule, config.warmup_steps, config.poly_power) == ("poly", 100, 2.0)
    factor = lr_factor(config, 4000)
    assert factor(0) == pytest.approx(0.01)
    assert factor(100) == pytest.approx(1.0)
    assert factor(3999) < 1e-6
    # constant: no file, so train's step milestones (far past the run) leave lr at 0.1
    assert bench.schedule_options(tmp_path, _args(schedule="constant")) == []
    constant = resolve_config(overrides={"lr": 0.1, "steps": 4000})
    assert lr_factor(constant, 4000)(3999) == 1.0


def test_prepared_work_folder_is_reused(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError(f"maskgen called again: {args}")

    monkeypatch.setattr(bench, "maskgen", refuse)
    for name in ("train", "held"):
        (tmp_path / f"{name}-wear").mkdir()
        (tmp_path / f"{name}.rec").write_bytes(b"")
        (tmp_path / f"{name}-wear" / f"{name}.rec").write_bytes(b"")
    sets, reused = bench.prepare(tmp_path, _args())
    assert reused
    assert sets["held"] == (tmp_path / "held.rec", tmp_path / "held-wear" / "held.rec")
    # one file missing: the sets are made again (here: the refusing stub is reached)
    (tmp_path / "held-wear" / "held.rec").unlink()
    monkeypatch.setattr(bench, "LFW", tmp_path / "no-lfw")
    (tmp_path / "no-lfw").mkdir()
    with pytest.raises(AssertionError, match="maskgen called again"):
        bench.prepare(tmp_path, _args())


def test_new_aligned_sets_get_folders_of_their_own(bench: ModuleType, tmp_path: Path) -> None:
    """train.rec and held.rec were aligned side by side in DIR, so held's `maskgen align`
    replaced train's `property` (align now refuses that): new sets go to DIR/<name>/."""
    assert bench._aligned_path(tmp_path, "held") == tmp_path / "held" / "held.rec"
    (tmp_path / "held.rec").write_bytes(b"")
    assert bench._aligned_path(tmp_path, "held") == tmp_path / "held.rec"  # an earlier run's
