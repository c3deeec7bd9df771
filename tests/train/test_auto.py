"""Settings chosen for the data and the machine: batch, loader workers, CPU threads."""

from __future__ import annotations

import os

import pytest

from maskgen.errors import TrainingError
from maskgen.train.auto import auto_batch_size, available_cores, passive_openmp, resolve_auto
from maskgen.train.config import TrainConfig


def test_batch_is_the_papers_unless_the_set_is_small() -> None:
    assert auto_batch_size(5_800_000) == 512
    assert auto_batch_size(2048) == 512
    assert auto_batch_size(2047) == 256
    assert auto_batch_size(294) == 64  # lfw-mini: 4 batches an epoch, not a refusal
    assert auto_batch_size(5) == 2  # batch normalisation needs 2 samples, not 1
    assert auto_batch_size(3) == 2
    assert auto_batch_size(294, world_size=3) == 63  # a multiple of the process count
    assert auto_batch_size(20, world_size=8) == 16
    with pytest.raises(TrainingError, match="3 images cannot fill a batch of 2 images"):
        auto_batch_size(3, world_size=2)
    with pytest.raises(TrainingError, match=r"^1 image cannot fill a batch of 2 images \("):
        auto_batch_size(1)  # it said "1 images ... for each of the 1 processes"


def test_workers_and_threads_share_the_cores() -> None:
    config = TrainConfig(data="d.rec", output="o")
    two = resolve_auto(config, num_samples=294, cores=2)
    assert (two.config.batch_size, two.config.workers, two.config.threads) == (64, 1, 1)
    assert any("batch_size 64" in note and "294 images" in note for note in two.notes)
    assert len(two.notes) == 3
    assert two.notes[2].endswith("the cores beside 1 automatic worker)")  # not "1 ... workers"
    one = resolve_auto(config, num_samples=294, cores=1)
    assert (one.config.workers, one.config.threads) == (0, 1)
    assert "workers 0 (1 core for this process" in one.notes[1]  # it said "1 cores"
    big = resolve_auto(config, num_samples=10**6, cores=64, local_world_size=4)
    assert (big.config.batch_size, big.config.workers, big.config.threads) == (512, 8, 8)
    given = resolve_auto(TrainConfig(data="d.rec", workers=0), num_samples=294, cores=2)
    assert (given.config.workers, given.config.threads) == (0, 1)  # not 2: resume stays exact
    gpu = resolve_auto(config, num_samples=10**6, cores=16, device_type="cuda")
    assert (gpu.config.workers, gpu.config.threads) == (8, None)  # torch's own threads on GPU


def test_given_settings_are_kept_and_not_announced() -> None:
    config = TrainConfig(data="d.rec", output="o", batch_size=32, workers=3, threads=2)
    chosen = resolve_auto(config, num_samples=294, cores=2)
    assert chosen.config == config and chosen.notes == ()


def test_passive_openmp_respects_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert passive_openmp() is True and os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert passive_openmp() is False and os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


@pytest.mark.shared
def test_train_on_a_small_set_chooses_and_says_so(lfw_mini, tmp_path) -> None:
    """The 294-image set that the fixed batch of 512 refused: a batch of 64, announced, stored
    in config.json (the workers and threads are chosen again on --resume)."""
    import json

    from click.testing import CliRunner

    from maskgen.cli.main import cli

    run = tmp_path / "run"
    args = ["train", "--data", str(lfw_mini), "--network", "tiny", "--device", "cpu"]
    args += ["--steps", "1", "--workers", "0", "--augment", "none", "-o", str(run)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    plan, first = result.output.splitlines()[:2]
    assert plan == (
        "training tiny without a mask head (no masked twin) on cpu (fp32) for 1 step of 64 "
        "images, 1 epoch of 294"
    )
    assert first.startswith("chose batch_size 64 (the paper's 512, halved until the 294 images")
    cores = available_cores()
    threads = max(1, cores - min(8, cores - 1))  # not all cores: --workers may change on resume
    assert f"; threads {threads} " in first
    assert "; workers" not in first
    stored = json.loads((run / "config.json").read_text())["config"]
    assert (stored["batch_size"], stored["workers"], stored["threads"]) == (64, 0, None)
