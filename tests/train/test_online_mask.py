"""Online masking (``maskgen train --online-mask``): what the dataset returns, where the
decisions come from, worker independence, the masked share, and the CLI's refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from maskgen.cli.main import cli
from maskgen.formats.recordio import RecordIOReader, write_insightface_rec
from maskgen.images import decode_rgb
from maskgen.masks import MaskAugment, MaskSpec
from maskgen.train.data import (
    EpochSampler,
    FaceDataset,
    Ticket,
    load_online_masker,
    online_mask_key,
    open_train_data,
    training_loader,
)
from tests.train.helpers import encode_jpeg, tiny_config

pytestmark = [pytest.mark.torch, pytest.mark.shared]

FACES_PER_IDENTITY = 5
IDENTITIES = 4


def _featureless_crops() -> list[bytes]:
    """112x112 crops with no face to mask in aligned mode: flat colours and a linear ramp."""
    ramp = np.repeat(np.linspace(40, 200, 112, dtype=np.float64)[None, :], 112, axis=0)
    images = [
        np.full((112, 112, 3), (128, 128, 128), np.uint8),
        np.full((112, 112, 3), (200, 170, 150), np.uint8),
        np.repeat(ramp[:, :, None], 3, axis=2).astype(np.uint8),
    ]
    return [encode_jpeg(image) for image in images]


@pytest.fixture(scope="module")
def mixed_rec(lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small insightface .rec: 4 lfw-mini identities' first faces (real aligned crops) and a
    fifth identity of crops without a face, which online masking must leave unmasked."""
    reader = RecordIOReader(lfw_mini)
    data = open_train_data(lfw_mini)
    groups = []
    for identity in range(IDENTITIES):
        keys = data.keys[data.identities == identity][:FACES_PER_IDENTITY]
        groups.append([reader.read(int(k)).data for k in keys])
    groups.append(_featureless_crops())
    return write_insightface_rec(tmp_path_factory.mktemp("mixed") / "train.rec", groups)


@pytest.fixture(scope="module")
def masker() -> MaskAugment:
    return load_online_masker(seed=5, mask_types=("surgical", "n95", "cloth"))


def test_online_samples_are_mask_augment_output_for_the_epoch_key(
    mixed_rec: Path, masker: MaskAugment
) -> None:
    """Every masked ticket's image and label are what an independent MaskAugment with the same
    options draws for ``online_mask_key(key, epoch)``; faces without a face come back unchanged
    with label 0; unmasked tickets are the decoded record."""
    data = open_train_data(mixed_rec)
    dataset = FaceDataset(data, masker)
    reference = MaskAugment(p=0.0, mask_types="surgical,n95,cloth", seed=5)
    labels = {}
    for position, key in enumerate(data.keys.tolist()):
        original = decode_rgb(data.reader.read(key).data)
        image, identity, label = dataset[Ticket(position, False, False, 1)]
        assert (label, identity) == (0, data.identities[position])
        assert np.array_equal(image.numpy(), original)
        by_epoch = []
        for epoch, flip in ((0, False), (1, True), (2, False)):
            image, _, label = dataset[Ticket(position, True, flip, epoch)]
            out = reference(image=original, key=online_mask_key(key, epoch), force_apply=True)
            expected = out["image"][:, ::-1] if flip else out["image"]
            assert label == int(out["masked"]), (key, epoch)
            assert np.array_equal(image.numpy(), expected), (key, epoch)
            by_epoch.append(image.numpy()[:, ::-1] if flip else image.numpy())
        labels[key] = label
        if label:  # a new draw each epoch
            assert not np.array_equal(by_epoch[0], by_epoch[1])
            assert not np.array_equal(by_epoch[1], by_epoch[2])
        else:
            assert all(np.array_equal(image, original) for image in by_epoch)
    faces = IDENTITIES * FACES_PER_IDENTITY
    found = list(labels.values())
    assert found[faces:] == [0] * len(_featureless_crops())
    assert sum(found[:faces]) >= faces - 2  # all but faces the checks leave (occluded, ...)


