"""Run chunk jobs on an existing Dask distributed cluster, through joblib's Dask backend.

Workers open the input and write parts themselves, so the input and OUTDIR must sit on a file
system every worker sees under the same path. Needs the ``dask`` extra; imported only here.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

import joblib

from maskgen.errors import ConfigError, MaskgenError
from maskgen.pipeline.local import run_jobs
from maskgen.pipeline.step import ChunkJob, ChunkSummary

logger = logging.getLogger(__name__)

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
                _stop_chunks(client)
                if _unopened_file(error):
                    raise _unshared_path(error, address) from None
                raise
    finally:
        for name, level in silenced.items():
            logging.getLogger(name).setLevel(level)


STOP_WAIT_SECONDS = 300.0
"""How long a stopped run waits for the chunks its workers are masking, at most. A SIGTERM
allows less: the CLI gives its clean-up 5 s (``_StopSignals.CLEANUP_LIMIT_S``)."""
STOP_POLL_SECONDS = 0.2
STOP_TELL_AFTER_SECONDS = 1.0
"""A wait longer than this is said (a line above "Interrupted."); a shorter one is not."""
STILL_WRITING = (
    "%d chunk(s) the Dask workers are masking still write into OUTDIR; wait until the workers "
    "are idle (the Dask dashboard) before --resume or --overwrite there"
)


def _stop_chunks(client: Any) -> None:
    """Cancel this run's chunks not started, and wait (at most :data:`STOP_WAIT_SECONDS`;
    Ctrl-C stops waiting) for those a worker thread is masking: Python cannot stop a thread,
    and such a chunk wrote its parts into OUTDIR after ``augment`` had exited and released
    OUTDIR's lock, where an ``--overwrite`` started then would have found them. A wait given
    up with chunks still running says so. Where the cluster cannot be asked (a lost
    connection, a closed client), it returns at once: this is clean-up after the run's own
    error or interrupt, which is what is raised.

    ``Client.futures`` (this client's keys), ``Client.cancel`` on futures made for them and
    ``worker.state.executing`` are checked on distributed 2026.8.0."""
    from distributed import Future

    keys = set(client.futures)
    if not keys:
        return
    running: set[str] = set()
    try:
        client.cancel([Future(key, client=client) for key in keys])
        started = time.monotonic()
        told = False
        idle_probes = 0
        # two idle probes one poll apart: the cancel is sent asynchronously, and a chunk
        # queued on a worker may start in between
        while idle_probes < 2 and time.monotonic() < started + STOP_WAIT_SECONDS:
            if client.status != "running":
                return
            running = _running(client, keys)
            idle_probes = 0 if running else idle_probes + 1
            if running and not told and time.monotonic() > started + STOP_TELL_AFTER_SECONDS:
                logger.warning(
                    "waiting for the %d chunk(s) the Dask workers are masking to finish "
                    "(Ctrl-C to stop waiting)",
                    len(running),
                )
                told = True
            time.sleep(STOP_POLL_SECONDS)
    except KeyboardInterrupt:
        if running:
            logger.warning(STILL_WRITING, len(running))
        raise
    except Exception as error:  # the cluster is gone, or a worker cannot be asked
        logger.debug("could not wait for the workers' chunks: %s", error)
        return
    if running:
        logger.warning(STILL_WRITING, len(running))


def _running(client: Any, keys: set[Any]) -> set[str]:
    """Of ``keys``, those a worker thread is executing now (cancelled ones included, as a
    worker keeps them there until their thread returns)."""
    executing = client.run(_executing_keys)
    return {key for keys_there in executing.values() for key in keys_there} & {
        str(key) for key in keys
    }


def _executing_keys(dask_worker: Any) -> list[str]:
    """Run on each worker by ``Client.run``: the keys of the tasks its threads execute."""
    return [str(task.key) for task in dask_worker.state.executing]


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
