"""maskgen.pipeline.dask: what a run on a Dask cluster says when it fails."""

from __future__ import annotations

import errno
import gc
import logging

import pytest

from maskgen.errors import ConfigError
from maskgen.pipeline import dask as dask_module


def _lost_connection() -> OSError:
    from distributed.comm.core import CommClosedError

    return CommClosedError("in <TCP (closed) ConnectionPool.gather local=tcp://127.0.0.1:1>")


@pytest.mark.dask
@pytest.mark.parametrize(
    ("make_error", "said"),
    [
        (_lost_connection, None),
        (lambda: TimeoutError("timed out waiting for the scheduler"), None),
        (lambda: OSError(errno.EIO, "Input/output error"), None),
        (lambda: FileNotFoundError(errno.ENOENT, "No such file", "/x/train.rec"), "/x/train.rec"),
    ],
)
def test_only_a_file_a_worker_cannot_open_is_called_one(
    monkeypatch: pytest.MonkeyPatch, make_error, said
) -> None:
    """A worker's FileNotFoundError naming the input is one line saying the cluster does not
    see that path. A lost connection to the cluster (distributed's CommClosedError, a
    TimeoutError: OSErrors both) or a read error naming no file were told the same: "a worker
    cannot open in <TCP (closed) ...>; the input and OUTDIR must be on a file system every
    worker sees", which sent the user after the wrong problem. They are raised as they came."""
    distributed = pytest.importorskip("distributed")
    error = make_error()

    def failing(*args: object, **kwargs: object):
        raise error
        yield  # a generator, as run_jobs is

    monkeypatch.setattr(dask_module, "run_jobs", failing)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        pytest.raises((OSError, ConfigError)) as raised,
    ):
        list(dask_module.run_jobs_on_dask([], 1, cluster.scheduler_address))
    if said is None:
        assert raised.value is error
    else:
        assert isinstance(raised.value, ConfigError)
        assert f"a worker cannot open {said} (No such file)" in str(raised.value)


@pytest.mark.dask
def test_the_clients_own_logger_is_silenced_while_a_stopped_run_closes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM with jobs out: "WARNING distributed.client: Couldn't gather 2 keys, rescheduling"
    still printed above "Stopped by SIGTERM." (about half of the runs of
    test_a_dask_run_stopped_with_jobs_out_says_one_line): Dask's logging config gives
    ``distributed.client`` its own level (WARNING) and handler, so raising ``distributed``'s
    level left it alone. Silenced while the client closes, as before afterwards."""
    distributed = pytest.importorskip("distributed")
    client_logger = logging.getLogger("distributed.client")
    level_before = client_logger.level
    warns_at_close: list[bool] = []
    close = distributed.Client.close

    def recording_close(self: object, *args: object, **kwargs: object) -> object:
        warns_at_close.append(client_logger.isEnabledFor(logging.WARNING))
        return close(self, *args, **kwargs)

    def stopped_run(*args: object, **kwargs: object):
        raise KeyboardInterrupt
        yield  # a generator, as run_jobs is

    monkeypatch.setattr(dask_module, "run_jobs", stopped_run)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        gc.collect()  # earlier tests' clients, closed as they are collected, are not this run's
        monkeypatch.setattr(distributed.Client, "close", recording_close)
        with pytest.raises(KeyboardInterrupt):
            list(dask_module.run_jobs_on_dask([], 1, cluster.scheduler_address))
    assert warns_at_close and not any(warns_at_close), warns_at_close
    assert client_logger.level == level_before
