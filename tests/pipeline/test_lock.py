"""One run at a time in an output folder. Two runs started on one OUTDIR each took the other's
parts for an interrupted run's: the second was told to add --resume, then one of them failed on
a part the other had joined and removed, and a stale .maskgen-parts stayed in the twin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from maskgen.cli.main import cli
from maskgen.errors import OutputError
from maskgen.pipeline import merge_shards
from maskgen.pipeline.lock import LOCK_NAME, lock_path, output_lock
from maskgen.pipeline.plan import PARTS_DIR_NAME

pytestmark = pytest.mark.shared


def test_a_second_run_is_refused_before_it_changes_anything(
    tmp_path: Path, lfw_fold1_bin: Path, spec, run_augment, read_tree
) -> None:
    out = tmp_path / "twin"
    with output_lock(out):  # another run writing here (flock: per open file, so one process)
        with pytest.raises(OutputError, match=rf"another maskgen run \(process {os.getpid()}\)"):
            run_augment(lfw_fold1_bin, out, spec, workers=1)
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    assert not out.exists() or not any(out.iterdir())  # its lock file went with it
    run_augment(lfw_fold1_bin, out, spec, workers=1)
    finished = read_tree(out)
    assert LOCK_NAME not in finished and not (out / PARTS_DIR_NAME).exists()
    with output_lock(out):  # --overwrite and --resume are refused too, the twin left alone
        for options in ({"overwrite": True}, {"resume": True}):
            with pytest.raises(OutputError, match="wait for it to end"):
                run_augment(lfw_fold1_bin, out, spec, workers=1, **options)
    assert read_tree(out) == finished


def test_a_lock_file_left_by_a_killed_run_stops_nobody(
    tmp_path: Path, lfw_fold1_bin: Path, spec, run_augment, read_tree
) -> None:
    """The kernel drops a flock when its process ends, kill -9 included: the file stays."""
    out = tmp_path / "twin"
    holder = "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
    holder += "fcntl.flock(fd, fcntl.LOCK_EX); os.kill(os.getpid(), 9)"
    out.mkdir()
    killed = subprocess.run([sys.executable, "-c", holder, str(lock_path(out, None))])
    assert killed.returncode == -9 and lock_path(out, None).exists()
    run_augment(lfw_fold1_bin, out, spec, workers=1)
    assert not lock_path(out, None).exists() and (out / "maskgen.json").is_file()


def test_shards_lock_each_their_own_and_a_merge_the_whole(
    tmp_path: Path, lfw_mini: Path, spec, mini_reference: Path, run_augment, read_tree
) -> None:
    with output_lock(tmp_path, (0, 2)):  # shard 0/2 running elsewhere: 1/2 may run beside it
        with pytest.raises(OutputError, match=r"is writing shard 0/2 of this output"):
            run_augment(lfw_mini, tmp_path, spec, workers=1, shard=(0, 2))
        run_augment(lfw_mini, tmp_path, spec, workers=1, shard=(1, 2))
    run_augment(lfw_mini, tmp_path, spec, workers=1, shard=(0, 2))
    with (
        output_lock(tmp_path),
        pytest.raises(OutputError, match=r"another maskgen run .* merge once it ends"),
    ):
        merge_shards(tmp_path)
    merge_shards(tmp_path)
    assert read_tree(tmp_path) == read_tree(mini_reference)


def test_a_merge_names_the_shards_still_running(
    tmp_path: Path, lfw_mini: Path, spec, mini_reference: Path, run_augment, read_tree
) -> None:
    """``maskgen merge`` while a shard still ran told the user to run that shard (and while an
    unsharded run wrote, to finish it with --resume), which the lock then refused: the
    shards still writing are named as such, and nothing is changed."""
    run_augment(lfw_mini, tmp_path, spec, workers=1, shard=(0, 2))
    before = read_tree(tmp_path)
    with output_lock(tmp_path, (1, 2)), pytest.raises(OutputError) as refused:
        merge_shards(tmp_path)
    assert str(refused.value) == (
        f"{tmp_path}: of 2 shards (0-based), shard 1 (process {os.getpid()}) still running: "
        "merge once they end"
    )
    assert read_tree(tmp_path) == before
    with pytest.raises(OutputError, match=r"of 2 shards \(0-based\), shard 1 not done: run"):
        merge_shards(tmp_path)  # not running: the shard is to be run
    with output_lock(tmp_path), pytest.raises(OutputError) as refused:  # an unsharded run
        merge_shards(tmp_path)
    assert str(refused.value) == (
        f"{tmp_path}: another maskgen run (process {os.getpid()}) is writing this output; "
        "merge once it ends"
    )
    with pytest.raises(OutputError, match="no such folder"):
        merge_shards(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()
    run_augment(lfw_mini, tmp_path, spec, workers=1, shard=(1, 2))
    merge_shards(tmp_path)
    assert read_tree(tmp_path) == read_tree(mini_reference)


def test_the_cli_says_one_line_and_exits_1(tmp_path: Path, lfw_fold1_bin: Path) -> None:
    out = tmp_path / "twin"
    with output_lock(out):
        result = CliRunner().invoke(cli, ["augment", str(lfw_fold1_bin), "-o", str(out), "-q"])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: {out}: another maskgen run (process {os.getpid()})")
