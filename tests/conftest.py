"""Shared fixtures. Data from ../shared/data is read in place, never copied into the repo, and
every test that needs it skips with a reason where it is absent."""

from __future__ import annotations

import importlib.util
import os
import resource
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from maskgen.decoder_messages import QUIET_ENV

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MASKGEN_SHARED_DATA", REPO.parent / "shared" / "data"))


TRAIN_EXTRA = ("torch", "tensorboard")
"""What the [train] extra brings that tests marked ``torch`` need."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``torch`` skip, saying why, where the [train] extra is not installed:
    ``pip install -e .`` alone (masking only) runs the rest, rather than failing six tests on
    ``No module named 'torch'``."""
    missing = [name for name in TRAIN_EXTRA if importlib.util.find_spec(name) is None]
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"needs the [train] extra ({', '.join(missing)} not installed)")
    for item in items:
        if item.get_closest_marker("torch") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _native_decoder_lines_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variable ``maskgen`` sets to keep libpng's and libjpeg's lines off stderr, unset
    again after each test: a command run in this process (CliRunner) sets it for good, and
    later library calls here would then catch their lines too."""
    monkeypatch.delenv(QUIET_ENV, raising=False)


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"needs {path} (the ../shared data set beside the checkout)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of ../shared/data."""
    return _require(SHARED_DATA)


@pytest.fixture(scope="session")
def lfw_dir(shared_data: Path) -> Path:
    """LFW deep-funneled photos: <Person>/<Person>_NNNN.jpg, 250x250."""
    return _require(shared_data / "lfw" / "lfw-deepfunneled")


@pytest.fixture(scope="session")
def lfw_pairs(shared_data: Path) -> Path:
    return _require(shared_data / "lfw" / "pairs.txt")


@pytest.fixture(scope="session")
def rec_dir(shared_data: Path) -> Path:
    """MXNet-1.9.1-written RecordIO fixtures: lfw-mini/, lfw-mini-flat/, split-record/."""
    return _require(shared_data / "rec")


@pytest.fixture(scope="session")
def lfw_fold1_bin(shared_data: Path) -> Path:
    """600 LFW pairs, aligned 112x112, insightface .bin layout."""
    return _require(shared_data / "bin" / "lfw-fold1.bin")


def lfw_sample_paths(lfw_dir: Path, n: int) -> list[Path]:
    """A fixed, spread-out selection of ``n`` LFW photos (sorted people, first photo each)."""
    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())
    step = max(1, len(people) // n)
    return [sorted(p.glob("*.jpg"))[0] for p in people[::step][:n]]


def run_maskgen_without(package: str, args: Sequence[object]) -> subprocess.CompletedProcess[str]:
    """``maskgen ARGS`` in a fresh interpreter where importing ``package`` fails as if it were
    not installed (a None in ``sys.modules`` hides it): what a user without that extra sees."""
    argv = ["maskgen", *map(str, args)]
    probe = (
        f"import sys; sys.modules[{package!r}] = None;"
        f"from maskgen.cli.main import cli; sys.argv = {argv!r}; cli()"
    )
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)


def run_maskgen_limited(
    args: Sequence[object], file_size_limit: int | None, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m maskgen ARGS`` as a user runs it, with every file it writes held under
    ``file_size_limit`` bytes (None: no limit): the OS refuses a longer write (EFBIG), as a
    full disk or a quota stops it. This checkout's code, no user cache; ``env`` adds to the
    environment."""

    def limit() -> None:
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        [sys.executable, "-m", "maskgen", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "MASKGEN_CACHE_DIR": "", **env},
        preexec_fn=limit,
        check=False,
    )
