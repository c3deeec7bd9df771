"""``maskgen train`` at the command line: defaults in --help, Ctrl-C then ``-o RUN --resume``
alone, and which key differs in a wrong twin."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from maskgen.cli.main import cli
from tests.cli.test_signals import CLI, _stop_when
from tests.conftest import run_maskgen_limited, run_maskgen_without

TINY = ("--network", "tiny", "--device", "cpu", "--batch-size", "32", "--lr", "0.01")


def _invoke(*args: object):
    return CliRunner().invoke(cli, ["train", *(str(a) for a in args)])


def _option_help(help_text: str) -> dict[str, str]:
    """--help's Options section as {first flag: its whole entry on one line}."""
    entries: dict[str, str] = {}
    flag = None
    for line in help_text.split("Options:", 1)[1].splitlines():
        if line.startswith("  -"):
            flag = next(word for word in line.split() if word.startswith("--")).rstrip(",")
            entries[flag] = ""
        if flag is not None:
            entries[flag] += " " + " ".join(line.split())
    return entries


def test_help_shows_the_defaults() -> None:
    result = _invoke("--help")
    assert result.exit_code == 0
    entries = _option_help(result.output)
    for flag, default in {
        "--network": "r50",
        "--batch-size": "the paper's 512, halved until the set makes 4 batches an epoch",
        "--steps": "300000",
        "--lr": "0.0015",
        "--device": "auto",
        "--precision": "auto",
        "--seed": "0",
        "--log-every": "50",
        "--save-every": "10000",
        "--workers": "the cores of this process less one, at most 8",
        "--threads": "the cores the automatic --workers leave, at least 1",
        "--augment": "realism",
        "--mask-weight": "1.0",
        "--mask-smoothing": "0.1; 0 with --wear-classes",
        "--clip-grad-norm": "none; 5 with --preset arcface",
        "--masked-prob": "0.5",
        "--val-every": "2000",
    }.items():
        assert entries[flag].endswith(f"[default: {default}]"), (flag, entries[flag])


@pytest.mark.torch
@pytest.mark.shared
def test_ctrl_c_then_resume_from_the_run_folder_alone(
    rec_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """Started with relative paths and a data-loader worker; stopped by Ctrl-C (to the whole
    process group, as a terminal sends it) after a checkpoint; resumed from another folder
    with nothing but ``-o RUN --resume``."""
    pytest.importorskip("torch")
    from maskgen.nn.checkpoint import read_checkpoint

    data = Path(os.path.relpath(rec_dir / "lfw-mini" / "train.rec", tmp_path))
    run = tmp_path / "run"
    args = ["train", "--data", str(data), "-o", "run", *TINY, "--steps", "100000"]
    args += ["--save-every", "2", "--log-every", "2", "--workers", "1"]

    code, lines = _stop_when(
        [sys.executable, "-c", CLI, *args],
        lambda: (run / "step_4.pt").is_file(),
        signal.SIGINT,
        cwd=tmp_path,
    )
    assert code == 130, lines
    assert (
        lines[-1]
        == "Interrupted. `maskgen train -o run --resume` continues from its last checkpoint."
    )
    assert not any(line.startswith(("Traceback", "Error")) for line in lines)
    step = read_checkpoint(run / "last.pt")["step"]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    refused = _invoke("-o", run, "--resume", "--lr", "0.5")
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"Error: resume: lr is 0.01 in {run}/config.json but --lr")
    resumed = _invoke("-o", run, "--resume", "--steps", step + 2, "--workers", "0")
    assert resumed.exit_code == 0, resumed.output
    assert f"trained to step {step + 2}" in resumed.stderr
    ckpt = read_checkpoint(run / "last.pt")
    assert ckpt["step"] == step + 2 and ckpt["config"]["lr"] == 0.01
    assert ckpt["config"]["data"] == str(rec_dir / "lfw-mini" / "train.rec")
    past = _invoke("-o", run, "--resume", "--steps", 1, "--workers", "0")  # already beyond
    assert past.exit_code == 0, past.output
    assert f"nothing to train: the run is at step {step + 2}, --steps 1;" in past.stderr
    assert read_checkpoint(run / "last.pt")["step"] == step + 2


