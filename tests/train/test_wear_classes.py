"""`maskgen train --wear-classes`: the 5-way mask head, its labels from a `--wear` twin, the
loss, checkpoints that say their head size, and the refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from maskgen.cli.main import cli
from maskgen.errors import ConfigError, TrainingError
from maskgen.formats.recordio import RecordIOReader
from maskgen.masks.wear import WEAR_CLASSES
from maskgen.nn.models import create_model, load_model
from maskgen.train.data import FaceDataset, Ticket, open_train_data
from maskgen.train.loop import train
from maskgen.train.losses import multitask_loss
from tests.train.helpers import tiny_config

WEAR = "correct=0.25,nose_uncovered=0.25,mouth_uncovered=0.25,chin_uncovered=0.25"


@pytest.fixture(scope="module")
def wear_twin(lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lfw-mini's twin written by `maskgen augment --wear` (every placement a quarter)."""
    out = tmp_path_factory.mktemp("wear-twin")
    args = ["augment", str(lfw_mini), "-o", str(out), "--wear", WEAR, "--workers", "1", "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return out / "train.rec"


def _config(data: Path, output: Path, **overrides: object) -> object:
    return tiny_config(data, output, **{"workers": 0, "wear_classes": True, **overrides})


def test_head_has_five_logits_and_the_loss_keeps_its_form() -> None:
    torch.manual_seed(0)
    network = create_model("tiny", mask_classes=5).eval()
    embedding, logits = network(torch.randn(3, 3, 112, 112))
    assert embedding.shape == (3, 512) and logits.shape == (3, 5)
    arcface_logits = torch.randn(3, 10)
    ids, wear = torch.tensor([1, 4, 7]), torch.tensor([0, 3, 4])
    total, _, mask = multitask_loss(arcface_logits, ids, logits, wear)
    expected_mask = F.cross_entropy(logits, wear)
    assert torch.isclose(mask, expected_mask)
    assert torch.isclose(total, F.cross_entropy(arcface_logits, ids) + torch.log1p(expected_mask))
    with pytest.raises(ConfigError, match="mask_classes"):
        create_model("tiny", mask_classes=3)


def test_labels_are_the_twin_wear_classes(lfw_mini: Path, wear_twin: Path) -> None:
    data = open_train_data(lfw_mini, wear_twin, wear_classes=True)
    dataset = FaceDataset(data, wear_classes=True)
    twin = RecordIOReader(wear_twin)
    seen = set()
    for position in range(0, len(data), 7):
        _, _, label = dataset[Ticket(position, True, False)]
        record = twin.read(int(data.keys[position])).label
        assert label == (int(record[2]) if record[1] >= 0.5 else 0)
        seen.add(label)
        _, _, original = dataset[Ticket(position, False, False)]
        assert original == 0  # an original face: no mask
    assert seen >= {1, 2, 3, 4}


def test_a_few_steps_train_and_the_checkpoint_says_five(
    lfw_mini: Path, wear_twin: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    summary = train(_config(lfw_mini, run, masked=str(wear_twin), steps=3, log_every=1))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(0.0 <= r["wear_acc"] <= 1.0 for r in rows)
    assert all(math.isfinite(r["loss_mask"]) for r in rows)
    ckpt = torch.load(summary.last_checkpoint, weights_only=True)
    assert ckpt["mask_classes"] == 5 and ckpt["model"]["mask_fc.weight"].shape[0] == 5
    network, info = load_model(summary.last_checkpoint)
    assert info["mask_classes"] == 5 and network.mask_fc.out_features == len(WEAR_CLASSES)


def test_an_old_two_way_checkpoint_still_loads(tmp_path: Path) -> None:
    from tests.nn.helpers import write_network_checkpoint

    path = write_network_checkpoint(tmp_path / "old.pt", create_model("tiny"))
    ckpt = torch.load(path, weights_only=True)
    del ckpt["mask_classes"]  # as written before wear classes existed
    torch.save(ckpt, path)
    network, info = load_model(path)
    assert info["mask_classes"] == 2 and network.mask_fc.out_features == 2


def test_a_twin_without_wear_labels_is_refused(
    lfw_mini: Path, lfw_mini_augmented: Path, tmp_path: Path
) -> None:
    with pytest.raises(TrainingError, match="not written with --wear"):
        open_train_data(lfw_mini, lfw_mini_augmented, wear_classes=True)
    args = ["train", "--data", str(lfw_mini), "--masked", str(lfw_mini_augmented)]
    args += ["--wear-classes", "--network", "tiny", "--device", "cpu", "--steps", "1"]
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "r")])
    assert result.exit_code != 0
    message = result.output.strip().splitlines()[-1]
    assert "not written with --wear" in message and "Traceback" not in result.output


def test_config_refusals(lfw_mini: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs masks"):
        _config(lfw_mini, tmp_path)
    with pytest.raises(ConfigError, match="give --wear"):
        _config(lfw_mini, tmp_path, online_mask=True)
    with pytest.raises(ConfigError, match="only with --online-mask"):
        _config(lfw_mini, tmp_path, wear=WEAR, wear_classes=False)
    with pytest.raises(ConfigError, match="wear: unknown placement"):
        _config(lfw_mini, tmp_path, online_mask=True, wear="sideways=1")


def test_online_masks_label_the_drawn_placement(lfw_mini: Path) -> None:
    from maskgen.train.data import load_online_masker, online_mask_key

    masker = load_online_masker(seed=3, wear=WEAR)
    data = open_train_data(lfw_mini)
    dataset = FaceDataset(data, masker, wear_classes=True)
    for position in range(0, 40, 8):
        _, _, label = dataset[Ticket(position, True, False, 0)]
        key = int(data.keys[position])
        image = np.asarray(dataset[Ticket(position, False, False, 0)][0])
        out = masker(image=image, key=online_mask_key(key, 0), force_apply=True)
        expected = WEAR_CLASSES.index(out["params"]["wear"]) if out["masked"] else 0
        assert label == expected
