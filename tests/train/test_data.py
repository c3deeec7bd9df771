"""Training data: the twin checks, the sample order and its resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from maskgen.errors import TrainingError
from maskgen.train.data import SUBSTITUTES, EpochSampler, FaceDataset, open_train_data
from tests.train.helpers import UNMASKED_EVERY, write_damaged_copy, write_masked_twin

pytestmark = [pytest.mark.torch, pytest.mark.shared]


def test_identities_from_identity_records_and_flat_labels(lfw_mini: Path, rec_dir: Path) -> None:
    data = open_train_data(lfw_mini)
    flat = open_train_data(rec_dir / "lfw-mini-flat" / "train.rec")
    assert len(data) == len(flat) == 294 and data.num_classes == flat.num_classes == 40
    assert data.keys[0] == 1 and flat.keys[0] == 0
    assert np.array_equal(data.identities, flat.identities)
    labels = [int(data.reader.read(int(k)).label[0]) for k in data.keys[::37]]
    assert labels == data.identities[::37].tolist()


def test_an_index_without_an_identity_record_is_named(lfw_mini: Path, tmp_path: Path) -> None:
    """An .idx that lost identity record 300's line (the .rec intact) ended in `KeyError:
    300` from the reader, a traceback; it is now a one-line TrainingError saying the fix."""
    import shutil

    for name in ("train.rec", "property"):
        shutil.copyfile(lfw_mini.parent / name, tmp_path / name)
    lines = (lfw_mini.parent / "train.idx").read_text().splitlines(keepends=True)
    (tmp_path / "train.idx").write_text("".join(line for line in lines if line[:4] != "300\t"))
    with pytest.raises(TrainingError, match=r"identity record 300 \(of 295\.\.334, as record 0"):
        open_train_data(tmp_path / "train.rec")


def test_a_hand_filtered_index_without_identity_records_says_to_keep_them(
    lfw_mini: Path, tmp_path: Path
) -> None:
    """augment takes an .idx filtered by hand, and warns that only its records are read; train
    then refused one that dropped identity records' lines with rebuilding the index (which
    undoes the filter) as the only fix. It now says which lines a filtered .idx keeps."""
    import shutil

    for name in ("train.rec", "property"):
        shutil.copyfile(lfw_mini.parent / name, tmp_path / name)
    lines = (lfw_mini.parent / "train.idx").read_text().splitlines(keepends=True)
    (tmp_path / "train.idx").write_text("".join(lines[::2]))  # keeps key 0 and the last, 334
    with pytest.raises(TrainingError) as caught:
        open_train_data(tmp_path / "train.rec")
    assert str(caught.value).endswith(
        "(an .idx filtered by hand keeps the lines of keys 0 and 295..334: put those back instead)"
    )


def test_twin_samples_carry_mask_labels(lfw_mini: Path, lfw_mini_twin: Path) -> None:
    data = open_train_data(lfw_mini, lfw_mini_twin)
    dataset = FaceDataset(data)
    masked_pos = int(np.flatnonzero(data.keys % UNMASKED_EVERY != 0)[0])
    kept_pos = int(np.flatnonzero(data.keys % UNMASKED_EVERY == 0)[0])
    original, identity, label = dataset[(masked_pos, False, False)]
    twin, twin_identity, twin_label = dataset[(masked_pos, True, False)]
    assert (label, twin_label) == (0, 1) and identity == twin_identity
    assert original.shape == (112, 112, 3) and original.dtype == torch.uint8
    change = (original.float() - twin.float()).abs()
    assert change[75:95, 40:70].mean() > 20  # the mask covers the mouth
    assert change[:50].mean() < 3  # the eyes are untouched (up to JPEG re-encoding)
    assert dataset[(kept_pos, True, False)][2] == 0  # could not be masked: unmasked
    flipped, _, _ = dataset[(masked_pos, False, True)]
    assert torch.equal(flipped, original.flip(1))


def test_a_twin_given_as_data_is_warned_about(
    lfw_mini: Path, lfw_mini_twin: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A twin given as --data (and again as --masked) trained with its masked faces labelled
    bare, the mask head at chance (0.53), and nothing said."""
    with caplog.at_level("WARNING", logger="maskgen.train.data"):
        open_train_data(lfw_mini_twin, lfw_mini_twin)
    warned = [r.getMessage() for r in caplog.records if "labelled [identity, 1]" in r.message]
    assert len(warned) == 1 and "give the original as --data" in warned[0], warned
    caplog.clear()
    with caplog.at_level("WARNING", logger="maskgen.train.data"):
        open_train_data(lfw_mini, lfw_mini_twin)
    assert not [r for r in caplog.records if "labelled [identity, 1]" in r.message]


def test_several_twins_take_turns_by_epoch(
    lfw_mini: Path, lfw_mini_twin: Path, lfw_mini_augmented: Path, rec_dir: Path
) -> None:
    """Two twins of lfw-mini: a masked sample of record ``key`` comes from twin
    ``(epoch + key) % 2``, so a face wears its two masks in turn; a second twin of another
    dataset is refused by its own path."""
    single = [
        FaceDataset(open_train_data(lfw_mini, t)) for t in (lfw_mini_twin, lfw_mini_augmented)
    ]
    both = FaceDataset(open_train_data(lfw_mini, [lfw_mini_twin, lfw_mini_augmented]))
    assert len(both.data.twins) == 2 and both.data.twin is both.data.twins[0]
    for position in (0, 1, 2):
        key = int(both.data.keys[position])
        for epoch in (0, 1, 2):
            image, _, label = both[(position, True, False, epoch)]
            source = single[(epoch + key) % 2][(position, True, False, epoch)]
            assert torch.equal(image, source[0]) and label == source[2]
        first, second = (both[(position, True, False, e)][0] for e in (0, 1))
        assert not torch.equal(first, second)  # another mask the next epoch
    other = rec_dir / "lfw-mini-flat" / "train.rec"
    with pytest.raises(TrainingError, match=rf"{other} is not the twin of"):
        open_train_data(lfw_mini, [lfw_mini_twin, other])


def test_a_twin_of_another_dataset_is_refused(
    lfw_mini: Path, rec_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(TrainingError, match=r"is not the twin of .*image keys"):
        open_train_data(lfw_mini, rec_dir / "lfw-mini-flat" / "train.rec")
    wrong = write_masked_twin(lfw_mini, tmp_path / "wrong.rec", identity_shift={1: 3})
    with pytest.raises(TrainingError, match="key 1 has identity 3 there"):
        open_train_data(lfw_mini, wrong)
    # a mismatch that the spot checks miss is caught when the record is read
    subtle = write_masked_twin(lfw_mini, tmp_path / "subtle.rec", identity_shift={100: 3})
    data = open_train_data(lfw_mini, subtle)
    position = int(np.flatnonzero(data.keys == 100)[0])
    with pytest.raises(TrainingError, match="key 100 has identity 3, the original 13"):
        FaceDataset(data)[(position, True, False)]
    with pytest.raises(TrainingError, match="no such file"):
        open_train_data(tmp_path / "absent.rec")


def test_sampler_order_is_shared_by_ranks_and_resumes() -> None:
    single = EpochSampler(100, 8, seed=3, masked_prob=0.5)
    ranks = [EpochSampler(100, 8, seed=3, masked_prob=0.5, rank=r, world_size=2) for r in (0, 1)]
    for epoch in (0, 1):
        single.set_position(epoch, 0)
        whole = list(single)
        assert len(whole) == 96 and len({t[0] for t in whole}) == 96
        for sampler in ranks:
            sampler.set_position(epoch, 0)
        parts = [list(s) for s in ranks]
        interleaved = [t for b in range(12) for p in parts for t in p[b * 4 : (b + 1) * 4]]
        assert interleaved == whole
        single.set_position(epoch, 5)
        assert list(single) == whole[5 * 8 :]
    single.set_position(0, 0)
    first = list(single)
    single.set_position(1, 0)
    assert [t[0] for t in first] != [t[0] for t in list(single)]
    twin_share = np.mean([t[1] for t in first])
    assert 0.3 < twin_share < 0.7
    with pytest.raises(TrainingError, match="larger than the dataset"):
        EpochSampler(10, 16, seed=0, masked_prob=0.5)
    with pytest.raises(TrainingError, match="not divisible"):
        EpochSampler(100, 9, seed=0, masked_prob=0.5, world_size=2)
    with pytest.raises(TrainingError, match=r"1 image a step.*--batch-size 4 or more"):
        EpochSampler(100, 2, seed=0, masked_prob=0.5, world_size=2)


@pytest.mark.shared
def test_a_hand_filtered_index_trains_on_what_it_lists_and_says_so(
    rec_dir: Path, tmp_path: Path, caplog
) -> None:
    """Records dropped from lfw-mini's .idx (the .rec still holds them) are not trained on;
    the run says which ones the header names and the .idx leaves out."""
    import logging
    import shutil

    for name in ("train.rec", "property"):
        shutil.copyfile(rec_dir / "lfw-mini" / name, tmp_path / name)
    lines = (rec_dir / "lfw-mini" / "train.idx").read_text().splitlines(keepends=True)
    (tmp_path / "train.idx").write_text("".join(lines[:10] + lines[20:]))  # keys 10-19
    with caplog.at_level(logging.WARNING, logger="maskgen"):
        data = open_train_data(tmp_path / "train.rec")
    assert len(data.keys) == 284 and not set(range(10, 20)) & set(data.keys.tolist())
    assert data.num_classes == 40
    (said,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert said.startswith(f"data: {tmp_path / 'train.idx'}: leaves out 10 of the 294 image")


def test_a_record_no_decoder_reads_is_stood_in_for_by_the_next(
    lfw_mini: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One damaged JPEG among millions ended a run hours in (the steps done were lost); the
    next record now takes its place, the same one every time, with one warning naming it."""
    data = open_train_data(lfw_mini)
    bad = int(data.keys[10])
    damaged = write_damaged_copy(lfw_mini, tmp_path / "train.rec", {bad, int(data.keys[11])})
    dataset = FaceDataset(open_train_data(damaged))
    reference = FaceDataset(data)
    with caplog.at_level("WARNING", logger="maskgen.train.data"):
        image, identity, label = dataset[(10, False, False)]
        again = dataset[(10, False, False)][0]
    stand_in = reference[(12, False, False)]
    assert torch.equal(image, stand_in[0]) and torch.equal(again, image)
    assert (identity, label) == (stand_in[1], 0)
    named = [r.getMessage() for r in caplog.records]
    assert len(named) == 2  # each damaged record once, however often it is drawn
    assert named[0].endswith(f"record {bad} is not a decodable image: trained on the next record "
                             "in its place")  # fmt: skip
    assert torch.equal(dataset[(9, False, False)][0], reference[(9, False, False)][0])


def test_a_run_of_damaged_records_stops_training(lfw_mini: Path, tmp_path: Path) -> None:
    data = open_train_data(lfw_mini)
    run = {int(k) for k in data.keys[20 : 20 + SUBSTITUTES + 1]}
    dataset = FaceDataset(open_train_data(write_damaged_copy(lfw_mini, tmp_path / "t.rec", run)))
    with pytest.raises(TrainingError, match=rf"and so are the {SUBSTITUTES} records before it"):
        dataset[(20, True, False)]
    assert dataset[(19, True, False)][0].shape == (112, 112, 3)


def test_loader_workers_stand_in_the_same_records(lfw_mini: Path, tmp_path: Path) -> None:
    """With workers, each process names a damaged record itself, and the batches are those one
    process gives: the stand-in depends on the ticket alone, never on the worker."""
    from maskgen.train.data import training_loader

    data = open_train_data(lfw_mini)
    damaged = {int(k) for k in data.keys[::30]}  # 10, under the share that stops a run
    dataset = FaceDataset(
        open_train_data(write_damaged_copy(lfw_mini, tmp_path / "t.rec", damaged))
    )
    sampler = EpochSampler(len(dataset), 32, seed=3, masked_prob=0.0)

    def batches(workers: int) -> list[torch.Tensor]:
        sampler.set_position(0, 0)
        loader = training_loader(dataset, sampler, workers=workers, seed=3, pin_memory=False)
        return [images for images, _, _ in loader]

    alone, two = batches(0), batches(2)
    assert len(alone) == len(two) == 294 // 32
    assert all(torch.equal(a, b) for a, b in zip(alone, two, strict=True))


def test_a_set_too_damaged_to_stand_in_for_stops(lfw_mini: Path, tmp_path: Path) -> None:
    """One record in three damaged never makes 17 in a row; the share does stop it."""
    data = open_train_data(lfw_mini)
    damaged = {int(k) for k in data.keys[::3]}
    dataset = FaceDataset(
        open_train_data(write_damaged_copy(lfw_mini, tmp_path / "t.rec", damaged))
    )
    with pytest.raises(TrainingError, match=r"more than 16 of its 294 records hold no decodable"):
        for position in range(0, 294, 3):
            dataset[(position, False, False)]