def test_epoch_zero_draws_the_masks_augment_writes(
    mixed_rec: Path, masker: MaskAugment, tmp_path: Path
) -> None:
    """In epoch 0 the online masks are the twin's from `maskgen augment` with the same seed
    and mask options (up to the twin's JPEG encoding), flags included."""
    from maskgen.pipeline import augment_dataset

    spec = MaskSpec(mask_types=("surgical", "n95", "cloth"))
    twin = augment_dataset(mixed_rec, tmp_path, spec=spec, seed=5, workers=1, progress=False)
    twin_reader = RecordIOReader(twin.output)
    data = open_train_data(mixed_rec)
    dataset = FaceDataset(data, masker)
    off_later = []
    for position, key in enumerate(data.keys.tolist()):
        image, _, label = dataset[Ticket(position, True, False, 0)]
        record = twin_reader.read(key)
        assert label == int(record.label[1]), key
        written = decode_rgb(record.data).astype(int)
        difference = np.abs(image.numpy().astype(int) - written)
        # JPEG q95 noise only (textures the most: up to 0.2 % of values off by more than 24)
        assert difference.mean() < 2.5 and (difference > 24).mean() < 0.005, key
        if label:  # the masks of epoch 1 are other draws, far from the twin's
            later, _, _ = dataset[Ticket(position, True, False, 1)]
            off_later.append((np.abs(later.numpy().astype(int) - written) > 24).mean())
    assert np.mean(off_later) > 0.1  # about a fifth of the values, in the mask's area


def _epoch_batches(
    data: Any, masker: MaskAugment, workers: int, epoch: int, start: int = 0
) -> list[tuple[torch.Tensor, ...]]:
    sampler = EpochSampler(len(data), 6, seed=11, masked_prob=0.5)
    sampler.set_position(epoch, start)
    loader = training_loader(FaceDataset(data, masker), sampler, workers=workers, seed=11)
    return [tuple(batch) for batch in loader]


def test_batches_depend_on_seed_epoch_and_position_not_on_workers(
    mixed_rec: Path, masker: MaskAugment
) -> None:
    data = open_train_data(mixed_rec)
    for epoch in (0, 1):
        alone = _epoch_batches(data, masker, 0, epoch)
        forked = _epoch_batches(data, masker, 2, epoch)
        assert len(alone) == len(forked) == len(data) // 6
        for a, b in zip(alone, forked, strict=True):
            assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
        resumed = _epoch_batches(data, masker, 2, epoch, start=2)  # as a resume at batch 2
        for a, b in zip(alone[2:], resumed, strict=True):
            assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    sampler = EpochSampler(len(data), 6, seed=11, masked_prob=0.5)
    tickets = []
    for epoch in (0, 1):
        sampler.set_position(epoch, 0)
        tickets.append(list(sampler))
    masked = [{t.position for t in epoch if t.masked} for epoch in tickets]
    assert masked[0] != masked[1]  # another epoch, other samples masked
    # epoch 1's labels: the faces the sampler chose are masked, the crops without a face not
    # (nor a face the checks leave unmasked: the same in every epoch)
    labels = torch.cat([batch[2] for batch in alone]).tolist()
    faces = IDENTITIES * FACES_PER_IDENTITY
    maskable = {
        position
        for position, key in enumerate(data.keys.tolist()[:faces])
        if masker(image=decode_rgb(data.reader.read(key).data), key=key)["masked"]
    }
    assert labels == [int(t.masked and t.position in maskable) for t in tickets[1]]


def test_masked_share_follows_masked_prob(lfw_mini: Path) -> None:
    data = open_train_data(lfw_mini)
    sampler = EpochSampler(len(data), 42, seed=0, masked_prob=0.3)
    shares = []
    for epoch in range(10):
        sampler.set_position(epoch, 0)
        shares.append(np.mean([t.masked for t in sampler]))
    assert abs(np.mean(shares) - 0.3) < 0.03  # 2,940 draws: 0.0085 standard deviation
    # one epoch through the dataset: every aligned lfw-mini face takes its mask, but for the
    # few the face checks leave unmasked (occluded, too turned)
    sampler.set_position(3, 0)
    dataset = FaceDataset(data, load_online_masker(seed=0))
    tickets = list(sampler)
    labels = [dataset[t][2] for t in tickets]
    chosen = [int(t.masked) for t in tickets]
    assert all(label <= drawn for label, drawn in zip(labels, chosen, strict=True))
    assert sum(chosen) - sum(labels) <= 0.05 * sum(chosen)
    assert abs(np.mean(labels) - 0.3) < 0.08  # 294 draws: 0.027 standard deviation


def _config(data: Path, output: Path, **overrides: Any) -> Any:
    return tiny_config(data, output, **{"online_mask": True, **overrides})


def _rows(run: Path) -> list[dict[str, Any]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "train"]


