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
