"""Run chunk jobs on an existing Dask distributed cluster, through joblib's Dask backend.

Workers open the input and write parts themselves, so the input and OUTDIR must sit on a file
system every worker sees under the same path. Needs the ``dask`` extra; imported only here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator

import joblib

from maskgen.errors import ConfigError, MaskgenError
from maskgen.pipeline.local import run_jobs
from maskgen.pipeline.step import ChunkJob, ChunkSummary

CONNECT_TIMEOUT = "20s"


def run_jobs_on_dask(jobs: Iterable[ChunkJob], n_jobs: int, address: str) -> Iterator[ChunkSummary]:
    """Each job's summary as it finishes, computed on the cluster at ``address``, as many at
    once as the cluster has worker threads (joblib's Dask backend sets that, whatever
    ``n_jobs`` a caller asks for)."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError(
            f"scheduler={address!r} needs Dask distributed: pip install 'maskgen[dask]'",
            parameters={f"scheduler={address!r}": "scheduler"},
        ) from None
    _check_address(address)
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        raise ConfigError(
            f"scheduler={address!r}: cannot connect ({error})",
            parameters={f"scheduler={address!r}": "scheduler"},
        ) from None
    silenced: dict[str, int] = {}
    try:
        with client, joblib.parallel_config(backend="dask", client=client):
            try:
                yield from run_jobs(jobs, n_jobs, workers=-1, backend=None)
            except BaseException as error:  # an interrupt too: the client closes with jobs out
                silenced = _silence(SHUTDOWN_LOGGERS)
                if _unopened_file(error):
                    raise _unshared_path(error, address) from None
                raise
    finally:
        for name, level in silenced.items():
            logging.getLogger(name).setLevel(level)


SHUTDOWN_LOGGERS = ("tornado.application", "distributed", "distributed.client", "asyncio")
"""Loggers that report a client closed with jobs still out: a Ctrl-C or SIGTERM printed
tornado's ``CommClosedError`` traceback (the futures' trackers losing their connection) and
distributed's ``Couldn't gather 2 keys, rescheduling`` above ``Stopped by SIGTERM.``; the run's
own error or interrupt says what happened. ``distributed.client`` is named apart: Dask's
logging config gives it its own level and handler, so the parent's level does not reach it."""


def _silence(names: Iterable[str]) -> dict[str, int]:
    """Raise each logger's level above CRITICAL; their levels before, to restore."""
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    return levels


def _unopened_file(error: BaseException) -> bool:
    """Whether ``error`` is a file that could not be opened (an OSError naming it, not one of
    maskgen's own). A lost connection to the cluster (distributed's ``CommClosedError``, a
    ``TimeoutError``) is an OSError too, naming no file: it is raised as it came."""
    if not isinstance(error, OSError) or isinstance(error, MaskgenError):
        return False
    return error.filename is not None


def _unshared_path(error: OSError, address: str) -> ConfigError:
    """A worker's failure to open a file this process opened (the input, a part in OUTDIR):
    the cluster's file system is not this one where it matters. One line for it, not the
    worker's traceback."""
    what = f"{error.filename} ({error.strerror})" if error.filename else str(error)
    return ConfigError(
        f"scheduler={address!r}: a worker cannot open {what}; the input and OUTDIR must be on "
        "a file system every worker sees under the same path",
        parameters={f"scheduler={address!r}": "scheduler"},
    )


def _check_address(address: str) -> None:
    """ConfigError for an address dask cannot parse, before a Client is made: a Client whose
    constructor fails on one is left half made, and closing it at exit takes 40 s and prints
    a traceback."""
    from distributed.comm import parse_address
    from distributed.comm.registry import get_backend

    try:
        scheme, location = parse_address(address)
        backend = get_backend(scheme)  # ValueError naming the known schemes
        with contextlib.suppress(NotImplementedError):  # inproc: no host and port to check
            backend.get_address_host_port(location)
    except ValueError as error:
        raise ConfigError(
            f"scheduler={address!r}: not a Dask scheduler address ({error}; "
            "expected e.g. tcp://head:8786)",
            parameters={f"scheduler={address!r}": "scheduler"},
        ) from None
