"""Per-item random generators: each item's draw depends only on (seed, key).

That makes output independent of worker count, chunk size, processing order and resume.
``hash()`` is salted per process, so keys are folded with CRC-32 instead.
"""

from __future__ import annotations

import zlib

import numpy as np

from maskgen.errors import ConfigError
from maskgen.types import Key

SEED_LIMIT = 2**32
"""Seeds are 0 <= seed < 2**32: :func:`item_rng` folds in the seed's low 32 bits, so a larger
or negative seed drew exactly the masks of another (``--seed 4294967296`` those of 0, ``-1``
those of 4294967295) while ``maskgen.json`` recorded it as a seed of its own."""


def check_seed(seed: object) -> int:
    """``seed`` as an int; ConfigError (a ValueError) unless an int in [0, 2**32)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ConfigError(f"seed: {seed!r}, expected an int in [0, 2**32)")
    if not 0 <= int(seed) < SEED_LIMIT:
        raise ConfigError(f"seed: {seed}, expected 0 <= seed < 2**32 (4294967296)")
    return int(seed)


def item_rng(seed: int, key: Key) -> np.random.Generator:
    """A Generator for one item, reproducible across processes and machines. A key holding
    a file name that is not UTF-8 (Python's surrogate escapes, as ``os.listdir`` gives it)
    folds in the name's own bytes; every other key its UTF-8 bytes. ConfigError for a seed
    outside [0, 2**32) (:func:`check_seed`)."""
    seed = check_seed(seed)
    key_bytes = str(key).encode("utf-8", "surrogateescape")
    return np.random.default_rng([seed & 0xFFFFFFFF, zlib.crc32(key_bytes), len(key_bytes)])
