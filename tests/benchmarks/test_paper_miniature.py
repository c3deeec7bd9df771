"""benchmarks/paper_miniature.py's MTArcFace settings: what reaches `maskgen train`, and the
cache names of runs made before a setting existed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.benchmarks.conftest import load_benchmark


@pytest.fixture(scope="module")
def miniature() -> ModuleType:
    return load_benchmark("paper_miniature")


def test_mask_smoothing_reaches_training_and_zero_keeps_the_old_cache_name(
    miniature: ModuleType, tmp_path: Path
) -> None:
    from maskgen.train.config import TrainConfig, resolve_config

    default = miniature.parse_args(["--work", str(tmp_path)])
    plain = miniature.parse_args(["--work", str(tmp_path), "--mask-smoothing", "0"])
    assert default.mask_smoothing == TrainConfig().mask_smoothing == 0.1
    assert default.twin_wear == "training"
    for args, wanted in ((default, 0.1), (plain, 0.0)):
        flags = miniature.mtarcface_flags(args)
        # what run_arm hands to maskgen.train: a 0 must reach it, not fall back to the default
        assert resolve_config(overrides=flags).mask_smoothing == wanted
    # a run made before the setting existed (no mask_smoothing in its key) keeps its name
    before = {"masked_prob": 0.5}
    assert miniature.cache_key(miniature.mtarcface_flags(plain)) == before
    assert miniature.cache_key(miniature.mtarcface_flags(default)) == {
        "masked_prob": 0.5,
        "mask_smoothing": 0.1,
    }

    def digest(flags: dict) -> str:
        return hashlib.sha1(json.dumps(flags, sort_keys=True).encode()).hexdigest()[:8]

    assert digest(miniature.cache_key(miniature.mtarcface_flags(default))) != digest(before)


def test_work_lock_makes_a_second_run_wait_until_the_first_leaves(
    miniature: ModuleType, tmp_path: Path
) -> None:
    """Seeds started together share one work folder: the second waits while the first builds
    (``maskgen augment`` would refuse a second writer of one twin), then gets its turn."""
    fcntl = pytest.importorskip("fcntl")
    with (
        miniature.work_lock(tmp_path),
        open(tmp_path / ".prepare-lock", "a") as other,
        pytest.raises(BlockingIOError),  # held: another run would wait here
    ):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(tmp_path / ".prepare-lock", "a") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released: free at once


def test_rotations_without_the_realism_jitter_are_refused_before_any_work(
    miniature: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """maskgen train refuses them (and angles over 45), but only after the sets and twins were
    made: its own check now runs on the arguments."""
    with pytest.raises(SystemExit):
        miniature.parse_args(["--work", str(tmp_path), "--augment", "none", "--rotate-limit", "10"])
    assert "rotations are part of augment realism's jitter" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        miniature.parse_args(["--work", str(tmp_path), "--rotate-limit", "50"])
    assert "rotate_limit: must be in [0, 45] degrees" in capsys.readouterr().err
    assert (
        miniature.parse_args(["--work", str(tmp_path), "--rotate-limit", "10"]).rotate_limit == 10
    )
