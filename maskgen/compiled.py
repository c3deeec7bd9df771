"""Whether maskgen's inner loops (the landmark fit, the warp map) run as numba kernels or in numpy.

Each loop has both forms, equal to the bit (tests compare them on real faces). numba's are
several times faster per face (fit 0.2-0.7 ms against 1.5-4 ms, warp 0.06 ms against 0.4 ms on
this project's 2-core AMD EPYC VM), but loading numba costs a process about 0.45 s of CPU and
its exit about 0.25 s more: more than a run over a few dozen photos spends masking them. So a
process starts in numpy and moves to numba for good once its fits pass :data:`COMPILE_AFTER`
faces, at once where numba is already loaded, or where asked to (:func:`prefer_compiled`: the
pipeline does so before it forks workers for a large run, so that they share one loaded numba).
``MASKGEN_KERNELS=numba`` or ``=numpy`` in the environment fixes the choice (benchmarks, tests).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

COMPILE_AFTER = 64
"""Faces a process fits in numpy before it loads numba: about where the time numpy loses on
them (~3 ms a face with its warp) reaches what loading numba costs."""

KERNELS_ENV = "MASKGEN_KERNELS"

_state = {"faces": 0, "preferred": False}


def use_compiled(faces: int = 0) -> bool:
    """Whether to run the numba kernels for the next ``faces`` faces (counted towards
    :data:`COMPILE_AFTER`; 0 asks without counting, e.g. for a face already fitted). Any
    ``MASKGEN_KERNELS`` value other than numba or numpy means the automatic choice."""
    forced = os.environ.get(KERNELS_ENV, "").strip().lower()
    if forced in ("numba", "numpy"):
        return forced == "numba"
    _state["faces"] += faces
    return bool(_state["preferred"]) or _state["faces"] > COMPILE_AFTER or "numba" in sys.modules


def prefer_compiled() -> None:
    """Use the numba kernels from now on in this process (and in processes forked from it):
    for a run long enough to repay loading numba. Loads nothing by itself."""
    _state["preferred"] = True


def jit(func: Callable[..., Any]) -> Any:
    """``numba.njit(nogil=True)`` for the kernel modules, cached on disk where numba can write
    (beside the module, else its user cache folder), else compiled once per process. Imports
    numba, so only the kernel modules, themselves imported lazily, call it."""
    import numba

    try:
        return numba.njit(cache=True, nogil=True)(func)
    except RuntimeError:  # numba found no writable cache folder
        return numba.njit(nogil=True)(func)
