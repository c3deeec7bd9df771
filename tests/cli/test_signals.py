"""Ctrl-C (SIGINT) and SIGTERM stop every command the same way: one line saying so (and how to
resume, where a command can), exit code 130 or 143, no traceback, nothing half-written."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from maskgen.cli import main

CLI = "from maskgen.cli.main import cli; cli()"
EXPECTED = {signal.SIGINT: (130, "Interrupted."), signal.SIGTERM: (143, "Stopped by SIGTERM.")}


def _stop_when(
    command: list[str], ready: Callable[[], bool], signum: int, *, cwd: Path | None = None
) -> tuple[int | None, list[str]]:
    """Run ``command`` in its own process group; once ``ready()``, send ``signum`` to the
    whole group (as a terminal's Ctrl-C or a service manager's stop does). Returns the exit
    code (None if it ended before it was ready) and the lines of stderr."""
    process = subprocess.Popen(
        command, cwd=cwd, start_new_session=True, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    try:
        while process.poll() is None and not ready():
            assert time.monotonic() < deadline, "the command never got ready"
            time.sleep(0.01)
        sent = process.poll() is None
        if sent:
            os.killpg(process.pid, signum)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return (process.returncode if sent else None), stderr.strip().splitlines()


# --- export: torch's exporter catches the interrupt and raises its own error -----------------

_EXPORT = """
import pathlib, sys, torch
real = torch.onnx.export
def export(*args, **kwargs):  # the real exporter, with a mark that it has started
    pathlib.Path(sys.argv[1]).touch()
    return real(*args, **kwargs)
torch.onnx.export = export
from maskgen.cli.main import cli
cli(sys.argv[2:])
"""


@pytest.mark.torch
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_export_stops_with_one_line_and_leaves_no_file(tmp_path: Path, signum: int) -> None:
    pytest.importorskip("onnxruntime")
    from tests.evaluate.conftest import write_tiny_checkpoint

    checkpoint = write_tiny_checkpoint(tmp_path / "last.pt")
    out = tmp_path / "out"
    out.mkdir()
    started = tmp_path / "started"
    command = [sys.executable, "-c", _EXPORT, str(started)]
    command += ["export", "--model", str(checkpoint), "-o", str(out / "model.onnx")]

    def in_the_exporter() -> bool:
        if not started.exists():
            return False
        time.sleep(0.3)  # into torch.export's imports and tracing
        return True

    code, lines = _stop_when(command, in_the_exporter, signum)
    assert code is not None, "the export finished before it could be stopped"
    assert (code, lines) == (EXPECTED[signum][0], [EXPECTED[signum][1]])
    assert list(out.iterdir()) == []  # no model.onnx, no temporary file


def test_an_interrupt_the_exporter_swallows_or_rewraps_still_stops_it() -> None:
    """What torch's exporter does to a Ctrl-C at some points, done here on purpose."""
    from maskgen.evaluate.export import _interrupts_kept

    def rewrap() -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt as exc:
            raise RuntimeError("partially initialized module 'torch._dynamo'") from exc

    def swallow() -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            pass

    for body in (rewrap, swallow):
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt), _interrupts_kept():
            body()
        assert time.monotonic() - started < 4
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --- the same for any command: the root group's handlers ------------------------------------


@click.command()
@click.option("--signal-name", default="SIGINT")
@click.option("--rewrap", is_flag=True)
def _stopped_command(signal_name: str, rewrap: bool) -> None:
    """Sends itself a signal; with --rewrap, turns the interrupt into another error (as some
    libraries do)."""
    click.get_current_context().meta[main.RESUME_HINT] = lambda: "Add --resume."
    try:
        os.kill(os.getpid(), getattr(signal, signal_name))
        time.sleep(5)
    except KeyboardInterrupt as exc:
        if rewrap:
            raise ValueError("something else") from exc
        raise


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("rewrap", [False, True])
def test_every_command_stops_the_same_way(monkeypatch, signum: int, rewrap: bool) -> None:
    monkeypatch.setitem(main.COMMANDS, "stopped", f"{__name__}:_stopped_command")
    term_handler = signal.getsignal(signal.SIGTERM)
    args = ["stopped", "--signal-name", signal.Signals(signum).name]
    result = CliRunner().invoke(main.cli, args + (["--rewrap"] if rewrap else []))
    code, first = EXPECTED[signum]
    assert result.exit_code == code
    assert result.stderr == f"{first} Add --resume.\n"
    assert signal.getsignal(signal.SIGTERM) == term_handler  # put back afterwards
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@click.command()
def _failing_command() -> None:
    raise RuntimeError("a fault of ours")