@pytest.mark.torch
@pytest.mark.shared
def test_a_wrong_twin_names_the_first_key_that_differs(rec_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from maskgen.formats.recordio import RecordIOReader, RecordIOWriter

    original = rec_dir / "lfw-mini" / "train.rec"
    reader = RecordIOReader(original)
    keys = list(reader.keys())
    image_keys = [k for k in keys if reader.read(k).is_image]
    dropped = image_keys[100]
    twin = tmp_path / "twin" / "train.rec"  # the original without one image
    with RecordIOWriter(twin) as writer:
        for key in keys:
            if key != dropped:
                writer.write(reader.read(key))
    result = _invoke("--data", original, "--masked", twin, "-o", tmp_path / "run", *TINY)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Error: masked: {twin} is not the twin of {original}: image key {dropped} is here "
        f"but not there; 1 key is in only one of them (293 image keys there, 294 here)"
    ]


@pytest.mark.torch
@pytest.mark.shared
def test_quiet_prints_no_rows_but_writes_the_logs(rec_dir: Path, tmp_path: Path) -> None:
    """-q silences the rows and the closing line on stderr, as every long command's -q does;
    metrics.jsonl and TensorBoard's events are written as without it, errors still print."""
    pytest.importorskip("torch")
    data = rec_dir / "lfw-mini" / "train.rec"
    args = ("--data", data, *TINY, "--steps", "2", "--log-every", "1", "--workers", "0")
    loud = _invoke(*args, "-o", tmp_path / "loud")
    quiet = _invoke(*args, "-o", tmp_path / "quiet", "-q")
    assert loud.exit_code == 0 and quiet.exit_code == 0, (loud.output, quiet.output)
    assert [line.split()[0] for line in loud.stderr.splitlines()] == [
        "training", "chose", "step", "step", "trained"
    ]  # fmt: skip
    assert quiet.stderr == ""
    for run in (tmp_path / "loud", tmp_path / "quiet"):
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert [(row["kind"], row["step"]) for row in rows] == [("train", 1), ("train", 2)]
        assert list((run / "tb").glob("events.out.tfevents.*"))
        assert (run / "last.pt").is_file()
    (tmp_path / "empty.rec").touch()
    failed = _invoke("--data", tmp_path / "empty.rec", *TINY, "-o", tmp_path / "x", "-q")
    assert failed.exit_code == 1 and failed.stderr.startswith("Error: ")
    assert "-q, --quiet" in _invoke("--help").output


@pytest.mark.torch
@pytest.mark.shared
def test_online_mask_options_without_online_mask_are_refused(rec_dir: Path, tmp_path: Path) -> None:
    """--mask-types, --color-prob and --texture-prob say how --online-mask draws its masks;
    without it they did nothing, silently (a twin's masks were drawn by maskgen augment)."""
    pytest.importorskip("torch")
    data = rec_dir / "lfw-mini" / "train.rec"
    base = ("--data", data, *TINY, "--steps", "1", "--workers", "0")
    for index, (flag, value) in enumerate(
        [("--mask-types", "n95"), ("--color-prob", "0.2"), ("--texture-prob", "1")]
    ):
        run = tmp_path / f"run{index}"
        result = _invoke(*base, flag, value, "-o", run)
        assert result.exit_code == 1, result.output
        name = flag[2:].replace("-", "_")
        assert result.stderr.splitlines() == [
            f"Error: {name}: {flag} says how --online-mask draws its masks; a twin's were "
            f"drawn by maskgen augment (give {flag} there), so give it only with --online-mask"
        ]
        assert not run.exists()
    online = _invoke(*base, "--online-mask", "--mask-types", "n95", "-o", tmp_path / "ok", "-q")
    assert online.exit_code == 0, online.output
    # the same in a config file: refused too (it was stored in config.json and ignored)
    config = tmp_path / "c.toml"
    config.write_text('mask_types = "n95"\ncolor_prob = 0.1\n')
    from_file = _invoke(*base, "--config", config, "-o", tmp_path / "file")
    assert from_file.exit_code == 1, from_file.output
    assert "mask_types: --mask-types says how --online-mask draws" in from_file.stderr
    assert not (tmp_path / "file").exists()
    config.write_text('online_mask = true\nmask_types = "n95"\n')
    online_file = _invoke(*base, "--config", config, "-o", tmp_path / "file_ok", "-q")
    assert online_file.exit_code == 0, online_file.output


