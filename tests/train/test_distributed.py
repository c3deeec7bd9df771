"""Two CPU processes under torchrun (gloo): DistributedDataParallel and the sharded classifier."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from maskgen.nn.checkpoint import read_checkpoint

pytestmark = [pytest.mark.torch, pytest.mark.shared, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def _torchrun(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
    ]
    result = subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _losses(run: Path) -> list[float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r["kind"] == "train"]


def test_two_ranks_stay_identical_and_sharding_changes_nothing(
    lfw_mini: Path, lfw_mini_twin: Path, tmp_path: Path
) -> None:
    settings = {
        "data": str(lfw_mini),
        "masked": str(lfw_mini_twin),
        "network": "tiny",
        "batch_size": 32,
        "steps": 2,
        "lr": 0.1,
        "device": "cpu",
        "workers": 0,
        "log_every": 1,
    }
    # replicated class centres, through the library; each rank saves its own weights
    plain = tmp_path / "plain"
    config = json.dumps({**settings, "output": str(plain)})
    _torchrun(str(HERE / "ddp_worker.py"), config, str(tmp_path / "weights"))
    rank0 = torch.load(tmp_path / "weights.rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "weights.rank1.pt", weights_only=True)
    trained = [k for k, p in rank0["model"].items() if "running_" not in k and "num_b" not in k]
    for key in trained:
        assert torch.equal(rank0["model"][key], rank1["model"][key]), key
    assert torch.equal(rank0["centres"], rank1["centres"])
    # sharded class centres, through the documented launcher
    sharded = tmp_path / "sharded"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
    _torchrun("-m", "maskgen.train", *flags, f"--output={sharded}", "--sharded-classifier")
    ckpt = read_checkpoint(sharded / "last.pt")
    assert ckpt["arcface"]["weight"].shape == (40, 512)  # gathered whole from both shards
    assert torch.allclose(ckpt["arcface"]["weight"], rank0["centres"], atol=1e-5)
    for key in trained:
        assert torch.allclose(ckpt["model"][key], rank0["model"][key], atol=1e-3), key
    assert _losses(sharded) == pytest.approx(_losses(plain), rel=1e-5)


def test_two_ranks_mask_online_alike_with_and_without_workers(
    lfw_mini: Path, tmp_path: Path
) -> None:
    """--online-mask under torchrun: each rank masks its slice of the global batch, keyed by
    record and epoch only, so a run whose ranks load in-process and one with a loader worker
    per rank train identically (3 steps of 32 samples, about half of them masked)."""
    flags = [
        f"--data={lfw_mini}",
        "--online-mask",
        "--mask-types=surgical,kn95",
        *("--network=tiny", "--batch-size=32", "--steps=3", "--lr=0.1", "--device=cpu"),
        "--log-every=1",
    ]
    runs = {}
    for workers in (0, 1):
        run = tmp_path / f"w{workers}"
        _torchrun("-m", "maskgen.train", *flags, f"--workers={workers}", f"--output={run}")
        runs[workers] = run
    assert _losses(runs[0]) == _losses(runs[1]) and len(_losses(runs[0])) == 3
    a, b = (read_checkpoint(run / "last.pt") for run in runs.values())
    assert a["mask_head"] is True and a["config"]["mask_types"] == ["surgical", "kn95"]
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
