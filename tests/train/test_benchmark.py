"""The training benchmark runs end to end at smoke sizes on the CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.torch, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def test_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    script = REPO / "benchmarks" / "train_throughput.py"
    result = subprocess.run(
        [sys.executable, str(script), "--smoke", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["settings"]["network"] == "tiny"
    assert report["mtarcface"]["samples_per_s"] > 0 and report["arcface_only"]["samples_per_s"] > 0
    assert report["loader"]["images_per_s"] > 0 and report["loader"]["images"] >= 8 * 16
    assert "mask head cost" in result.stdout


@pytest.mark.shared
def test_online_mask_loader_benchmark_smoke(tmp_path: Path) -> None:
    """Both modes of benchmarks/online_mask_loader.py at smoke sizes: the CPU loader table and
    the fed-or-not check (run on the CPU with the tiny network)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    script = REPO / "benchmarks" / "online_mask_loader.py"
    reports = {}
    for mode, extra in (("cpu", ()), ("device", ("--device", "cpu", "--network", "tiny"))):
        out = tmp_path / f"{mode}.json"
        result = subprocess.run(
            [sys.executable, str(script), "--smoke", *extra, "--out", str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        reports[mode] = json.loads(out.read_text())
    rows = reports["cpu"]["rows"]
    assert [(r["workers"], r["masked_prob"]) for r in rows] == [
        (0, 0.5),
        (0, 0.0),
        (1, 0.5),
        (1, 0.0),
    ]
    assert all(r["images"] >= 192 and r["images_per_s"] > 0 for r in rows)
    assert rows[0]["images_per_cpu_s"] > 0 and rows[2]["images_per_cpu_s"] > 0
    # decoding alone may take less CPU than the clock resolves at smoke sizes
    assert all(r["images_per_cpu_s"] is None or r["images_per_cpu_s"] > 0 for r in rows)
    assert rows[0]["masked_share"] > 0 and rows[1]["masked_share"] == 0
    device = reports["device"]
    assert device["step_alone_samples_per_s"] > 0 and device["step_fed_samples_per_s"] > 0
    assert device["loader"]["masked_share"] > 0 and isinstance(device["fed"], bool)
