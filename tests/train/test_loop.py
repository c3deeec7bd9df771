"""End-to-end training on lfw-mini and its masked twin (CPU, tiny network)."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from maskgen.cli.main import cli
from maskgen.formats.recordio import RecordIOReader, write_insightface_rec
from maskgen.formats.verification import write_verification_bin
from maskgen.nn.checkpoint import CHECKPOINT_KEYS, read_checkpoint
from maskgen.nn.models import load_model
from maskgen.train.loop import format_row, train
from tests.conftest import REPO
from tests.train.helpers import tiny_config

pytestmark = [pytest.mark.torch, pytest.mark.shared]


def _not_a_rec(folder: Path) -> Path:
    """A file named .rec that holds text: it exists, so only the library can refuse it."""
    path = folder / "notes.rec"
    path.write_text("hello\n")
    return path


def _config(data: Path, output: Path, **overrides: Any) -> Any:
    return tiny_config(data, output, **overrides)


def _rows(run: Path, kind: str = "train") -> list[dict[str, Any]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["train", *args])


@pytest.mark.slow
def test_tiny_network_learns_the_mask_task(
    lfw_mini: Path, lfw_mini_augmented: Path, tmp_path: Path
):
    """On lfw-mini and its real twin from `maskgen augment`; flips only (``augment="none"``)
    and a plain mask loss (``mask_smoothing=0``: smoothing slows the head's first few hundred
    steps, 0.93 here), so that 300 steps show the loop learning rather than the augmentation's
    or the smoothing's effect (each has its own tests)."""
    run = tmp_path / "run"
    summary = train(
        _config(
            lfw_mini,
            run,
            masked=str(lfw_mini_augmented),
            steps=300,
            log_every=50,
            save_every=150,
            augment="none",
            mask_smoothing=0.0,
        )
    )
    rows = _rows(run)
    assert [r["step"] for r in rows] == [50, 100, 150, 200, 250, 300]
    assert rows[-1]["mask_acc"] >= 0.95
    assert rows[-1]["loss_arcface"] < 0.6 * rows[0]["loss_arcface"]
    assert all(r["samples_per_s"] > 0 and r["lr"] == pytest.approx(0.1) for r in rows)
    # checkpoints, TensorBoard and the resolved config
    assert {p.name for p in run.glob("*.pt")} == {"step_150.pt", "step_300.pt", "last.pt"}
    assert (run / "last.pt").read_bytes() == (run / "step_300.pt").read_bytes()
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert json.loads((run / "config.json").read_text())["config"]["steps"] == 300
    ckpt = read_checkpoint(run / "last.pt")
    assert set(ckpt) == {*CHECKPOINT_KEYS, "mask_classes"} and ckpt["mask_classes"] == 2
    assert ckpt["step"] == 300 and ckpt["mask_head"] is True and ckpt["network"] == "tiny"
    assert ckpt["arcface"]["weight"].shape == (40, 512)
    assert not any(k.startswith("weight") for k in ckpt["model"])  # no class centres there
    net, info = load_model(run / "last.pt")
    assert info["step"] == 300 and info["mask_head"] is True and not net.training
    x = torch.randn(4, 3, 112, 112)
    assert summary.model is not None
    with torch.no_grad():
        expected = summary.model.eval()(x)
        got = net(x)
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


def test_a_summary_prints_its_figures_not_the_network(lfw_mini: Path, tmp_path: Path) -> None:
    """``print(train(config))`` in a script printed every layer of the network after the
    figures; the model is still there, out of the repr."""
    summary = train(_config(lfw_mini, tmp_path / "run", steps=2, log_every=1, workers=0))
    text = repr(summary)
    assert summary.model is not None and summary.arcface is not None
    assert "step=2" in text and "last.pt" in text
    assert "Conv2d" not in text and "BatchNorm" not in text and len(text.splitlines()) == 1


