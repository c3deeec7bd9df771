"""Whether maskgen's inner loops (the landmark fit, the warp map) run as numba kernels or in numpy.

Each loop has both forms, equal to the bit (tests compare them on real faces). numba's save
about 1.6 ms of CPU per face, photo or aligned crop (fit, warp and face checks together: 7.3
against 9.0 ms per LFW photo on this project's 2-core AMD EPYC VM), but loading numba and the
kernels costs a process about 0.55 s of CPU: more than a run of a few hundred faces saves. So a
process starts in numpy and moves to numba for good once its landmark model has fitted
:data:`COMPILE_AFTER` faces (the model keeps the count, :class:`FaceCount`), or once numba is
loaded: :func:`prefer_compiled` loads it, as the pipeline does before it forks workers for a
run with more than that many faces per worker, so that they share one loaded numba. The only
process-wide state is Python's own record of loaded modules.
``MASKGEN_KERNELS=numba`` or ``=numpy`` in the environment fixes the choice (benchmarks, tests).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

COMPILE_AFTER = 400
"""Faces a process fits in numpy before it loads numba: about where the time numpy loses on
them (~1.6 ms a face) reaches what loading numba costs (~0.55 s), the break-even rule of
renting before buying."""

KERNELS_ENV = "MASKGEN_KERNELS"


def forced_choice() -> bool | None:
    """True for ``MASKGEN_KERNELS=numba``, False for ``=numpy`` (any case), else None: the
    automatic choice."""
    forced = os.environ.get(KERNELS_ENV, "").strip().lower()
    return forced == "numba" if forced in ("numba", "numpy") else None


def use_compiled(faces_seen: int = 0) -> bool:
    """Whether to run the numba kernels, for a caller that has fitted ``faces_seen`` faces in
    this process (0: one that does not count, e.g. the warp of a face already fitted): yes
    past :data:`COMPILE_AFTER` faces, or wherever numba is loaded already, unless
    ``MASKGEN_KERNELS`` fixes the choice."""
    forced = forced_choice()
    if forced is not None:
        return forced
    return faces_seen > COMPILE_AFTER or "numba" in sys.modules


def prefer_compiled() -> None:
    """Load numba now (about 0.3 s of CPU), so that this process and the processes forked from
    it use the numba kernels: for a run long enough to repay it. Nothing where
    ``MASKGEN_KERNELS=numpy``."""
    if forced_choice() is not False:
        import numba  # noqa: F401


def is_cached(kernel: Any) -> bool:
    """Whether numba's cache on disk holds ``kernel`` (a :func:`jit` dispatcher) compiled for
    this machine, this numba and this source: its ``FunctionCache`` index lists an overload
    (numba's own ``_load_index`` finds none in an index of another numba version or source
    stamp, as after an upgrade). False before its first compile, and where numba cannot cache;
    with another numba's internals, whether the index file exists."""
    cache_file = getattr(getattr(kernel, "_cache", None), "_cache_file", None)
    load_index = getattr(cache_file, "_load_index", None)
    if load_index is not None:
        with contextlib.suppress(Exception):  # a damaged index: numba compiles again
            return bool(load_index())
        return False
    index = getattr(cache_file, "_index_path", None)
    return bool(index) and os.path.exists(index)


class FaceCount:
    """The faces one model has fitted in this process, which move it to numba after
    :data:`COMPILE_AFTER` of them (:func:`use_compiled`)."""

    def __init__(self) -> None:
        self.faces = 0

    def use_compiled(self, faces: int) -> bool:
        """:func:`use_compiled` for the next ``faces`` faces, counting them."""
        self.faces += faces
        return use_compiled(self.faces)


def jit(func: Callable[..., Any]) -> Any:
    """``numba.njit(nogil=True)`` for the kernel modules, cached on disk where numba can write
    (beside the module, else its user cache folder), else compiled once per process. Imports
    numba, so only the kernel modules, themselves imported lazily, call it."""
    import numba

    try:
        dispatcher = numba.njit(cache=True, nogil=True)(func)
    except RuntimeError:  # numba found no writable cache folder
        return numba.njit(nogil=True)(func)
    _keep_running_if_the_cache_cannot_be_written(dispatcher)
    return dispatcher


def _keep_running_if_the_cache_cannot_be_written(dispatcher: Any) -> None:
    """A kernel compiled where its cache cannot be written (a full disk, a quota: numba picks
    a folder it may write to, not one with room) runs all the same, and compiles again in the
    next process: numba raised the OSError of its cache file, and the first run after an
    install on a nearly full disk ended in a traceback instead of maskgen's own error line.
    numba removes its half-written file itself; its index may name a data file it then
    treats as missing."""
    cache = getattr(dispatcher, "_cache", None)
    save = getattr(cache, "save_overload", None)
    if save is None:  # another numba: its own behaviour
        return

    def save_overload(*args: Any, **kwargs: Any) -> None:
        with contextlib.suppress(OSError):
            save(*args, **kwargs)

    cache.save_overload = save_overload