def test_a_signal_landing_as_the_handlers_are_put_back_still_stops_cleanly(monkeypatch) -> None:
    """A SIGTERM that reached the loader's workers first made training fail, and reached the
    main process only as the command's handlers were being put back: click printed
    "Aborted!" and exit code 1. It is a stop like any other: its line and 143."""
    monkeypatch.setitem(main.COMMANDS, "failing", f"{__name__}:_failing_command")
    put_back = main._StopSignals.__exit__

    def late_signal(self, *exc_info):
        put_back(self, *exc_info)
        raise main.Terminated()

    monkeypatch.setattr(main._StopSignals, "__exit__", late_signal)
    result = CliRunner().invoke(main.cli, ["failing"])
    assert result.exit_code == 143
    assert result.stderr == "Stopped by SIGTERM.\n"


_STUCK = """
import pathlib, sys, time, click
from maskgen.cli import main

@click.command()
def stuck():
    pathlib.Path(sys.argv[1]).touch()
    try:
        time.sleep(60)
    finally:
        while True:  # a clean-up that never ends, as a pool's whose worker died holding a lock
            time.sleep(0.1)

main.COMMANDS["stuck"] = "__main__:stuck"
main.cli(["stuck"])
"""


def test_a_clean_up_that_hangs_after_sigterm_is_cut_short(tmp_path: Path) -> None:
    started = tmp_path / "started"
    began = time.monotonic()
    code, lines = _stop_when(
        [sys.executable, "-c", _STUCK, str(started)], started.exists, signal.SIGTERM
    )
    assert (code, lines) == (143, ["Stopped by SIGTERM."])
    assert time.monotonic() - began < 30


# --- augment: worker processes, and --resume afterwards -------------------------------------


@pytest.mark.shared
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_augment_with_workers_stops_cleanly_and_resumes(
    tmp_path: Path, rec_dir: Path, signum: int
) -> None:
    """SIGTERM to the whole process group, workers included (as SLURM's scancel sends it),
    or Ctrl-C: no worker's half-written chunk part is left under its temporary name (one a
    worker was left for each worker, which --resume alone cleared)."""
    from maskgen.pipeline.plan import PARTS_DIR_NAME

    mini = rec_dir / "lfw-mini" / "train.rec"
    out = tmp_path / "out"
    args = ["augment", str(mini), "-o", str(out), "--workers", "2", "--chunk-size", "8"]
    parts = out / PARTS_DIR_NAME

    def some_chunks_done() -> bool:
        return parts.is_dir() and len(list(parts.glob("chunk-*.jsonl"))) >= 2

    code, lines = _stop_when([sys.executable, "-c", CLI, *args], some_chunks_done, signum)
    assert code is not None, "augment finished before it could be stopped"
    assert code == EXPECTED[signum][0]
    assert lines == [f"{EXPECTED[signum][1]} Run the same command again with --resume to keep "
                     "the finished chunks and do only the rest."]  # fmt: skip
    assert not (out / "train.rec").exists() and not (out / "maskgen.json").exists()
    assert not [p.name for p in parts.iterdir() if p.name.endswith(".tmp")]
    result = CliRunner().invoke(main.cli, [*args, "--resume", "-q"])
    assert result.exit_code == 0, result.output
    assert (out / "train.rec").is_file()


@pytest.mark.shared
def test_no_worker_outlives_its_parent(tmp_path: Path, rec_dir: Path) -> None:
    """The parent killed outright (SIGKILL, or a signal's fast exit while the pool replaces a
    worker): its forked workers end too, instead of waiting on the task queue for ever and
    holding the terminal's or a pipe's stderr (which once hung a CI run's SIGTERM test)."""
    import psutil

    from maskgen.pipeline.plan import PARTS_DIR_NAME

    out = tmp_path / "out"
    args = ["augment", str(rec_dir / "lfw-mini" / "train.rec"), "-o", str(out)]
    process = subprocess.Popen(
        [sys.executable, "-c", CLI, *args, "--workers", "2", "--chunk-size", "8", "-q"],
        start_new_session=True, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    parts = out / PARTS_DIR_NAME
    deadline = time.monotonic() + 120
    try:
        while not (parts.is_dir() and len(list(parts.glob("chunk-*.jsonl"))) >= 2):
            assert process.poll() is None and time.monotonic() < deadline, "never started"
            time.sleep(0.01)
        workers = psutil.Process(process.pid).children()
        assert len(workers) == 2
        process.kill()  # the parent alone
        process.wait()
        _, alive = psutil.wait_procs(workers, timeout=20)
        assert not alive, f"workers outlived their parent: {[p.pid for p in alive]}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
