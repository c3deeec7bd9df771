"""Run chunk jobs on this machine's cores: forked worker processes that share the parent's
loaded models (Linux), else joblib's loky processes."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from multiprocessing.pool import Pool

from maskgen import compiled
from maskgen.pipeline.step import ChunkJob, ChunkSummary, MaskerConfig, mask_chunk, prepare_masker

MIN_CHUNKS_PER_WORKER = 2
"""Workers started: at most one per this many chunks. A worker costs about 0.1 s of CPU before
it is up to speed (its own copies of touched memory, the template levels its faces need), so
a run of 2 or 3 chunks (at least 16 items each) finishes as soon in this process, on a busy
machine sooner."""


def default_workers() -> int:
    """Every core this process may use (CPU affinity and cgroup quotas, e.g. under SLURM)."""
    import joblib  # here, not above: a run given its workers, or one in this process, skips it

    return max(1, joblib.cpu_count())


def run_jobs(
    jobs: Iterable[ChunkJob],
    n_jobs: int,
    *,
    workers: int,
    backend: str | None = "loky",
    preload: MaskerConfig | None = None,
    n_items: int | None = None,
) -> Iterator[ChunkSummary]:
    """Each job's summary as it finishes (any order); ``n_jobs`` is how many ``jobs`` yields.
    ``jobs`` is consumed lazily, a few ahead of the workers. With one worker, or fewer than
    :data:`MIN_CHUNKS_PER_WORKER` chunks for a second one, the jobs run in this process.
    ``backend=None`` takes the one set by ``joblib.parallel_config`` (Dask).

    Given ``preload`` on Linux, several workers are forked from this process once it has built
    that Masker: they start at once, and share the 100 MB landmark model's memory pages
    (copy-on-write) instead of each loading a copy, which also helps the CPU caches of a
    memory-bound model. ``n_items``, the items the jobs hold, decides whether that Masker
    loads numba first (:func:`maskgen.compiled.use_compiled` for each worker's share; None:
    it does)."""
    if n_jobs == 0:
        return iter(())
    processes = _processes(workers, n_jobs)
    if preload is not None and backend == "loky" and processes > 1 and _can_fork():
        return _run_forked(jobs, processes, preload, n_items)
    if backend == "loky" and processes == 1:
        return map(mask_chunk, jobs)  # as joblib would run them, without importing it
    import joblib

    parallel = joblib.Parallel(
        n_jobs=processes,
        backend=backend,
        return_as="generator_unordered",
        batch_size=1,
        pre_dispatch="2*n_jobs",
    )
    return parallel(joblib.delayed(mask_chunk)(job) for job in jobs)


def _can_fork() -> bool:
    """Fork is safe for our workers on Linux (no Objective-C runtime as on macOS)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


_PR_SET_PDEATHSIG = 1
"""Linux's ``prctl`` option: a signal for this process when the thread that forked it ends."""


def _start_worker(parent: int) -> None:
    """A forked worker's set-up. It ignores Ctrl-C: the parent stops the pool, and the user
    sees one line, not one traceback per worker. SIGTERM (the pool's terminate, a SIGTERM to
    the process group, the parent's end) unwinds it (:func:`_unwind`), so that the chunk part
    it was writing is discarded, not left under its temporary name. And it ends with its
    parent (``parent``, a pid), however the parent ends (a signal's fast exit, SIGKILL): the
    pool replaces workers that a SIGTERM to the process group ended, and a replacement forked
    just before the parent exits would otherwise wait on the task queue forever (its own copy
    of the queue's write end keeps it open), holding the terminal's or a pipe's stderr."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _unwind)
    with contextlib.suppress(OSError, AttributeError):  # Linux (glibc or musl) only
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent ended before the line above took effect
        os._exit(0)


def _unwind(signum: int, frame: object) -> None:
    """A worker's SIGTERM handler: SystemExit, so that the writers' clean-up runs (temporary
    files removed, as on any error) before the worker ends with the signal's exit status,
    quietly (multiprocessing prints no traceback for SystemExit)."""
    del frame
    signal.signal(signum, signal.SIG_IGN)  # a second one (the pool's terminate) cuts no clean-up
    raise SystemExit(128 + signum)


def _processes(workers: int, n_jobs: int) -> int:
    """The processes :func:`run_jobs` runs ``n_jobs`` jobs in, asked for ``workers``."""
    return workers if workers < 0 else min(workers, max(1, n_jobs // MIN_CHUNKS_PER_WORKER))


def loads_numba_before_forking(workers: int, n_jobs: int, n_items: int) -> bool:
    """Whether :func:`run_jobs` (its default backend, given ``preload``) loads numba in this
    process before forking its workers, which then compile the kernels before their first
    chunk where numba's cache lacks them."""
    processes = _processes(workers, n_jobs)
    return processes > 1 and _can_fork() and compiled.use_compiled(n_items // processes)


def _run_forked(
    jobs: Iterable[ChunkJob], processes: int, preload: MaskerConfig, n_items: int | None
) -> Iterator[ChunkSummary]:
    if n_items is None or compiled.use_compiled(n_items // processes):
        compiled.prefer_compiled()  # enough work to repay loading numba, once, in this process
    prepare_masker(preload)  # before the fork, so every worker inherits it (and numba)
    context = multiprocessing.get_context("fork")
    children_before = {child.pid for child in multiprocessing.active_children()}
    pool = context.Pool(processes, initializer=_start_worker, initargs=(os.getpid(),))
    finished = False
    try:
        # the pool's feeder blocks once its pipe is full, so jobs are still made lazily
        yield from pool.imap_unordered(mask_chunk, jobs, chunksize=1)
        finished = True
    finally:
        if finished:
            # every job is done: let the workers exit on their own. Pool.terminate() on idle
            # workers can deadlock (a worker killed while holding the task queue's lock).
            pool.close()
            pool.join()
        else:  # an error or an interrupt: stop the workers now
            _terminate(pool, children_before)


POOL_TERMINATE_TIMEOUT_S = 10.0
"""How long ``Pool.terminate()`` may take before the workers are killed instead."""


def _terminate(pool: Pool, children_before: set[int | None]) -> None:
    """``pool.terminate()``, given :data:`POOL_TERMINATE_TIMEOUT_S`; after that, every child
    process started since ``children_before`` (pids) is killed and this returns. CPython's
    terminate first takes the task queue's lock, which a worker waiting for a task holds: in
    about 1 of 13 runs stopped by a failing worker (a full disk, 2 workers), it waited there
    for ever and the command never ended. The waiting thread is a daemon: it does not hold
    the process open."""
    stopper = threading.Thread(target=pool.terminate, name="maskgen-pool-terminate", daemon=True)
    stopper.start()
    stopper.join(POOL_TERMINATE_TIMEOUT_S)
    if not stopper.is_alive():
        return
    for child in multiprocessing.active_children():
        if child.pid not in children_before:
            child.kill()
            child.join(1.0)
