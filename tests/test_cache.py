"""The user's cache (maskgen.cache): an entry its reader rejects is replaced once, and a cache
that cannot be written never fails the caller."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from maskgen import cache


def _is_square(arrays: dict[str, np.ndarray]) -> bool:
    return arrays["a"].shape == (3, 3)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(folder))
    return folder


def test_a_rejected_entry_is_removed_and_the_next_write_stored(root: Path) -> None:
    cache.write_arrays("e", {"a": np.zeros((2, 5), np.float32)})  # as another maskgen wrote
    assert cache.read_arrays("e", ("a",)) is not None  # loadable
    assert cache.read_arrays("e", ("a",), _is_square) is None
    assert os.listdir(root) == []  # no entry, and nothing left aside
    cache.write_arrays("e", {"a": np.eye(3, dtype=np.float32)})
    stored = cache.read_arrays("e", ("a",), _is_square)
    assert stored is not None and np.array_equal(stored["a"], np.eye(3))


def test_an_entry_that_cannot_be_removed_is_only_passed_over(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only cache (rename refused, as on a read-only mount): the reader gets None, the
    write does nothing, neither raises."""
    cache.write_arrays("e", {"a": np.zeros((2, 5), np.float32)})

    def refused(*args: object) -> None:
        raise PermissionError(30, "Read-only file system")

    with monkeypatch.context() as patched:
        patched.setattr(os, "rename", refused)
        assert cache.read_arrays("e", ("a",), _is_square) is None
        cache.write_arrays("e", {"a": np.eye(3, dtype=np.float32)})
    assert np.load(root / "e" / "a.npy").shape == (2, 5)  # the old entry, kept


def test_each_kind_keeps_its_most_recently_used_entries(root: Path) -> None:
    """Every new environment put its model at a new path and so stored a new 64 MB entry:
    2.6 GB after a few dozen installs, never pruned."""
    keys = [f"{i:020x}" for i in range(7)]
    for number, key in enumerate(keys[:6]):
        cache.write_arrays(f"shape_predictor-{key}", {"a": np.eye(3, dtype=np.float32)})
        cache.write_arrays(f"level-cloth-2-{key}-{'f' * 20}", {"a": np.eye(3)})
        for entry in root.iterdir():  # one second apart, as runs are
            os.utime(entry, ns=(entry.stat().st_mtime_ns - 10**9,) * 2)
        assert len(list(root.glob("shape_predictor-*"))) == min(number + 1, cache.KEEP_PER_KIND)
    assert cache.read_arrays(f"shape_predictor-{keys[2]}", ("a",)) is not None  # used again
    cache.write_arrays(f"shape_predictor-{keys[6]}", {"a": np.eye(3, dtype=np.float32)})
    kept = sorted(p.name.removeprefix("shape_predictor-") for p in root.glob("shape_predictor-*"))
    assert kept == sorted([keys[2], keys[4], keys[5], keys[6]])  # the oldest unused went
    assert len(list(root.glob("level-cloth-2-*"))) == cache.KEEP_PER_KIND  # its own kind
    assert cache.entry_kind(f"frontal_face_detector-{keys[0]}.svm") == "frontal_face_detector"
    assert cache.entry_kind(f"texture-stripes_02-{keys[0]}") == "texture-stripes_02"
    # a name's own long number is not a key: two such textures are two kinds
    assert cache.entry_kind(f"texture-IMG-2023110512345678901-{keys[0]}") == (
        "texture-IMG-2023110512345678901"
    )
