"""Per-item random generators: each item's draw depends only on (seed, key).

That makes output independent of worker count, chunk size, processing order and resume.
``hash()`` is salted per process, so keys are folded with CRC-32 instead.
"""

from __future__ import annotations

import zlib

import numpy as np

from maskgen.types import Key


def item_rng(seed: int, key: Key) -> np.random.Generator:
    """A Generator for one item, reproducible across processes and machines. A key holding
    a file name that is not UTF-8 (Python's surrogate escapes, as ``os.listdir`` gives it)
    folds in the name's own bytes; every other key its UTF-8 bytes."""
    key_bytes = str(key).encode("utf-8", "surrogateescape")
    return np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(key_bytes), len(key_bytes)])