@pytest.mark.torch
@pytest.mark.shared
def test_mask_head_options_without_masked_samples_are_named_in_a_warning(
    rec_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without --masked or --online-mask no mask head is trained: --masked-prob, --mask-weight
    and --mask-smoothing used to be accepted and do nothing, without a word."""
    pytest.importorskip("torch")
    data = rec_dir / "lfw-mini" / "train.rec"
    args = ("--data", data, *TINY, "--steps", "1", "--workers", "0", "--threads", "1", "-q")
    result = _invoke(*args, "--masked-prob", "0.9", "--mask-weight", "3", "-o", tmp_path / "r")
    assert result.exit_code == 0, result.output
    warnings = [r.getMessage() for r in caplog.records if r.name == "maskgen.cli.train"]
    assert warnings == [
        "--masked-prob, --mask-weight: no effect without masked samples (--masked or "
        "--online-mask): no mask head is trained"
    ]


def test_resume_help_names_every_flag_a_resumed_run_may_change() -> None:
    """--resume's help lists the flags that may differ on a resumed run; --threads, which
    the code (and the README) let differ, was missing, so a user read it as fixed."""
    from fnmatch import fnmatch

    from maskgen.cli.train import train
    from maskgen.train.config import RESUME_MAY_CHANGE

    entry = _option_help(_invoke("--help").output)["--resume"]
    listed = entry.split("(", 1)[1].split(")", 1)[0]
    patterns = [word.strip(",.") for part in listed.split() for word in part.split("/")]
    flags = {
        param.name: next(opt for opt in param.opts if opt.startswith("--"))
        for param in train.params
        if param.name in RESUME_MAY_CHANGE - {"output", "resume"}
    }
    assert "threads" in flags
    unnamed = [f for f in flags.values() if not any(fnmatch(f, p) for p in patterns)]
    assert unnamed == []


@pytest.mark.torch
@pytest.mark.shared
def test_a_checkpoint_that_cannot_be_written_is_one_line(rec_dir: Path, tmp_path: Path) -> None:
    """The disk fills up as the checkpoint is saved (here: the OS refuses any file over 64 KB,
    as a quota does). torch.save's failure reached the command line as a traceback ending in
    'RuntimeError: [enforce fail at inline_container.cc:672] . unexpected pos ...', and left
    last.pt.tmp behind; now one line naming the file and the OS's reason, exit code 1."""
    pytest.importorskip("torch")
    data = rec_dir / "lfw-mini" / "train.rec"
    run = tmp_path / "run"
    args = ["train", "--data", data, "-o", run, *TINY, "--steps", "1", "--workers", "0", "-q"]

    done = run_maskgen_limited(args, 64_000)
    assert done.returncode == 1
    expected = f"Error: {run / 'last.pt'}: cannot write the checkpoint (File too large)"
    assert done.stderr.strip() == expected, done.stderr
    assert not list(run.glob("*.pt*"))


@pytest.mark.torch
@pytest.mark.shared
@pytest.mark.parametrize("package", ["torch", "tensorboard"])
def test_a_missing_package_of_the_train_extra_is_one_line(
    package: str, rec_dir: Path, tmp_path: Path
) -> None:
    """`maskgen train` with torch but not tensorboard (`pip install torch` instead of the
    [train] extra) went through the setup and ended in a ModuleNotFoundError traceback when
    it opened TensorBoard's log; now one line naming the package and the extra, as without
    torch, and no run folder. A package is hidden by a None in sys.modules, which makes
    importing it fail as if it were not installed."""
    pytest.importorskip("torch")
    run = tmp_path / "run"
    args = ["train", "--data", rec_dir / "lfw-mini" / "train.rec", *TINY]
    result = run_maskgen_without(package, [*args, "--steps", "1", "--workers", "0", "-o", run])
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        f"Error: maskgen train needs the [train] extra ({package} not installed): "
        "pip install 'maskgen[train]'\n"
    )
    assert not run.exists()