@pytest.fixture
def one_torch_thread():
    """Training on one torch thread: on a 2-core machine torch's idle OpenMP threads would
    otherwise spin against the loader worker."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_resume_continues_exactly_with_online_masks(
    lfw_mini: Path, tmp_path: Path, one_torch_thread: None
) -> None:
    """12 steps straight (2 workers) equal 6 steps (1 worker) + resume + 6 steps (0 workers),
    across the end of epoch 0 (9 batches), where every online mask is drawn anew."""
    from maskgen.nn.checkpoint import read_checkpoint
    from maskgen.train.loop import train

    common = {"log_every": 3, "save_every": 6, "mask_types": "surgical,cloth"}
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(_config(lfw_mini, straight, steps=12, workers=2, **common))
    train(_config(lfw_mini, split, steps=6, workers=1, **common))
    train(_config(lfw_mini, split, steps=12, workers=0, resume=True, **common))
    a, b = read_checkpoint(straight / "last.pt"), read_checkpoint(split / "last.pt")
    assert a["step"] == b["step"] == 12 and a["data_position"]["epoch"] == 1
    assert a["mask_head"] is True and a["config"]["online_mask"] is True
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert torch.equal(a["arcface"]["weight"], b["arcface"]["weight"])
    timing = ("samples_per_s", "remaining_s", "time_s", "total_steps", "total_epochs")
    rows_a = [{k: v for k, v in r.items() if k not in timing} for r in _rows(straight)]
    rows_b = [{k: v for k, v in r.items() if k not in timing} for r in _rows(split)]
    assert [r["step"] for r in rows_b] == [3, 6, 9, 12] and rows_a == rows_b
    assert all(r["loss_mask"] is not None for r in rows_a)


@pytest.mark.slow
def test_tiny_network_learns_the_mask_task_online(
    lfw_mini: Path, tmp_path: Path, one_torch_thread: None
) -> None:
    """300 steps on lfw-mini alone, half of the samples masked while loading: the training mask
    accuracy ends far above the 0.5 of chance, and the ArcFace loss falls. With the paper's
    plain mask loss (``mask_smoothing=0``): smoothing slows the head's first few hundred steps
    (0.88 here), which test_losses and the paper-in-miniature benchmark cover."""
    run = tmp_path / "run"
    train_config = _config(
        lfw_mini, run, steps=300, log_every=50, save_every=300, mask_smoothing=0.0
    )
    from maskgen.train.loop import train

    train(train_config)
    rows = _rows(run)
    assert [r["step"] for r in rows] == [50, 100, 150, 200, 250, 300]
    assert rows[-1]["mask_acc"] >= 0.9
    assert rows[-1]["loss_arcface"] < 0.7 * rows[0]["loss_arcface"]
    stored = json.loads((run / "config.json").read_text())["config"]
    assert stored["online_mask"] is True and stored["masked"] is None


def _invoke(*args: object) -> Any:
    return CliRunner().invoke(cli, ["train", *(str(a) for a in args)])


def test_cli_refuses_online_mask_with_a_twin_and_bad_mask_options(
    lfw_mini: Path, tmp_path: Path
) -> None:
    base = ("--data", lfw_mini, "--network", "tiny", "--device", "cpu", "--steps", "1")
    cases = {
        "--online-mask masks the --data images while loading them and takes no masked twin": (
            "--online-mask",
            "--masked",
            lfw_mini,
        ),
        "mask_types: unknown mask type(s) 'scarf'; available: cloth, kn95": (
            *("--online-mask", "--mask-types", "surgical,scarf", "--batch-size", "4"),
        ),
        "Invalid value for '--texture-prob': must be in [0, 1], got 1.5": (
            *("--online-mask", "--texture-prob", "1.5"),
        ),
    }
    for index, (message, args) in enumerate(cases.items()):
        result = _invoke(*base, "-o", tmp_path / f"run{index}", *args)
        usage = message.startswith("Invalid value")  # a bad value typed: click's usage error
        assert result.exit_code == (2 if usage else 1), (message, result.output)
        lines = result.stderr.strip().splitlines()[-1 if usage else 0 :]
        assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], lines
        assert not (tmp_path / f"run{index}" / "config.json").exists()


def test_cli_help_names_the_online_mask_options() -> None:
    result = _invoke("--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for flag in ("--online-mask", "--mask-types", "--color-prob", "--texture-prob"):
        assert flag in text
    assert "Excludes --masked" in text and "--online-mask -o runs/r50" in text
