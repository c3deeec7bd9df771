"""Run chunk jobs on an existing Dask distributed cluster, through joblib's Dask backend.

Workers open the input and write parts themselves, so the input and OUTDIR must sit on a file
system every worker sees under the same path. Needs the ``dask`` extra; imported only here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import joblib

from maskgen.errors import ConfigError
from maskgen.pipeline.local import run_jobs
from maskgen.pipeline.step import ChunkJob, ChunkSummary

CONNECT_TIMEOUT = "20s"


def run_jobs_on_dask(
    jobs: Iterable[ChunkJob], n_jobs: int, address: str, *, workers: int | None = None
) -> Iterator[ChunkSummary]:
    """Each job's summary as it finishes, computed on the cluster at ``address``
    (``workers``: at most this many jobs at once; None: as many as the cluster has cores)."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError(
            "--scheduler needs Dask distributed: pip install 'maskgen[dask]'"
        ) from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        raise ConfigError(f"--scheduler {address}: cannot connect ({error})") from None
    with client, joblib.parallel_config(backend="dask", client=client):
        yield from run_jobs(jobs, n_jobs, workers=workers or -1, backend=None)