@pytest.mark.torch
@pytest.mark.shared
def test_files_no_run_wrote_are_not_replaced(rec_dir: Path, tmp_path: Path) -> None:
    """`maskgen train -o DIR` replaced DIR's config.json and metrics.jsonl whatever wrote them
    (`-o .` in a project folder: its own config.json gone without a word); only a last.pt
    stopped it. Files no maskgen run wrote now stop it in one line, kept as they were; a run
    that stopped before its first checkpoint (its config.json, no last.pt) starts over."""
    pytest.importorskip("torch")
    data = rec_dir / "lfw-mini" / "train.rec"
    args = ("--data", data, *TINY, "--steps", "1", "--workers", "0", "-q")
    for name, text in (("config.json", '{"model": "mine"}\n'), ("metrics.jsonl", "notes\n")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / name).write_text(text)
        result = _invoke(*args, "-o", folder)
        assert result.exit_code == 1, result.output
        assert result.stderr == (
            f"Error: {folder / name}: exists and is not a maskgen run's, which a new run would "
            "replace; choose another --output\n"
        )
        assert [p.name for p in folder.iterdir()] == [name]
        assert (folder / name).read_text() == text
    run = tmp_path / "run"
    assert _invoke(*args, "-o", run).exit_code == 0
    (run / "last.pt").unlink()  # as a run that stopped before its first checkpoint leaves it
    again = _invoke(*args, "-o", run)
    assert again.exit_code == 0, again.output
    assert (run / "last.pt").is_file()


@pytest.mark.torch
@pytest.mark.shared
def test_damaged_records_do_not_end_a_run(
    rec_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A new user's run on a set with a damaged JPEG died at step 3 with every step lost; the
    next record now stands in, the run finishes and says which record it could not read."""
    from tests.train.helpers import write_damaged_copy

    source = rec_dir / "lfw-mini" / "train.rec"
    damaged = write_damaged_copy(source, tmp_path / "set" / "train.rec", set(range(1, 295, 10)))
    args = ("--data", damaged, *TINY, "--steps", "4", "--workers", "0", "-o", tmp_path / "run")
    with caplog.at_level("WARNING", logger="maskgen.train.data"):
        result = _invoke(*args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "last.pt").is_file()
    warned = [r.getMessage() for r in caplog.records if r.name == "maskgen.train.data"]
    assert warned and all(
        m.endswith("is not a decodable image: trained on the next record in its place")
        for m in warned
    )


@pytest.mark.torch
def test_a_bad_value_is_named_by_its_option(tmp_path: Path) -> None:
    """The checks speak of a setting by its config key (``steps``), which a new user who
    typed ``--steps -5`` does not know; at the command line the key is the option, and a bad
    value typed there is click's usage error (exit code 2), as in every other command (it
    was exit code 1, in words of its own)."""
    (tmp_path / "absent.rec").write_bytes(b"never read: the value is refused first")
    for args, said in (
        (("--steps", "-5"), "Invalid value for '--steps': must be at least 1, got -5"),
        (("--masked-prob", "2"), "Invalid value for '--masked-prob': must be in [0, 1], got 2.0"),
        (("--lr", "0"), "Invalid value for '--lr': must be positive, got 0.0"),
    ):
        result = _invoke("--data", tmp_path / "absent.rec", *args, "-o", tmp_path / "run")
        assert result.exit_code == 2, result.output
        assert result.stderr.strip().splitlines()[-1] == f"Error: {said}", result.output
    # the same value from a config file is that file's, not an option's: one line, exit 1
    (tmp_path / "c.yaml").write_text("steps: -5\n")
    args = ("--data", tmp_path / "absent.rec", "--config", tmp_path / "c.yaml")
    result = _invoke(*args, "-o", tmp_path / "run")
    assert result.exit_code == 1, result.output
    assert (
        result.stderr.strip() == f"Error: {tmp_path / 'c.yaml'}: steps: must be at least 1, got -5"
    )


@pytest.mark.torch
@pytest.mark.shared
def test_a_run_its_data_stops_keeps_the_steps_it_finished(rec_dir: Path, tmp_path: Path) -> None:
    """One record in ten damaged: past the share a loader may stand in for, the run stops,
    and the steps it finished are in last.pt (they were lost), its message says so."""
    from maskgen.nn.checkpoint import read_checkpoint
    from tests.train.helpers import write_damaged_copy

    source = rec_dir / "lfw-mini" / "train.rec"
    damaged = write_damaged_copy(source, tmp_path / "set" / "train.rec", set(range(1, 295, 10)))
    args = ("--data", damaged, *TINY, "--steps", "50", "--workers", "0", "-o", tmp_path / "run")
    result = _invoke(*args)
    assert result.exit_code == 1
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "hold no decodable image" in error and "--resume continues from there" in error
    step = read_checkpoint(tmp_path / "run" / "last.pt")["step"]
    assert 0 < step < 50 and f"steps to {step} saved in" in error