def test_resume_continues_exactly(lfw_mini: Path, lfw_mini_twin: Path, tmp_path: Path) -> None:
    """12 steps straight equal 6 steps + resume + 6 steps (crossing an epoch of 9 batches,
    a learning-rate milestone and dropout). The rows' epoch is the one under way, from 1
    ("epoch 1/2" up to step 9); they said "epoch 0" all through the first, as the checkpoint
    still counts it (epochs finished: 1 at step 12)."""
    common = {
        "masked": str(lfw_mini_twin),
        "lr_milestones": [8],
        "lr_gamma": 0.5,
        "log_every": 3,
        "save_every": 6,
    }
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(_config(lfw_mini, straight, steps=12, **common))
    train(_config(lfw_mini, split, steps=6, **common))
    train(_config(lfw_mini, split, steps=12, resume=True, **common))
    a, b = read_checkpoint(straight / "last.pt"), read_checkpoint(split / "last.pt")
    assert a["step"] == b["step"] == 12 and a["data_position"] == b["data_position"]
    assert a["data_position"]["epoch"] == 1
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert torch.equal(a["arcface"]["weight"], b["arcface"]["weight"])
    for index, state in a["optimizer"]["state"].items():
        assert torch.equal(
            state["momentum_buffer"], b["optimizer"]["state"][index]["momentum_buffer"]
        )
    assert a["scheduler"] == b["scheduler"]
    straight_rows = _rows(straight)
    assert [(r["epoch"], r["total_epochs"]) for r in straight_rows] == [(1, 2)] * 3 + [(2, 2)]
    assert format_row(straight_rows[2]).startswith("step 9/12 epoch 1/2 loss ")
    timing = ("samples_per_s", "remaining_s", "time_s", "total_steps", "total_epochs")
    rows_a = [{k: v for k, v in r.items() if k not in timing} for r in straight_rows]
    rows_b = [{k: v for k, v in r.items() if k not in timing} for r in _rows(split)]
    assert [r["step"] for r in rows_b] == [3, 6, 9, 12] and rows_a == rows_b
    # resumed from a checkpoint inside a logging window (step 7 of 6-9, as a stop or a
    # --save-every apart from --log-every leaves one): the row at 9 averaged steps 8-9 alone;
    # the checkpoint now carries the window's sums
    saved_inside = tmp_path / "saved_inside"
    train(_config(lfw_mini, saved_inside, steps=12, **{**common, "save_every": 7}))
    inside = tmp_path / "inside"
    inside.mkdir()
    for name in ("config.json", "metrics.jsonl"):
        (inside / name).write_bytes((saved_inside / name).read_bytes())
    (inside / "last.pt").write_bytes((saved_inside / "step_7.pt").read_bytes())
    train(_config(lfw_mini, inside, steps=12, resume=True, **{**common, "save_every": 7}))
    rows_c = [{k: v for k, v in r.items() if k not in timing} for r in _rows(inside)]
    assert rows_c == rows_a
    c = read_checkpoint(inside / "last.pt")
    assert c["data_position"] == a["data_position"]
    for key, value in a["model"].items():
        assert torch.equal(value, c["model"][key]), key


