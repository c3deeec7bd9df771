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
