"""Validation on a .bin during training, and its agreement with ``maskgen eval`` (the 10-fold
protocol itself is tested in tests/nn)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from maskgen.cli.main import cli
from maskgen.errors import DatasetFormatError
from maskgen.formats.verification import read_verification_bin, write_verification_bin
from maskgen.nn.checkpoint import read_checkpoint
from maskgen.nn.embedder import Embedder
from maskgen.nn.models import create_model
from maskgen.train.config import resolve_config
from maskgen.train.loop import train
from maskgen.train.validation import validate_bin
from tests.train.helpers import draw_mask, encode_jpeg

pytestmark = [pytest.mark.torch, pytest.mark.shared]


def _small_set(
    lfw_fold1_bin: Path, folder: Path, *, keep_every: int = 0
) -> tuple[Path, Path, list[bytes], list[bytes]]:
    """60 pairs of lfw-fold1 (30 same, 30 different) and a masked twin; with ``keep_every``,
    every such image of the twin is stored unchanged (a face that could not be masked)."""
    images, issame = read_verification_bin(lfw_fold1_bin)
    pairs = [*range(0, 30), *range(300, 330)]
    images = [images[2 * p + i] for p in pairs for i in (0, 1)]
    issame = [issame[p] for p in pairs]
    rng = np.random.default_rng(0)
    twin = []
    for i, data in enumerate(images):
        if keep_every and i % keep_every == 0:
            twin.append(data)
            continue
        rgb = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
        twin.append(encode_jpeg(draw_mask(rgb, rng)))
    original = write_verification_bin(folder / "lfw-60.bin", images, issame)
    masked = write_verification_bin(folder / "masked" / "lfw-60.bin", twin, issame)
    return original, masked, images, twin


def test_validate_bin_reports_all_views(lfw_fold1_bin: Path, tmp_path: Path) -> None:
    original, masked, images, twin = _small_set(lfw_fold1_bin, tmp_path, keep_every=5)
    torch.manual_seed(0)
    net = create_model("tiny").train()
    embedder = Embedder.from_network(net, name="tiny", batch_size=32)
    row = validate_bin(embedder, original, masked)
    assert net.training  # validated in eval mode, then put back
    assert row["set"] == "lfw-60"
    for key in ("accuracy", "accuracy_masked", "accuracy_mixed", "mask_accuracy"):
        assert 0.0 <= row[key] <= 1.0
    # the mask-usage truth: 120 originals unmasked, 96 twins masked, 24 stored as they were
    p_orig = embedder.embed_encoded(images).mask_prob
    p_twin = embedder.embed_encoded(twin).mask_prob
    truth = np.r_[np.zeros(120, bool), [i % 5 != 0 for i in range(120)]]
    assert row["mask_accuracy"] == np.mean((np.r_[p_orig, p_twin] > 0.5) == truth)
    plain = validate_bin(embedder, original)
    assert plain["accuracy"] == row["accuracy"] and "mask_accuracy" not in plain
    assert 0.0 <= plain["threshold"] < 4.0
    with pytest.raises(DatasetFormatError, match="not the masked twin"):
        validate_bin(embedder, original, lfw_fold1_bin)


def test_mixed_pairs_take_the_second_image_from_the_twin(
    lfw_fold1_bin: Path, tmp_path: Path
) -> None:
    """Mixed accuracy is that of pairs (original 2i, twin 2i + 1), written out as a .bin."""
    original, masked, images, twin = _small_set(lfw_fold1_bin, tmp_path)
    issame = read_verification_bin(original)[1]
    mixed = [images[i] if i % 2 == 0 else twin[i] for i in range(len(images))]
    mixed_bin = write_verification_bin(tmp_path / "mixed.bin", mixed, issame)
    torch.manual_seed(1)
    embedder = Embedder.from_network(create_model("tiny"), name="tiny", batch_size=32)
    row = validate_bin(embedder, original, masked)
    assert row["accuracy_mixed"] == validate_bin(embedder, mixed_bin)["accuracy"]
    assert row["accuracy_masked"] == validate_bin(embedder, masked)["accuracy"]


def test_validation_rows_equal_maskgen_eval_of_the_checkpoint(
    lfw_mini: Path, lfw_mini_twin: Path, lfw_fold1_bin: Path, tmp_path: Path
) -> None:
    """The figures training logs at a step are the figures `maskgen eval` gives for the
    checkpoint saved at that step: one embedder, one protocol. Every 7th twin image is its
    original's bytes (a face augment could not mask): both count it unmasked (eval counted it
    masked, so its figure and the row's disagreed on any twin maskgen augment writes)."""
    original, masked, _, _ = _small_set(lfw_fold1_bin, tmp_path, keep_every=7)
    run = tmp_path / "run"
    config = resolve_config(
        overrides={
            "data": str(lfw_mini),
            "masked": str(lfw_mini_twin),
            "output": str(run),
            "network": "tiny",
            "batch_size": 32,
            "lr": 0.1,
            "steps": 6,
            "device": "cpu",
            "workers": 0,
            "val": (str(original),),
            "val_masked": (str(masked),),
            "val_every": 6,
            "val_batch_size": 24,
        }
    )
    train(config)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (row,) = [r for r in map(json.loads, lines) if r["kind"] == "val"]
    assert row["step"] == 6 and read_checkpoint(run / "last.pt")["step"] == 6

    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        cli,
        [
            *("eval", "--model", str(run / "last.pt"), "--bin", str(original)),
            *("--masked-bin", str(masked), "--json", str(out)),
            *("--batch-size", "24", "--device", "cpu", "--quiet"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    plain, twin = report["results"][str(original)], report["results"][str(masked)]
    assert row["accuracy"] == plain["accuracy"]
    assert row["accuracy_std"] == plain["accuracy_std"]
    assert row["threshold"] == plain["threshold"] == report["model"]["threshold"]
    assert row["accuracy_masked"] == twin["accuracy"]
    assert row["accuracy_masked_std"] == twin["accuracy_std"]
    assert twin["unmasked_copies"] == len(range(0, 120, 7)) and plain["unmasked_copies"] is None
    # the row's one mask accuracy over both sets (120 images each) is the mean of eval's two
    both = (plain["mask_accuracy"] + twin["mask_accuracy"]) / 2
    assert row["mask_accuracy"] == pytest.approx(both, abs=1e-12)
