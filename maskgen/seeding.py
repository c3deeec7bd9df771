"""Per-item random generators: each item's draw depends only on (seed, key).

That makes output independent of worker count, chunk size, processing order and resume.
``hash()`` is salted per process, so keys are folded with CRC-32 instead.
"""

from __future__ import annotations

import zlib

import numpy as np

from maskgen.types import Key


def item_rng(seed: int, key: Key) -> np.random.Generator:
    """A Generator for one item, reproducible across processes and machines."""
    key_bytes = str(key).encode("utf-8")
    return np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(key_bytes), len(key_bytes)])
