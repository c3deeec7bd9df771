"""Config resolution: defaults < preset < file < flags, and unknown keys."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from maskgen.cli.main import cli
from maskgen.errors import ConfigError
from maskgen.train.config import (
    TrainConfig,
    resolve_config,
    resolve_resume_config,
    write_config_json,
)


def test_defaults_are_the_paper_recipe_with_augmentation_and_automatic_sizes() -> None:
    c = TrainConfig()
    assert (c.lr, c.momentum, c.lr_gamma) == (0.0015, 0.9, 0.3)
    assert c.lr_milestones == (120_000, 200_000, 280_000, 300_000)
    assert (c.batch_size, c.workers, c.threads) == (None, None, None)  # chosen by the run
    assert (c.augment, c.mask_weight, c.clip_grad_norm) == ("realism", 1.0, None)
    assert c.mask_smoothing == 0.1
    paper = resolve_config(preset="paper")
    assert paper == TrainConfig(
        preset="paper", batch_size=512, augment="none", mask_smoothing=0.0
    )  # the paper's loss: no label smoothing


def test_arcface_preset_clips_the_gradient_norm_at_5() -> None:
    c = resolve_config(preset="arcface")
    assert (c.clip_grad_norm, c.augment, c.batch_size) == (5.0, "none", 1024)
    assert resolve_config(preset="arcface", overrides={"clip_grad_norm": 1}).clip_grad_norm == 1
    for key, value, message in (
        ("clip_grad_norm", 0, "clip_grad_norm: must be positive"),
        ("augment", "blur", "augment: 'blur' is not one of none, realism"),
        ("mask_weight", -1, "mask_weight: must not be negative"),
        ("mask_smoothing", 1.0, r"mask_smoothing: must be in \[0, 1\)"),
        ("mask_smoothing", -0.1, r"mask_smoothing: must be in \[0, 1\)"),
        ("threads", 0, "threads: must be at least 1"),
        ("seed", 2**64, r"seed: must be in \[0, 2\*\*64\)"),  # was torch's traceback
        ("seed", -1, r"seed: must be in \[0, 2\*\*64\)"),
    ):
        with pytest.raises(ConfigError, match=message):
            resolve_config(overrides={key: value})


def test_a_run_stored_before_augmentation_resumes_without_it(tmp_path: Path) -> None:
    c = resolve_config(overrides={"data": str(tmp_path / "d.rec"), "batch_size": 64})
    stored = {k: v for k, v in c.to_dict().items() if k not in ("augment", "mask_smoothing")}
    (tmp_path / "config.json").write_text(json.dumps({"config": stored}))
    resumed = resolve_resume_config(tmp_path)
    assert (resumed.augment, resumed.mask_smoothing) == ("none", 0.0)
    assert c.mask_smoothing == 0.1  # a new run smooths; one stored before the field did not
    write_config_json(c, tmp_path / "config.json")
    assert resolve_resume_config(tmp_path).augment == "realism"


def test_mask_smoothing_defaults_to_0_1_for_the_2_way_head_and_0_for_wear_classes(
    tmp_path: Path,
) -> None:
    twin = str(tmp_path / "twin.rec")
    assert resolve_config(overrides={"masked": twin}).mask_smoothing == 0.1
    wear = resolve_config(overrides={"masked": twin, "wear_classes": True})
    assert wear.mask_smoothing == 0.0
    online = resolve_config(
        overrides={"online_mask": True, "wear_classes": True, "wear": "correct=0.5,"
                   "mouth_uncovered=0.5"}
    )  # fmt: skip
    assert online.mask_smoothing == 0.0
    # given anywhere (flag, file, preset), it stands for either head
    given = {"masked": twin, "wear_classes": True, "mask_smoothing": 0.1}
    assert resolve_config(overrides=given).mask_smoothing == 0.1
    path = tmp_path / "smooth.toml"
    path.write_text("mask_smoothing = 0.05\n")
    from_file = resolve_config(config_file=path, overrides={"masked": twin, "wear_classes": True})
    assert from_file.mask_smoothing == 0.05
    assert resolve_config(preset="paper", overrides={"masked": twin}).mask_smoothing == 0.0
    # the value chosen is stored, so a wear-class run resumes with it (and one stored with 0.1
    # before this default keeps 0.1)
    write_config_json(wear, tmp_path / "config.json")
    stored = json.loads((tmp_path / "config.json").read_text())["config"]
    assert stored["mask_smoothing"] == 0.0
    assert resolve_resume_config(tmp_path).mask_smoothing == 0.0
    write_config_json(dataclasses.replace(wear, mask_smoothing=0.1), tmp_path / "config.json")
    assert resolve_resume_config(tmp_path).mask_smoothing == 0.1


def test_precedence_defaults_preset_file_flags(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    toml = tmp_path / "run.toml"
    toml.write_text('network = "r34"\nbatch-size = 256\nlr = 0.2\nval = ["a.bin", "b.bin"]\n')
    c = resolve_config(preset="arcface", config_file=toml, overrides={"lr": 0.3})
    assert c.momentum == 0.9 and c.schedule == "poly"  # preset over defaults
    assert c.epochs == 20 and c.steps is None  # the preset's epochs replace the default steps
    assert c.network == "r34" and c.batch_size == 256  # file over preset
    assert c.lr == 0.3  # flags over file
    assert c.effective_lr == pytest.approx(0.3 * 256 / 1024)  # arcface lr scales with batch
    assert c.val == (str(tmp_path / "a.bin"), str(tmp_path / "b.bin"))  # made absolute
    assert c.preset == "arcface"


def test_a_layer_setting_steps_clears_epochs(tmp_path: Path) -> None:
    c = resolve_config(preset="arcface", overrides={"steps": 100})
    assert (c.steps, c.epochs) == (100, None)
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("train:\n  epochs: 3\n  preset: arcface\n")
    c = resolve_config(config_file=yaml_file)
    assert (c.steps, c.epochs, c.schedule) == (None, 3, "poly")
    with pytest.raises(ConfigError, match="steps or epochs, not both"):
        resolve_config(overrides={"steps": 1, "epochs": 1})


def test_unknown_keys_and_bad_values_are_errors(tmp_path: Path) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text("learning_rate = 0.1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: unknown key 'learning_rate'"):
        resolve_config(config_file=toml)
    with pytest.raises(ConfigError, match="command line: unknown key 'nope'"):
        resolve_config(overrides={"nope": 1})
    with pytest.raises(ConfigError, match="batch_size: expected an integer"):
        resolve_config(overrides={"batch_size": "big"})
    with pytest.raises(ConfigError, match="network: 'r200' is not one of"):
        resolve_config(overrides={"network": "r200"})
    with pytest.raises(ConfigError, match="masked_prob: must be in"):
        resolve_config(overrides={"masked_prob": 1.5})
    with pytest.raises(ConfigError, match="preset: unknown 'fast'"):
        resolve_config(preset="fast")
    broken = tmp_path / "broken.toml"
    broken.write_text("lr = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve_config(config_file=broken)
    with pytest.raises(ConfigError, match="no such config file"):
        resolve_config(config_file=tmp_path / "absent.toml")


def test_rotate_limit_is_a_realism_setting_of_0_to_45_degrees(tmp_path: Path) -> None:
    """``--rotate-limit`` adds rotations to ``--augment realism``'s jitter: out of range, or
    given with ``--augment none`` (where nothing would rotate), it is one line naming the
    option; a run stored before the setting resumes without rotations."""
    assert resolve_config(overrides={"rotate_limit": 10}).rotate_limit == 10.0
    with pytest.raises(ConfigError, match=r"rotate_limit: must be in \[0, 45\] degrees"):
        resolve_config(overrides={"rotate_limit": 50})
    with pytest.raises(ConfigError, match="give it with augment realism, not none"):
        resolve_config(overrides={"rotate_limit": 5, "augment": "none"})
    args = ["train", "--data", str(tmp_path / "d.rec"), "--online-mask", "--augment", "none",
            "--rotate-limit", "5", "-o", str(tmp_path / "run")]  # fmt: skip
    (tmp_path / "d.rec").write_bytes(b"")
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: --rotate-limit: rotations are part of augment realism's jitter, so give it "
        "with --augment realism, not none"
    )
    c = resolve_config(overrides={"data": str(tmp_path / "d.rec")})
    stored = {k: v for k, v in c.to_dict().items() if k != "rotate_limit"}
    (tmp_path / "config.json").write_text(json.dumps({"config": stored}))
    assert resolve_resume_config(tmp_path).rotate_limit == 0.0


def test_a_config_built_in_python_takes_what_a_config_file_takes() -> None:
    """``train(TrainConfig(val="lfw.bin", ...))``, as a script builds one, failed at the
    start of training with "val: /: no such file" (the string taken letter by letter);
    mask_types kept their case and commas. Values now get a config file's conversions, and
    the same one-line errors."""
    config = TrainConfig(
        data=Path("data/train.rec"),
        output="run",
        val="lfw.bin",
        val_masked=Path("lfw_masked/lfw.bin"),
        online_mask=True,
        mask_types="Surgical, n95",
    )
    assert config.data == "data/train.rec" and config.val == ("lfw.bin",)
    assert config.val_masked == ("lfw_masked/lfw.bin",)
    assert config.mask_types == ("surgical", "n95")
    with pytest.raises(ConfigError, match="TrainConfig: steps: expected an integer"):
        TrainConfig(data="a.rec", output="run", steps="many")


def test_config_json_round_trips(tmp_path: Path) -> None:
    c = resolve_config(preset="arcface", overrides={"val": ["x.bin"], "data": "d.rec"})
    write_config_json(c, tmp_path / "config.json")
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["maskgen_version"]
    assert TrainConfig.from_dict(saved["config"]) == c


def test_cli_reports_an_unknown_config_key_in_one_line(tmp_path: Path) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text("batch = 3\n")
    data = tmp_path / "x.rec"
    data.write_bytes(b"never read: the config is refused first")
    result = CliRunner().invoke(cli, ["train", "--config", str(toml), "--data", str(data)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "unknown key 'batch'" in lines[0]


def test_a_config_file_that_is_not_utf_8_text_is_one_line(
    tmp_path: Path, lfw_fold1_bin: Path
) -> None:
    """`maskgen train --config lfw.bin` (a data file given by mistake) and a TOML file saved
    as Latin-1 both ended in a UnicodeDecodeError traceback: the file was decoded before its
    suffix was looked at, and the decode error was not caught. Each is now one line."""
    latin1 = tmp_path / "run.toml"
    latin1.write_bytes('network = "tiny"  # r\xe9seau\n'.encode("latin-1"))
    for path, message in (
        (lfw_fold1_bin, f"Error: {lfw_fold1_bin}: config files are .toml, .yaml or .yml"),
        (latin1, f"Error: {latin1}: not a text file in UTF-8 (invalid continuation byte)"),
    ):
        result = CliRunner().invoke(cli, ["train", "--config", str(path), "-o", "run"])
        assert result.exit_code == 1, result.output
        assert result.output.strip().splitlines() == [message]
    with pytest.raises(ConfigError, match="not a text file in UTF-8"):
        resolve_config(config_file=latin1)


def test_example_configs_are_the_presets() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    paper = resolve_config(config_file=examples / "train_paper.toml")
    expected = resolve_config(preset="paper", overrides={"log_every": 100})
    assert paper == dataclasses.replace(expected, preset=None)  # precision too (it said bf16)
    arcface = resolve_config(config_file=examples / "train_arcface_r50.toml")
    assert arcface == resolve_config(preset="arcface")


def test_paths_are_stored_absolute(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path / "data")
    c = resolve_config(
        overrides={"data": "train.rec", "masked": "../twin/train.rec", "output": "~/runs/a"}
    )
    assert c.data == str(tmp_path / "data" / "train.rec")
    assert c.masked == (str(tmp_path / "twin" / "train.rec"),)  # normalised, no ".."
    assert c.output == str(Path.home() / "runs" / "a")
    # a config built in Python with relative paths is stored with absolute ones all the same
    write_config_json(TrainConfig(data="d.rec", val=("v.bin",)), tmp_path / "config.json")
    saved = json.loads((tmp_path / "config.json").read_text())["config"]
    assert saved["data"] == str(tmp_path / "data" / "d.rec")
    assert saved["val"] == [str(tmp_path / "data" / "v.bin")]
    assert saved["init_from"] is None and saved["output"] == ""


def test_several_twins_are_kept_in_order_and_each_once(tmp_path: Path) -> None:
    c = TrainConfig(data="d.rec", masked=["b.rec", "a.rec"], output="run")
    assert c.masked == ("b.rec", "a.rec")
    with pytest.raises(ConfigError, match=r"masked: a\.rec given twice"):
        TrainConfig(data="d.rec", masked=["a.rec", "a.rec"], output="run")


def test_a_run_stored_with_one_twin_as_text_resumes(tmp_path: Path, monkeypatch) -> None:
    """Runs made before twins became a list stored ``"masked": "PATH"``."""
    run = _stored_run(tmp_path, monkeypatch)
    stored = json.loads((run / "config.json").read_text())
    stored["config"]["masked"] = str(tmp_path / "m.rec")
    (run / "config.json").write_text(json.dumps(stored))
    assert resolve_resume_config(run).masked == (str(tmp_path / "m.rec"),)


def _stored_run(tmp_path: Path, monkeypatch, **overrides) -> Path:
    """A run folder holding the config.json of a run started with relative paths."""
    monkeypatch.chdir(tmp_path)
    values = {"data": "d.rec", "masked": "m.rec", "output": "run", "network": "tiny"}
    config = resolve_config(preset="arcface", overrides={**values, **overrides})
    write_config_json(config, tmp_path / "run" / "config.json")
    return tmp_path / "run"


def test_resume_needs_only_the_run_folder(tmp_path: Path, monkeypatch) -> None:
    run = _stored_run(tmp_path, monkeypatch, batch_size=64, lr=0.2, val=["v.bin"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    c = resolve_resume_config(Path("../run"))
    assert c.resume and c.data == str(tmp_path / "d.rec") and c.masked == (str(tmp_path / "m.rec"),)
    assert (c.network, c.batch_size, c.lr, c.preset) == ("tiny", 64, 0.2, "arcface")
    assert (c.epochs, c.steps, c.val) == (20, None, (str(tmp_path / "v.bin"),))
    assert c.output == str(run)


def test_resume_flags_must_agree_except_how_long_and_how_it_reports(
    tmp_path: Path, monkeypatch
) -> None:
    run = _stored_run(tmp_path, monkeypatch, batch_size=64)
    same = {"data": str(tmp_path / "d.rec"), "batch_size": 64, "network": "tiny"}
    assert resolve_resume_config(run, preset="arcface", overrides=same).batch_size == 64
    assert resolve_resume_config(run, overrides={"data": "./d.rec"}).data == same["data"]
    free = {"steps": 50, "log_every": 3, "save_every": 7, "workers": 0, "device": "cpu"}
    c = resolve_resume_config(run, overrides={**free, "val": ["w.bin"], "val_every": 9})
    assert (c.steps, c.epochs, c.log_every, c.save_every, c.workers) == (50, None, 3, 7, 0)
    assert c.device == "cpu" and c.val == (str(tmp_path / "w.bin"),) and c.val_every == 9
    for overrides, flag in (
        ({"lr": 0.5}, "--lr"),
        ({"batch_size": 32}, "--batch-size"),
        ({"data": "other.rec"}, "--data"),
        ({"masked_prob": 0.2}, "--masked-prob"),
        ({"sharded_classifier": True}, "--sharded-classifier"),
    ):
        with pytest.raises(ConfigError, match=rf"resume: .* in {run}/config\.json but {flag} "):
            resolve_resume_config(run, overrides=overrides)
    with pytest.raises(ConfigError, match=r"resume: lr is 0\.1 in .* but --lr gives 0\.5; a "):
        resolve_resume_config(run, overrides={"lr": 0.5})
    with pytest.raises(ConfigError, match=r"preset is 'arcface' .* but --preset gives 'paper'"):
        resolve_resume_config(run, preset="paper")
    toml = tmp_path / "more.toml"
    toml.write_text("steps = 99\nmargin = 0.3\n")
    with pytest.raises(ConfigError, match=r"margin is 0.5 in .* but .*more\.toml gives 0.3"):
        resolve_resume_config(run, config_file=toml)
    toml.write_text("steps = 99\nmargin = 0.5\n")
    assert resolve_resume_config(run, config_file=toml).steps == 99


def test_new_val_sets_on_resume_replace_the_stored_ones_and_their_twins(
    tmp_path: Path, monkeypatch
) -> None:
    """A run validated on v.bin and its twin, resumed with --val w.bin only, kept the stored
    twin and paired it with w.bin ("not the masked twin of w.bin"), or was refused as one twin
    for two sets, blaming config.json. New --val sets now come without the old twins; given
    again, the twins are taken; without --val the stored pair stays."""
    run = _stored_run(tmp_path, monkeypatch, val=["v.bin"], val_masked=["vm.bin"])
    kept = resolve_resume_config(run, overrides={"steps": 5})
    assert kept.val == (str(tmp_path / "v.bin"),) and kept.val_masked == (str(tmp_path / "vm.bin"),)
    new = resolve_resume_config(run, overrides={"val": ["w.bin", "x.bin"]})
    assert new.val == (str(tmp_path / "w.bin"), str(tmp_path / "x.bin")) and new.val_masked == ()
    both = resolve_resume_config(run, overrides={"val": ["w.bin"], "val_masked": ["wm.bin"]})
    assert both.val_masked == (str(tmp_path / "wm.bin"),)


def test_resume_compares_the_config_file_as_the_flags_override_it(
    tmp_path: Path, monkeypatch
) -> None:
    """`--config train_paper.toml --network tiny` started a run that the same command with
    --resume refused ("network is 'tiny' in config.json but train_paper.toml gives 'r50'"):
    each layer was compared alone, and the examples' launch scripts, which pass --config on
    every rerun, could not resume a run given any flag of its own."""
    run = _stored_run(tmp_path, monkeypatch, batch_size=64)
    toml = tmp_path / "paper.toml"
    toml.write_text('network = "r50"\nbatch_size = 512\nmargin = 0.5\n')
    given = {"network": "tiny", "batch_size": 64}
    assert resolve_resume_config(run, config_file=toml, overrides=given).network == "tiny"
    with pytest.raises(ConfigError, match=r"network is 'tiny' in .* but .*paper\.toml gives"):
        resolve_resume_config(run, config_file=toml, overrides={"batch_size": 64})


def test_resume_names_a_setting_the_run_left_unset_in_words(tmp_path: Path, monkeypatch) -> None:
    """`maskgen train -o RUN --resume --ema-decay 0.999` on a run started without an EMA said
    "ema_decay is None in RUN/config.json": Python's None, not the user's words."""
    run = _stored_run(tmp_path, monkeypatch, batch_size=64)
    with pytest.raises(ConfigError) as refused:
        resolve_resume_config(run, overrides={"ema_decay": 0.999})
    assert str(refused.value).startswith(
        f"resume: ema_decay is not set in {run}/config.json but --ema-decay gives 0.999; "
    )


def test_resume_without_a_run_config_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config\.json: no such file, so nothing to resume"):
        resolve_resume_config(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not a readable run config"):
        resolve_resume_config(tmp_path)
    (tmp_path / "config.json").write_text('{"config": {"lr": 0.1, "speed": 3}}')
    with pytest.raises(ConfigError, match="unknown key 'speed'"):
        resolve_resume_config(tmp_path)


def test_online_mask_options_from_file_and_flags(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    toml = tmp_path / "online.toml"
    toml.write_text(
        'data = "d.rec"\nonline-mask = true\nmask-types = ["N95", "surgical", "n95"]\n'
        "color-prob = 0.25\n"
    )
    c = resolve_config(config_file=toml, overrides={"texture_prob": 0.0})
    assert c.online_mask and c.masked is None
    assert (c.mask_types, c.color_prob, c.texture_prob) == (("n95", "surgical"), 0.25, 0.0)
    write_config_json(c, tmp_path / "config.json")
    saved = json.loads((tmp_path / "config.json").read_text())["config"]
    assert saved["online_mask"] is True and saved["mask_types"] == ["n95", "surgical"]
    assert TrainConfig.from_dict(saved) == c
    flags = resolve_config(overrides={"online_mask": True, "mask_types": "Cloth, kn95,"})
    assert flags.mask_types == ("cloth", "kn95") and TrainConfig().mask_types is None
    with pytest.raises(ConfigError, match=r"online.toml, command line: online_mask masks the data"):
        resolve_config(config_file=toml, overrides={"masked": "m.rec"})
    with pytest.raises(ConfigError, match="mask_types: expected mask type names"):
        resolve_config(overrides={"mask_types": " , "})
    with pytest.raises(ConfigError, match=r"color_prob: must be in \[0, 1\], got -0.5"):
        resolve_config(overrides={"color_prob": -0.5})


def test_resume_keeps_the_online_mask_options(tmp_path: Path, monkeypatch) -> None:
    online = {"masked": None, "online_mask": True, "mask_types": "surgical,n95"}
    run = _stored_run(tmp_path, monkeypatch, **online, color_prob=0.3)
    c = resolve_resume_config(run, overrides={"steps": 9})
    assert c.online_mask and c.mask_types == ("surgical", "n95") and c.color_prob == 0.3
    same = {"online_mask": True, "mask_types": "SURGICAL, n95", "color_prob": 0.3}
    assert resolve_resume_config(run, overrides=same).mask_types == ("surgical", "n95")
    for overrides, flag in (
        ({"mask_types": "surgical"}, "--mask-types"),
        ({"color_prob": 0.5}, "--color-prob"),
        ({"texture_prob": 0.1}, "--texture-prob"),
        ({"masked": "m.rec"}, "--masked"),
    ):
        with pytest.raises(ConfigError, match=rf"resume: .* in {run}/config\.json but {flag} "):
            resolve_resume_config(run, overrides=overrides)
    toml = tmp_path / "more.toml"
    toml.write_text('mask-types = "cloth"\n')
    with pytest.raises(
        ConfigError, match=r"mask_types is \('surgical', 'n95'\) in .*more\.toml gives"
    ):
        resolve_resume_config(run, config_file=toml)
    (tmp_path / "twin").mkdir()
    twin_run = _stored_run(tmp_path / "twin", monkeypatch)  # a run on a twin
    with pytest.raises(ConfigError, match=r"online_mask is False in .* but --online-mask gives"):
        resolve_resume_config(twin_run, overrides={"online_mask": True})


def test_a_bad_value_is_blamed_on_the_layer_that_gave_it(tmp_path: Path) -> None:
    """A value from the command line is named as its option there (the error carries the
    parameter); one from a config file names the file, and no option the user never typed."""
    with pytest.raises(ConfigError) as typed:
        resolve_config(overrides={"data": "x.rec", "steps": -5})
    assert str(typed.value) == "steps: must be at least 1, got -5"
    assert typed.value.parameters == {"steps": "steps"}
    config = tmp_path / "c.toml"
    config.write_text("steps = -5\n")
    with pytest.raises(ConfigError) as filed:
        resolve_config(config_file=config, overrides={"data": "x.rec"})
    assert str(filed.value) == f"{config}: steps: must be at least 1, got -5"
    assert filed.value.parameters == {}


def test_an_os_error_in_a_loader_worker_is_one_line() -> None:
    """torch re-raises a worker's OSError as OSError(its whole traceback), without errno or
    file name: it reached the command line as sixteen lines."""
    from maskgen.errors import TrainingError
    from maskgen.train.loop import _next_batch

    def failing() -> Iterator[None]:
        raise OSError(
            "Caught OSError in DataLoader worker process 0.\nOriginal Traceback (most recent "
            'call last):\n  File "x.py", line 1, in f\nOSError: [Errno 5] Input/output error: '
            "'/data/train.rec'\n"
        )
        yield

    with pytest.raises(TrainingError) as caught:
        _next_batch(failing())
    assert str(caught.value) == "loading data: [Errno 5] Input/output error: '/data/train.rec'"
