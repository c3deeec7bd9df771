"""Where chunk jobs run: in this process for a little work, in forked workers for more."""

from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.pool
import os
import signal
import sys
import time
from typing import Any

import pytest

from maskgen.pipeline import local


def _pid_of_runner(job: int) -> tuple[int, int]:
    return job, os.getpid()


@pytest.fixture
def recording_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs that report the process that ran them (no masker is built)."""
    monkeypatch.setattr(local, "mask_chunk", _pid_of_runner)
    monkeypatch.setattr(local, "prepare_masker", lambda config: None)


@pytest.mark.skipif(not local._can_fork(), reason="forked workers need Linux")
@pytest.mark.parametrize(("n_jobs", "forked"), [(1, False), (3, False), (4, True), (9, True)])
def test_workers_start_only_for_two_chunks_each(recording_jobs, n_jobs: int, forked: bool):
    results = dict(local.run_jobs(iter(range(n_jobs)), n_jobs, workers=2, preload=object()))
    assert sorted(results) == list(range(n_jobs))
    in_this_process = {pid == os.getpid() for pid in results.values()}
    assert in_this_process == {not forked}


def _fail_on_job_three(job: int) -> int:
    if job == 3:
        raise OSError(28, "No space left on device")
    time.sleep(0.05)
    return job


@pytest.mark.skipif(not local._can_fork(), reason="forked workers need Linux")
def test_a_pool_that_will_not_terminate_has_its_workers_killed(monkeypatch) -> None:
    """A job's error still reaches the caller, and no worker is left running, when
    ``Pool.terminate()`` hangs where CPython's can (taking the task queue's lock in
    ``_help_stuff_finish``): here that step sleeps far past the time allowed first."""
    real_help = multiprocessing.pool.Pool._help_stuff_finish

    def stuck_help(inqueue: Any, task_handler: Any, size: int) -> None:
        time.sleep(30)
        real_help(inqueue, task_handler, size)

    monkeypatch.setattr(multiprocessing.pool.Pool, "_help_stuff_finish", staticmethod(stuck_help))
    monkeypatch.setattr(local, "mask_chunk", _fail_on_job_three)
    monkeypatch.setattr(local, "prepare_masker", lambda config: None)
    monkeypatch.setattr(local, "POOL_TERMINATE_TIMEOUT_S", 0.5)
    before = {child.pid for child in multiprocessing.active_children()}
    started = time.monotonic()
    with pytest.raises(OSError, match="No space left"):
        list(local.run_jobs(iter(range(40)), 40, workers=2, preload=object()))
    assert time.monotonic() - started < 10
    left = [c for c in multiprocessing.active_children() if c.pid not in before]
    assert left == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_a_forked_worker_is_set_to_end_with_its_parent() -> None:
    """A worker asks the kernel for SIGTERM when the process that forked it ends (a pool
    worker forked just before a SIGTERM'd parent's fast exit could otherwise block on the
    task queue's lock for ever); one whose parent is already gone ends at once."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the worker's set-up, then what the kernel holds for it
        status = 1
        try:
            local._start_worker(os.getppid())
            got = ctypes.c_int(0)
            ctypes.CDLL(None).prctl(2, ctypes.byref(got), 0, 0, 0)  # PR_GET_PDEATHSIG
            os.write(write, str(got.value).encode())
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert int(os.read(read, 16)) == signal.SIGTERM
    orphan = os.fork()
    if orphan == 0:
        try:
            local._start_worker(os.getppid() + 10**6)  # "the parent" is some other process
        finally:
            os._exit(3)  # not reached when _start_worker ends the process
    _, status = os.waitpid(orphan, 0)
    assert os.waitstatus_to_exitcode(status) == 0