def test_several_twins_from_the_command_line(
    lfw_mini: Path, lfw_mini_twin: Path, lfw_mini_augmented: Path, tmp_path: Path
) -> None:
    """``--masked`` repeated: the run trains on both twins and stores them in order; with
    ``--online-mask`` as well, one line names them."""
    run = tmp_path / "run"
    common = ("--data", str(lfw_mini), "--network", "tiny", "--device", "cpu")
    twins = ("--masked", str(lfw_mini_twin), "--masked", str(lfw_mini_augmented))
    result = _invoke(
        *common, *twins, "-o", str(run), "--batch-size", "32", "--steps", "2", "--workers", "0"
    )
    assert result.exit_code == 0, result.output
    stored = json.loads((run / "config.json").read_text())["config"]["masked"]
    assert stored == [str(lfw_mini_twin), str(lfw_mini_augmented)]
    assert read_checkpoint(run / "last.pt")["mask_head"] is True
    result = _invoke(*common, *twins, "--online-mask", "-o", str(tmp_path / "other"))
    assert result.exit_code != 0
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(f"but --masked is {lfw_mini_twin}, {lfw_mini_augmented}; give one of the two")
    )


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(lfw_mini: Path, tmp_path: Path):
    run = tmp_path / "run"
    result = _invoke(
        *("--data", str(lfw_mini), "-o", str(run), "--network", "tiny", "--device", "cpu"),
        *("--batch-size", "32", "--steps", "50", "--lr", "1e6", "--save-every", "2"),
        *("--workers", "0", "--log-every", "50"),
    )
    assert result.exit_code == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: loss became NaN or infinite at step")
    bad_step = int(error.split("at step ")[1].split(";")[0])
    ckpt = read_checkpoint(run / "last.pt")
    assert ckpt["step"] < bad_step
    assert all(torch.isfinite(v.float()).all() for v in ckpt["model"].values())


def test_bad_inputs_are_one_line_errors(
    lfw_mini: Path, lfw_mini_twin: Path, rec_dir: Path, lfw_dir: Path, tmp_path: Path
) -> None:
    base = ("--network", "tiny", "--device", "cpu", "--steps", "1", "--workers", "0")
    one_identity = tmp_path / "one" / "train.rec"
    reader = RecordIOReader(lfw_mini)
    write_insightface_rec(one_identity, [[reader.read(k).data for k in range(1, 8)]])
    # validation sets whose images are found wrong only when decoded: refused before step 1,
    # where a run had lost every step to its first validation
    crops = [reader.read(k).data for k in range(1, 21)]
    photos = [p.read_bytes() for p in sorted(lfw_dir.glob("A*/*_0001.jpg"))[:20]]
    photo_bin = write_verification_bin(tmp_path / "photos.bin", photos, [True, False] * 5)
    broken = write_verification_bin(tmp_path / "broken.bin", [*crops[:5], b"\xff\xd8\xff"
                                    + bytes(40), *crops[6:]], [True, False] * 5)  # fmt: skip
    cases = {
        "not a RecordIO file": ("--data", str(_not_a_rec(tmp_path))),
        "larger than the dataset (294 images)": ("--data", str(lfw_mini), "--batch-size", "512"),
        "batch_size 512 (--preset paper's) is larger than the dataset (294 images); give a": (
            *("--data", str(lfw_mini), "--preset", "paper"),
        ),
        "1 image a step; batch normalisation needs at least 2": (
            *("--data", str(lfw_mini), "--batch-size", "1"),
        ),
        "1 identity; ArcFace needs at least 2": (
            *("--data", str(one_identity), "--batch-size", "4"),
        ),
        "is not the twin of": (
            *("--data", str(lfw_mini), "--batch-size", "4"),
            *("--masked", str(rec_dir / "lfw-mini-flat" / "train.rec")),
        ),
        "nothing to resume": ("--data", str(lfw_mini), "--batch-size", "4", "--resume"),
        "photos.bin: image 0 is 250x250": (
            *("--data", str(lfw_mini), "--batch-size", "4", "--val", str(photo_bin)),
        ),
        "broken.bin: image 5 is not a decodable image": (
            *("--data", str(lfw_mini), "--batch-size", "4", "--val", str(broken)),
        ),
        "expected [identity, mask flag]: not a twin written by `maskgen augment`": (
            *("--data", str(lfw_mini), "--batch-size", "4", "--masked", str(lfw_mini)),
        ),
    }
    for index, (message, args) in enumerate(cases.items()):
        result = _invoke(*base, "-o", str(tmp_path / f"run{index}"), *args)
        assert result.exit_code == 1, (message, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], lines
        assert not (tmp_path / f"run{index}").exists()  # a refused run leaves no folder
    done = tmp_path / "done"
    args = (*base, "-o", str(done), "--data", str(lfw_mini), "--batch-size", "4")
    assert _invoke(*args).exit_code == 0
    again = _invoke(*args)
    assert again.exit_code == 1 and "already holds a run" in again.stderr
    changed = _invoke(*args, "--resume", "--steps", "2", "--lr", "0.5")
    assert changed.exit_code == 1 and "resume: lr is 0.0015" in changed.stderr


