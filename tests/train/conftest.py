"""Fixtures for the training tests: lfw-mini, its real twin from `maskgen augment`, and a
twin drawn here (see helpers) whose labels and identities the data tests control."""

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


@pytest.fixture(scope="session")
def lfw_mini_augmented(lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real masked twin of lfw-mini, made by `maskgen augment` (aligned mode, seed 0)."""
    from maskgen.masks import MaskSpec
    from maskgen.pipeline import augment_dataset

    out = tmp_path_factory.mktemp("augmented")
    return augment_dataset(lfw_mini, out, spec=MaskSpec(), workers=1, progress=False).output
