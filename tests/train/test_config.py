"""Config resolution: defaults < preset < file < flags, and unknown keys."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from maskgen.cli.main import cli
from maskgen.errors import ConfigError
from maskgen.train.config import TrainConfig, resolve_config, write_config_json


def test_defaults_are_the_paper_recipe() -> None:
    c = TrainConfig()
    assert (c.batch_size, c.lr, c.momentum, c.lr_gamma) == (512, 0.0015, 0.9, 0.3)
    assert c.lr_milestones == (120_000, 200_000, 280_000, 300_000)
    assert resolve_config(preset="paper") == TrainConfig(preset="paper")


def test_precedence_defaults_preset_file_flags(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text('network = "r34"\nbatch-size = 256\nlr = 0.2\nval = ["a.bin", "b.bin"]\n')
    c = resolve_config(preset="arcface", config_file=toml, overrides={"lr": 0.3})
    assert c.momentum == 0.9 and c.schedule == "poly"  # preset over defaults
    assert c.epochs == 20 and c.steps is None  # the preset's epochs replace the default steps
    assert c.network == "r34" and c.batch_size == 256  # file over preset
    assert c.lr == 0.3  # flags over file
    assert c.effective_lr == pytest.approx(0.3 * 256 / 1024)  # arcface lr scales with batch
    assert c.val == ("a.bin", "b.bin") and c.preset == "arcface"


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


def test_config_json_round_trips(tmp_path: Path) -> None:
    c = resolve_config(preset="arcface", overrides={"val": ["x.bin"], "data": "d.rec"})
    write_config_json(c, tmp_path / "config.json")
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["maskgen_version"]
    assert TrainConfig.from_dict(saved["config"]) == c


def test_cli_reports_an_unknown_config_key_in_one_line(tmp_path: Path) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text("batch = 3\n")
    result = CliRunner().invoke(cli, ["train", "--config", str(toml), "--data", "x.rec"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "unknown key 'batch'" in lines[0]


def test_example_configs_are_the_presets() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    paper = resolve_config(config_file=examples / "train_paper.toml")
    expected = resolve_config(preset="paper", overrides={"precision": "bf16", "log_every": 100})
    assert paper == dataclasses.replace(expected, preset=None)
    arcface = resolve_config(config_file=examples / "train_arcface_r50.toml")
    assert arcface == resolve_config(preset="arcface", overrides={"precision": "bf16"})
