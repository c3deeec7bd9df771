"""Chunks, shards, SLURM arrays and the plan file (pure logic, no data)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from maskgen.errors import ConfigError
from maskgen.pipeline.plan import (
    PartsLayout,
    Plan,
    chunk_ranges,
    default_chunk_size,
    parse_shard,
    shard_chunks,
    shard_from_slurm,
)


def test_default_chunk_size_depends_on_the_input_size_only() -> None:
    assert default_chunk_size(335) == 16
    assert default_chunk_size(5_000) == 79
    assert default_chunk_size(5_800_000) == 1000
    assert default_chunk_size(0) == 16


@pytest.mark.parametrize(("n_items", "size"), [(0, 5), (1, 5), (10, 5), (11, 5), (335, 16)])
def test_chunks_cover_every_item_once_in_order(n_items: int, size: int) -> None:
    chunks = chunk_ranges(n_items, size)
    assert [i for chunk in chunks for i in chunk] == list(range(n_items))
    assert all(0 < len(chunk) <= size for chunk in chunks)


@pytest.mark.parametrize(("n_items", "size"), [(64, 16), (400, 16), (401, 16), (5_000, 79)])
def test_a_split_tail_ends_on_smaller_chunks(n_items: int, size: int) -> None:
    whole = chunk_ranges(n_items, size)
    chunks = chunk_ranges(n_items, size, split_tail=True)
    assert [i for chunk in chunks for i in chunk] == list(range(n_items))
    head, tail = chunks[:-4], chunks[-4:]
    assert head == whole[: len(head)] and len(head) >= len(whole) - 3
    assert all(0 < len(chunk) <= size * 3 // 4 + 1 for chunk in tail)


@pytest.mark.parametrize(("n_items", "size"), [(0, 16), (10, 16), (17, 16), (48, 16), (7, 2)])
def test_few_or_small_chunks_stay_whole(n_items: int, size: int) -> None:
    assert chunk_ranges(n_items, size, split_tail=True) == chunk_ranges(n_items, size)


def test_a_plan_recorded_before_split_tails_keeps_whole_chunks(tmp_path: Path) -> None:
    """A run planned by an earlier maskgen resumes with the chunks its parts were written in."""
    recorded = _plan(items=400).to_json()
    del recorded["split_tail"]
    plan = Plan.from_json(recorded, tmp_path / "plan.json")
    assert not plan.split_tail
    assert plan.chunks == chunk_ranges(400, 16)
    assert _plan(items=400, split_tail=True).chunks == chunk_ranges(400, 16, split_tail=True)


@pytest.mark.parametrize(("n_chunks", "n_shards"), [(21, 1), (21, 3), (21, 4), (3, 5), (0, 2)])
def test_shards_split_the_chunks_into_contiguous_slices(n_chunks: int, n_shards: int) -> None:
    slices = [shard_chunks(n_chunks, (i, n_shards)) for i in range(n_shards)]
    assert [c for s in slices for c in s] == list(range(n_chunks))
    assert max(map(len, slices)) - min(map(len, slices)) <= 1
    assert shard_chunks(n_chunks, None) == range(n_chunks)


def test_parse_shard_is_zero_based() -> None:
    assert parse_shard("0/4") == (0, 4)
    assert parse_shard(" 3/4 ") == (3, 4)
    for bad in ("4/4", "-1/4", "1/0", "1", "a/b", "1/2/3", ""):
        with pytest.raises(ConfigError, match="shard"):
            parse_shard(bad)


def test_shard_from_slurm_array_whatever_its_first_id() -> None:
    assert shard_from_slurm({}) is None
    assert shard_from_slurm({"SLURM_ARRAY_TASK_ID": "3"}) is None
    env = {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4"}
    assert shard_from_slurm(env) == (0, 4)
    one_based = {"SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"}
    assert shard_from_slurm({**one_based, "SLURM_ARRAY_TASK_ID": "1"}) == (0, 4)
    assert shard_from_slurm({**one_based, "SLURM_ARRAY_TASK_ID": "4"}) == (3, 4)
    stepped = {"SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "10"}
    stepped["SLURM_ARRAY_TASK_STEP"] = "5"
    assert shard_from_slurm({**stepped, "SLURM_ARRAY_TASK_ID": "20"}) == (2, 3)
    with pytest.raises(ConfigError, match="SLURM_ARRAY_TASK_ID=5"):
        shard_from_slurm({**one_based, "SLURM_ARRAY_TASK_ID": "5"})
    with pytest.raises(ConfigError, match="grid"):
        shard_from_slurm({**stepped, "SLURM_ARRAY_TASK_ID": "12"})


def _plan(**changes) -> Plan:
    plan = Plan(
        input="/data/train.rec",
        format="recordio",
        items=335,
        chunk_size=16,
        seed=0,
        face_mode="aligned",
        mask_spec={"mask_types": None, "color_prob": 0.5},
        jpeg_quality=95,
        models_dir=None,
        shards=None,
        maskgen="0.1.0",
    )
    return dataclasses.replace(plan, **changes)


def test_claim_accepts_the_same_plan_and_names_what_differs(tmp_path: Path) -> None:
    layout = PartsLayout.in_output(tmp_path)
    layout.claim(_plan())
    layout.claim(_plan())  # a resumed run or another shard
    assert layout.read_plan() == _plan()
    with pytest.raises(ConfigError, match=r"seed: 0 there, 7 now"):
        layout.claim(_plan(seed=7))
    with pytest.raises(ConfigError, match=r"color_prob"):
        layout.claim(_plan(mask_spec={"mask_types": None, "color_prob": 0.9}))
    worn = {"mask_types": None, "color_prob": 0.5, "wear": {"correct": 0.5, "nose_uncovered": 0.5}}
    with pytest.raises(ConfigError, match=r"\(mask_spec\.wear: default there, \{'correct'"):
        layout.claim(_plan(mask_spec=worn))
    assert len(_plan().chunks) == 21


def test_a_changed_input_is_named_as_such(tmp_path: Path) -> None:
    """A file added to the input folder after an interruption changes the item count: that is
    the input's doing, and rerunning 'with the same options' cannot help."""
    layout = PartsLayout.in_output(tmp_path)
    layout.claim(_plan())
    message = r"whose input has changed since \(items: 335 there, 336 now\); restore it"
    with pytest.raises(ConfigError, match=message):
        layout.claim(_plan(items=336, seed=7))


def test_shard_markers_name_the_missing_shards(tmp_path: Path) -> None:
    layout = PartsLayout.in_output(tmp_path)
    layout.claim(_plan(shards=4))
    layout.mark_shard_done((1, 4), range(5, 10))
    layout.mark_shard_done((3, 4), range(15, 21))
    assert layout.missing_shards(4) == [0, 2]