def test_bad_validation_sets_are_refused_before_training(
    lfw_mini: Path, lfw_fold1_bin: Path, tmp_path: Path
) -> None:
    """A --val that is no .bin, a --val-masked of other pairs or a set of fewer pairs than
    folds used to stop the run at its first validation, after --val-every steps."""
    from maskgen.formats.verification import read_verification_bin, write_verification_bin

    images, issame = read_verification_bin(lfw_fold1_bin)
    other = write_verification_bin(tmp_path / "other.bin", images[:40], issame[:20])
    few = write_verification_bin(tmp_path / "few.bin", images[:10], issame[:5])
    base = ("--network", "tiny", "--device", "cpu", "--steps", "2", "--workers", "0")
    base += ("--data", str(lfw_mini), "--batch-size", "4", "--threads", "1")
    cases = {
        "not an insightface verification .bin": ("--val", str(lfw_mini)),
        "not the masked twin of": ("--val", str(lfw_fold1_bin), "--val-masked", str(other)),
        "5 pairs, fewer than the 10 folds": ("--val", str(few)),
    }
    for index, (message, args) in enumerate(cases.items()):
        run = tmp_path / f"run{index}"
        result = _invoke(*base, "-o", str(run), *args)
        assert result.exit_code == 1, (message, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: val: ") and message in lines[0]
        assert not run.exists()


def test_worker_errors_come_back_as_one_line(lfw_mini: Path, tmp_path: Path) -> None:
    from tests.train.helpers import write_masked_twin

    subtle = write_masked_twin(lfw_mini, tmp_path / "subtle.rec", identity_shift={100: 3})
    result = _invoke(
        *("--data", str(lfw_mini), "--masked", str(subtle), "--masked-prob", "1.0"),
        *("-o", str(tmp_path / "run"), "--network", "tiny", "--device", "cpu"),
        *("--batch-size", "98", "--steps", "3", "--workers", "1", "--threads", "1"),
    )  # every size given: nothing chosen to announce, only what the run trains
    assert result.exit_code == 1
    plan, *lines = result.stderr.strip().splitlines()
    assert plan == (
        "training tiny with a mask head on cpu (fp32) for 3 steps of 98 images, 1 epoch of 294"
    )
    assert len(lines) == 1 and lines[0].startswith(
        f"Error: masked: {subtle}: key 100 has identity 3, the original 13: "
        f"not the twin of {lfw_mini} (steps to "
    )  # the steps finished before it are kept
    assert lines[0].endswith(
        f"saved in {tmp_path / 'run' / 'last.pt'}; --resume continues from there)"
    )


def test_a_validation_set_that_fails_mid_run_keeps_the_steps_done(
    lfw_mini: Path, lfw_fold1_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A validation failure (a set replaced after the checks at the start) lost every step
    since the last checkpoint: validation runs before the save, and nothing was saved."""
    from maskgen.errors import DatasetFormatError
    from maskgen.train import loop

    def broken(*args: object, **kwargs: object) -> dict:
        raise DatasetFormatError(f"{lfw_fold1_bin}: image 3 is not a decodable image")

    monkeypatch.setattr(loop, "validate_bin", broken)
    run = tmp_path / "run"
    result = _invoke(
        *("--data", str(lfw_mini), "-o", str(run), "--network", "tiny", "--device", "cpu"),
        *("--batch-size", "32", "--steps", "6", "--workers", "0", "--val", str(lfw_fold1_bin)),
        *("--val-every", "4", "--save-every", "100", "--log-every", "2"),
    )
    assert result.exit_code == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: val: ") and error.endswith(
        f"(steps to 4 saved in {run / 'last.pt'}; --resume continues from there)"
    ), error
    assert read_checkpoint(run / "last.pt")["step"] == 4


def test_init_from_an_arcface_torch_backbone(lfw_mini: Path, tmp_path: Path) -> None:
    from tests.train.helpers import LAYERS, synthetic_backbone

    state = synthetic_backbone(LAYERS["r18"], seed=4)
    torch.save(state, tmp_path / "backbone.pth")
    run = tmp_path / "run"
    summary = train(
        _config(
            lfw_mini,
            run,
            network="r18",
            batch_size=2,
            steps=1,
            lr=1e-9,
            weight_decay=0.0,
            workers=0,
            init_from=str(tmp_path / "backbone.pth"),
        )
    )
    assert summary.step == 1
    ckpt = read_checkpoint(run / "last.pt")
    assert ckpt["mask_head"] is False  # no twin: no mask head is trained
    for key in ("conv1.weight", "layer3.1.conv2.weight", "fc.weight"):
        assert np.allclose(ckpt["model"][key].numpy(), state[key].numpy(), atol=1e-6), key
    assert _rows(run)[0]["loss_mask"] is None and _rows(run)[0]["mask_acc"] is None


_STOPPABLE = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal's, even under nohup
from maskgen.cli.main import cli
from maskgen.train import trainer

real_step = trainer.Trainer.step
def step(self, *args):  # the real step; a file marks each one done, for the test to watch
    out = real_step(self, *args)
    open(sys.argv[1], "a").write("x")
    return out
trainer.Trainer.step = step
cli(sys.argv[2:])
"""


_SLOW_LOADER = """
import sys, time
from maskgen.train import data

real_item = data.FaceDataset.__getitem__
def item(self, index):  # a slow loader: the main process mostly waits for its next batch
    time.sleep(0.03)
    return real_item(self, index)
data.FaceDataset.__getitem__ = item
"""


def _train_then_signal(
    lfw_mini: Path, lfw_mini_twin: Path, tmp_path: Path, signum: str, preamble: str = ""
) -> tuple[Path, Path, int, str]:
    """A tiny training in a process group of its own (``preamble`` run first), sent
    ``signum`` once it has done 3 steps: (run folder, step marks file, exit code, stderr)."""
    run, marks = tmp_path / "run", tmp_path / "steps"
    args = [
        *("train", "--data", str(lfw_mini), "--masked", str(lfw_mini_twin), "-o", str(run)),
        *("--network", "tiny", "--device", "cpu", "--batch-size", "8", "--steps", "100000"),
        *("--workers", "1", "--threads", "1", "--log-every", "1000"),
    ]
    process = subprocess.Popen(
        [sys.executable, "-c", preamble + _STOPPABLE, str(marks), *args],
        cwd=REPO, start_new_session=True, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not marks.exists() or len(marks.read_text()) < 3:
        assert process.poll() is None and time.monotonic() < deadline, "training never started"
        time.sleep(0.02)
    os.killpg(process.pid, getattr(signal, signum))
    _, stderr = process.communicate(timeout=120)
    return run, marks, process.returncode, stderr


def _stop_at_once(signum: int, frame: object) -> None:
    """A signal's own handler, raising where SIGTERM's default would end pytest itself."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_one_signal_sent_twice_at_once_is_one_stop_request(signum: int) -> None:
    """`timeout -s INT` sends its signal to the process and again to its process group; where
    the first was handled between the two, the second stopped the run at once and the steps
    since the last checkpoint were lost ("No checkpoint was saved yet"). A repeat within
    SAME_REQUEST_S is the same request; a later one, or the other signal, stops at once."""
    import maskgen.train.loop as loop

    other = signal.SIGTERM if signum == signal.SIGINT else signal.SIGINT
    handlers = {each: signal.signal(each, _stop_at_once) for each in (signum, other)}
    try:
        with loop._stops_between_steps(True) as stop:
            signal.raise_signal(signum)
            signal.raise_signal(signum)  # handled at once: signal.raise_signal checks for it
            assert stop.signum == signum
        assert signal.getsignal(signum) is _stop_at_once  # put back

        with pytest.raises(KeyboardInterrupt), loop._stops_between_steps(True) as stop:
            signal.raise_signal(signum)
            stop.noted_at -= loop.SAME_REQUEST_S + 0.01  # as though a second had passed
            signal.raise_signal(signum)
        with pytest.raises(KeyboardInterrupt), loop._stops_between_steps(True):
            signal.raise_signal(signum)
            signal.raise_signal(other)
    finally:
        for each, handler in handlers.items():
            signal.signal(each, handler)


@pytest.mark.parametrize("error", [ConnectionResetError(104, "reset"), EOFError()])
def test_a_loader_failing_after_a_stop_request_saves_and_stops(
    lfw_mini: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    """A SIGTERM to the process group ends a loader worker while it hands a batch over: the
    main process, asked to stop by the same signal, read a ConnectionResetError (or an
    EOFError) and failed with a traceback. It now saves the finished steps and stops as the
    signal asks; the same error with no stop asked for is still raised."""
    import maskgen.train.loop as loop

    real_next = loop._next_batch
    calls = []

    def failing_next(batches):
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)  # the stop request, noted between steps
            raise error
        return real_next(batches)

    monkeypatch.setattr(loop, "_next_batch", failing_next)
    config = tiny_config(lfw_mini, tmp_path / "run", batch_size=8, steps=50, workers=0)
    with pytest.raises(KeyboardInterrupt):  # the signal, raised again once saved
        train(config)
    assert read_checkpoint(tmp_path / "run" / "last.pt")["step"] == 2

    def failing_without_a_stop(batches):
        raise error

    monkeypatch.setattr(loop, "_next_batch", failing_without_a_stop)
    with pytest.raises(type(error)):
        train(tiny_config(lfw_mini, tmp_path / "other", batch_size=8, steps=50, workers=0))


def test_sigterm_while_waiting_for_a_batch_still_saves_the_last_step(
    lfw_mini: Path, lfw_mini_twin: Path, tmp_path: Path
) -> None:
    """SIGTERM to the process group (as a batch system sends it) ends the loader's worker at
    once; the main process, waiting for that worker's next batch, saves the last finished
    step and stops with 143 instead of failing on the worker's exit."""
    run, marks, code, stderr = _train_then_signal(
        lfw_mini, lfw_mini_twin, tmp_path, "SIGTERM", preamble=_SLOW_LOADER
    )
    assert code == 143, stderr
    assert f"maskgen train -o {run} --resume" in stderr.strip().splitlines()[-1]
    saved = read_checkpoint(run / "last.pt")["step"]
    assert 3 <= saved <= len(marks.read_text())


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_stopped_run_saves_its_last_step_and_resumes(
    lfw_mini: Path, lfw_mini_twin: Path, tmp_path: Path, signum: str
) -> None:
    """Ctrl-C or SIGTERM long before the first scheduled checkpoint: the step under way
    finishes, last.pt holds it, the command stops as the signal asks (130 / 143) and tells
    how to resume; --resume then runs to the end from there."""
    run, marks, code, stderr = _train_then_signal(lfw_mini, lfw_mini_twin, tmp_path, signum)
    assert code == {"SIGINT": 130, "SIGTERM": 143}[signum], stderr
    assert f"maskgen train -o {run} --resume" in stderr.strip().splitlines()[-1]
    saved = read_checkpoint(run / "last.pt")["step"]
    assert 3 <= saved <= len(marks.read_text())
    resumed = _invoke("-o", str(run), "--resume", "--steps", str(saved + 2))
    assert resumed.exit_code == 0, resumed.output
    assert read_checkpoint(run / "last.pt")["step"] == saved + 2


def test_an_existing_run_is_refused_in_the_callers_terms(lfw_mini: Path, tmp_path: Path) -> None:
    """train(config) on a folder holding a run was told to "pass --resume" and "choose another
    --output": options a Python caller has not got. The CLI still says so."""
    from maskgen.errors import OutputError
    from maskgen.train.config import TrainConfig

    (tmp_path / "last.pt").write_bytes(b"")
    config = TrainConfig(data=str(lfw_mini), output=str(tmp_path))
    with pytest.raises(OutputError) as info:
        train(config)
    assert str(info.value).endswith(
        "already holds a run (last.pt); pass resume=True to continue it or choose another output"
    )
    result = _invoke("--data", str(lfw_mini), "-o", str(tmp_path), "--steps", "1")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {tmp_path}: already holds a run (last.pt); pass --resume to continue it or "
        "choose another --output\n"
    )


def test_a_run_says_what_it_trains_and_how_long_is_left(
    lfw_mini: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A plain `maskgen train` trained r50 on the CPU for 300,000 steps without a word of it:
    the run now opens with what it trains, where and for how long, each row says the time
    left, and a CPU run of more than a day says so once, with what shortens a trial."""
    import logging

    from maskgen.train.loop import format_duration

    rows: list[dict[str, Any]] = []

    def collect(row: dict[str, Any]) -> None:
        rows.append(row)
        if sum(r["kind"] == "train" for r in rows) == 2:
            raise RuntimeError("enough")

    config = tiny_config(lfw_mini, tmp_path / "run", steps=10**9, log_every=1, workers=0)
    with caplog.at_level(logging.WARNING, "maskgen.train.loop"), pytest.raises(RuntimeError):
        train(config, on_log=collect)
    setup, first, _ = rows
    plan = format_row(setup).splitlines()[0]  # then "chose threads ..."
    epochs = -(-(10**9) // (294 // 32))  # 9 whole batches an epoch
    assert plan == (
        "training tiny without a mask head (no masked twin) on cpu (fp32) for 1,000,000,000 "
        f"steps of 32 images, {epochs:,} epochs of 294"
    )
    assert first["remaining_s"] > 86_400
    assert re.search(r" img/s, \d+ d \d\d h left$", format_row(first)), format_row(first)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # once, after the second step (not at every row)
    assert re.match(
        r"a step took \d+\.\d s on the CPU: the 999,999,998 steps left take ", warnings[0]
    )
    assert format_duration(59) == "under a minute"
    assert format_duration(61 * 60 + 5) == "1 h 01 min"
    assert format_duration(3 * 86_400 + 7 * 3600) == "3 d 07 h"
    resumed = {**setup, "step": 1200, "chosen": ["workers 1 (why)"]}
    assert format_row(resumed).startswith(
        "training tiny without a mask head (no masked twin) on cpu (fp32) from step 1,200 to "
    )
    assert format_row(resumed).endswith("\nchose workers 1 (why)")


def test_validation_and_saving_are_left_out_of_img_per_s(
    lfw_mini: Path, lfw_fold1_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation on the CPU fell inside the next logging window and cut its img/s by half: a
    row's img/s (and the time left) now measure the training steps alone."""
    import maskgen.train.loop as loop

    def slow_validation(self: Any, trainer: Any) -> None:
        time.sleep(1.0)

    monkeypatch.setattr(loop._Run, "_validate", slow_validation)
    config = tiny_config(
        lfw_mini,
        tmp_path / "run",
        steps=6,
        log_every=2,
        workers=0,
        val=[str(lfw_fold1_bin)],
        val_every=2,
    )
    rows: list[dict[str, Any]] = []
    train(config, on_log=rows.append)
    trains = [r for r in rows if r["kind"] == "train"]
    for before, row in itertools.pairwise(trains):
        between = row["time_s"] - before["time_s"]  # a second of it validating
        timed = 2 * config.batch_size / row["samples_per_s"]
        assert timed < between - 0.9, (timed, between)
    assert trains[1]["remaining_s"] >= 1.0  # the time left still counts the validation
