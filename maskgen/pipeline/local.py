"""Run chunk jobs on this machine's cores with joblib (loky: one process per worker)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import joblib

from maskgen.pipeline.step import ChunkJob, ChunkSummary, mask_chunk


def default_workers() -> int:
    """Every core this process may use (CPU affinity and cgroup quotas, e.g. under SLURM)."""
    return max(1, joblib.cpu_count())


def run_jobs(
    jobs: Iterable[ChunkJob], n_jobs: int, *, workers: int, backend: str | None = "loky"
) -> Iterator[ChunkSummary]:
    """Each job's summary as it finishes (any order); ``n_jobs`` is how many ``jobs`` yields.
    ``jobs`` is consumed lazily, a few ahead of the workers. With one worker the jobs run in
    this process. ``backend=None`` takes the one set by ``joblib.parallel_config`` (Dask)."""
    if n_jobs == 0:
        return iter(())
    parallel = joblib.Parallel(
        n_jobs=workers if workers < 0 else min(workers, n_jobs),
        backend=backend,
        return_as="generator_unordered",
        batch_size=1,
        pre_dispatch="2*n_jobs",
    )
    return parallel(joblib.delayed(mask_chunk)(job) for job in jobs)
