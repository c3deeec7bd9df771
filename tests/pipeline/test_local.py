"""Where chunk jobs run: in this process for a little work, in forked workers for more."""

from __future__ import annotations

import os

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
