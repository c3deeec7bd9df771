"""The weights' moving average (``ema_decay``): the average itself, and a run that saves,
validates and resumes it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from maskgen.cli.main import cli
from maskgen.errors import ConfigError
from maskgen.nn.checkpoint import read_checkpoint
from maskgen.nn.models import load_model
from maskgen.train.config import TrainConfig
from maskgen.train.ema import WeightAverage, ema_decay_at
from maskgen.train.loop import train
from tests.train.helpers import tiny_config

pytestmark = [pytest.mark.torch]


def test_the_decay_grows_towards_the_one_asked_for() -> None:
    assert ema_decay_at(0.999, 0) == pytest.approx(0.1)
    assert ema_decay_at(0.999, 90) == pytest.approx(91 / 100)
    assert ema_decay_at(0.999, 100_000) == 0.999


def test_the_average_follows_the_ema_rule_on_weights_and_batch_norm_statistics() -> None:
    """Five updates of a linear layer and a batch norm, checked against the rule written out
    in numpy: the first update copies, then ``avg = d * avg + (1 - d) * new``."""
    torch.manual_seed(0)
    network = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    average = WeightAverage(network, decay=0.5)
    expected: dict[str, np.ndarray] = {}
    for update in range(5):
        with torch.no_grad():
            for p in network.parameters():
                p.add_(torch.randn_like(p))
        network.train()(torch.randn(8, 3))  # moves the running statistics and the counter
        average.update(network)
        d = ema_decay_at(0.5, update)
        for name, value in network.state_dict().items():
            now = value.numpy().astype(np.float64)
            if update == 0 or not value.is_floating_point():
                expected[name] = now
            else:
                expected[name] = d * expected[name] + (1 - d) * now
    averaged = average.module.state_dict()
    assert average.updates == 5
    for name, value in expected.items():
        np.testing.assert_allclose(averaged[name].numpy(), value, rtol=1e-5, atol=1e-6)
    assert int(averaged["1.num_batches_tracked"]) == 5
    # and it is not the network's last weights
    assert not torch.allclose(averaged["0.weight"], network.state_dict()["0.weight"])


@pytest.mark.shared
def test_a_run_saves_the_average_as_its_model_and_resumes_exactly(
    lfw_mini: Path, lfw_mini_twin: Path, tmp_path: Path
) -> None:
    common = {"masked": str(lfw_mini_twin), "ema_decay": 0.9, "log_every": 3, "save_every": 6}
    straight, split = tmp_path / "straight", tmp_path / "split"
    summary = train(tiny_config(lfw_mini, straight, steps=12, **common))
    train(tiny_config(lfw_mini, split, steps=6, **common))
    train(tiny_config(lfw_mini, split, steps=12, resume=True, **common))
    a, b = read_checkpoint(straight / "last.pt"), read_checkpoint(split / "last.pt")
    for key in ("model", "train_model"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), (key, name)
    # the saved model is the average, not the last step's weights
    moved = [n for n, v in a["model"].items() if v.is_floating_point()]
    assert any(not torch.equal(a["model"][n], a["train_model"][n]) for n in moved)
    net, _ = load_model(straight / "last.pt")
    assert summary.model is not None
    x = torch.randn(2, 3, 112, 112)
    with torch.no_grad():
        expected, got = summary.model.eval()(x), net(x)
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


@pytest.mark.shared
def test_resume_keeps_the_decay(lfw_mini: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny_config(lfw_mini, run, steps=2, ema_decay=0.9))
    with pytest.raises(ConfigError, match="ema_decay"):
        train(tiny_config(lfw_mini, run, steps=4, resume=True))


@pytest.mark.parametrize("decay", [0.0, 1.0, 1.5, -0.1])
def test_a_decay_outside_zero_one_is_refused(decay: float) -> None:
    with pytest.raises(ConfigError, match=r"ema_decay: must be in \(0, 1\)"):
        TrainConfig(data="a.rec", output="run", ema_decay=decay)


def test_the_flag_refuses_a_decay_of_one_as_a_bad_value(tmp_path: Path) -> None:
    (tmp_path / "a.rec").write_bytes(b"never read: the value is refused first")
    args = ["train", "--data", str(tmp_path / "a.rec"), "-o", str(tmp_path / "run")]
    result = CliRunner().invoke(cli, [*args, "--ema-decay", "1"])
    assert result.exit_code == 2  # a bad value typed: click's usage error, as elsewhere
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: Invalid value for '--ema-decay': must be in (0, 1), e.g. 0.999, got 1.0"
    )
