"""Fixtures for the training tests: lfw-mini and a masked twin of it made here (see helpers)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.train.helpers import write_masked_twin

# Every test here needs PyTorch (the [train] extra); without it none is collected.
collect_ignore_glob = [] if importlib.util.find_spec("torch") else ["test_*.py"]


@pytest.fixture(scope="session")
def lfw_mini(rec_dir: Path) -> Path:
    return rec_dir / "lfw-mini" / "train.rec"


@pytest.fixture(scope="session")
def lfw_mini_twin(lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_masked_twin(lfw_mini, tmp_path_factory.mktemp("twin") / "train.rec")
