"""The whole pipeline on real datasets: identical bytes however the work is split, resume after
a SIGKILL, shards + merge, damaged and odd inputs."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.errors import ConfigError, DatasetFormatError, OutputError
from maskgen.formats.recordio import RecordIOReader, RecordIOWriter, write_insightface_rec
from maskgen.formats.verification import read_verification_bin, write_verification_bin
from maskgen.images import read_stored, sniff_image_format
from maskgen.pipeline import merge_shards
from maskgen.pipeline.local import run_jobs
from maskgen.pipeline.plan import PARTS_DIR_NAME
from maskgen.pipeline.step import load_masker
from tests.conftest import REPO
from tests.pipeline.conftest import spread_photos

pytestmark = pytest.mark.shared


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


# --- RecordIO ---------------------------------------------------------------------------------


def test_rec_twin_is_identical_for_any_workers_and_chunks(
    tmp_path: Path, lfw_mini: Path, spec, mini_reference: Path, run_augment, read_tree
) -> None:
    report = run_augment(lfw_mini, tmp_path, spec, workers=2, chunk_size=7)
    assert read_tree(tmp_path) == read_tree(mini_reference)
    assert report.output == tmp_path / "train.rec" and report.counts.items == 335
    assert sorted(read_tree(tmp_path)) == [
        "manifest.jsonl",
        "maskgen.json",
        "property",
        "train.idx",
        "train.rec",
    ]


def test_loky_workers_write_what_forked_workers_write(
    tmp_path: Path,
    lfw_mini: Path,
    spec,
    mini_reference: Path,
    run_augment,
    read_tree,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where fork is not available (macOS, Windows) joblib's loky workers do the same job."""
    monkeypatch.setattr("maskgen.pipeline.local._can_fork", lambda: False)
    run_augment(lfw_mini, tmp_path, spec, workers=2, chunk_size=50)
    assert read_tree(tmp_path) == read_tree(mini_reference)


def test_rec_twin_keeps_layout_and_labels_identity_and_mask_flag(
    lfw_mini: Path, mini_reference: Path
) -> None:
    source, twin = RecordIOReader(lfw_mini), RecordIOReader(mini_reference / "train.rec")
    rows = {row["key"]: row for row in _manifest(mini_reference)}
    keys = source.keys()
    assert list(twin.keys()) == list(keys)
    assert len(rows) == 294 and sum(row["masked"] for row in rows.values()) > 250
    for key in keys:
        original, masked = source.read(key), twin.read(key)
        if not original.is_image:  # header and identity records: copied byte for byte
            assert masked.data == original.data and not masked.is_image
            continue
        flag = 1.0 if rows[key]["masked"] else 0.0
        assert masked.label.tolist() == [original.label[0], flag]
        assert (masked.data != original.data) == rows[key]["masked"]
        assert masked.extra["id"] == original.extra["id"]
    assert (mini_reference / "property").read_bytes() == (lfw_mini.parent / "property").read_bytes()
    info = json.loads((mini_reference / "maskgen.json").read_text())
    assert info["format"] == "recordio" and info["parameters"]["face_mode"] == "aligned"
    assert info["counts"]["images"] == 294 and info["counts"]["items"] == 335


def test_undecodable_record_is_copied_flagged_and_reported(
    tmp_path: Path, lfw_mini: Path, spec, run_augment
) -> None:
    source = RecordIOReader(lfw_mini)
    faces = [source.read(key).data for key in (1, 2, 3)]
    rec = write_insightface_rec(tmp_path / "in" / "train.rec", [[faces[0], b"garbage"], faces[1:]])
    load_masker.cache_clear()
    report = run_augment(rec, tmp_path / "out", spec, workers=1, chunk_size=2)
    assert load_masker.cache_info().misses == 1  # one Masker per process, not per chunk
    assert load_masker.cache_info().hits == 3  # 4 chunks of 7 records (header, 4 images, 2 ids)
    twin = RecordIOReader(tmp_path / "out" / "train.rec")
    assert twin.read(2).data == b"garbage"
    assert twin.read(2).label.tolist() == [0.0, 0.0]
    assert twin.read(3).label.tolist() == [1.0, 1.0]
    assert _manifest(tmp_path / "out")[1] == {
        "key": 2,
        "masked": False,
        "mask_type": None,
        "color": None,
        "texture": None,
        "wear": None,
        "reason": "unreadable",
        "faces": 0,
        "faces_not_masked": [],
        "face_masks": [],
        "format_change": None,
        "decoder_warning": None,
    }
    assert report.counts.reasons == {"unreadable": 1} and report.counts.masked == 3


def test_damaged_record_mid_file_fails_without_leaving_output(
    tmp_path: Path, lfw_mini: Path, spec, run_augment
) -> None:
    damaged = tmp_path / "in" / "train.rec"
    damaged.parent.mkdir()
    shutil.copyfile(lfw_mini, damaged)
    shutil.copyfile(lfw_mini.with_suffix(".idx"), damaged.with_suffix(".idx"))
    offset = RecordIOReader(damaged).offset(150)
    with open(damaged, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"\0" * 8)
    with pytest.raises(DatasetFormatError, match=rf"train.rec: bad magic .* offset {offset}"):
        run_augment(damaged, tmp_path / "out", spec, workers=2)
    assert not (tmp_path / "out").exists()


def test_jobs_carry_their_own_small_reader_and_workers_never_read_the_index(
    tmp_path: Path, lfw_mini: Path, spec, run_augment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker memory must not grow with the dataset: every job pickles to the same few bytes
    for a 335-record and a 20,535-record input, and the workers mask with the reader the job
    carries (the input's .idx is garbled before they start; opening it would fail)."""
    source = RecordIOReader(lfw_mini)
    faces = [[source.read(k).data for k in source.identity(i)] for i in range(40)]
    inputs = {
        "small": write_insightface_rec(tmp_path / "small" / "train.rec", faces),
        "large": write_insightface_rec(
            tmp_path / "large" / "train.rec", faces + [[b"filler"] * 100] * 200
        ),
    }
    job_sizes: list[list[int]] = []

    def run_after_garbling_the_index(jobs, n_jobs, *, workers, **options):
        jobs = list(jobs)
        job_sizes.append([len(pickle.dumps(job)) for job in jobs])
        Path(jobs[0].input_path).with_suffix(".idx").write_text("garbage\n")
        return run_jobs(jobs, n_jobs, workers=workers, **options)

    monkeypatch.setattr("maskgen.pipeline.run.run_jobs", run_after_garbling_the_index)
    for name, rec in inputs.items():
        shards = -(-len(RecordIOReader(rec)) // 16) // 2  # shard 0 is 2 chunks: keys 0..31
        out = tmp_path / name / "out"
        report = run_augment(rec, out, spec, workers=2, chunk_size=16, shard=(0, shards))
        assert report.counts.items == 32 and report.counts.masked >= 28
    small, large = job_sizes
    assert len(small) == len(large) == 2 and max(large) < 2000
    assert all(abs(a - b) <= 16 for a, b in zip(small, large, strict=True))
    parts = [tmp_path / name / "out" / PARTS_DIR_NAME for name in inputs]
    for part in ("chunk-000000.jsonl", "chunk-000001.jsonl", "chunk-000001.part"):
        assert (parts[0] / part).read_bytes() == (parts[1] / part).read_bytes()


# --- resume --------------------------------------------------------------------------------------


def _kill_after_parts(command: list[str], parts: Path, n_parts: int) -> None:
    """Start ``command``, SIGKILL its process group once ``n_parts`` chunks are complete."""
    process = subprocess.Popen(command, start_new_session=True, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if parts.is_dir() and len(list(parts.glob("chunk-*.jsonl"))) >= n_parts:
                break
            time.sleep(0.002)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()


def test_resume_after_sigkill_equals_an_uninterrupted_run(
    tmp_path: Path, lfw_mini: Path, spec, mini_reference: Path, run_augment, read_tree
) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-c", "from maskgen.cli.main import cli; cli()", "augment"]
    command += [str(lfw_mini), "-o", str(out), "--workers", "1", "--chunk-size", "4", "--quiet"]
    _kill_after_parts(command, out / PARTS_DIR_NAME, 5)
    assert not (out / "train.rec").exists() and not (out / "maskgen.json").exists()
    with pytest.raises(OutputError, match="resume=True"):
        run_augment(lfw_mini, out, spec, chunk_size=4)
    with pytest.raises(ConfigError, match="seed: 0 there, 1 now"):
        run_augment(lfw_mini, out, spec, chunk_size=4, seed=1, resume=True)
    # an unsharded run resumed as a shard: the hint names what works (--overwrite is refused
    # with --shard, and the message used to offer it)
    with pytest.raises(ConfigError, match=r"finish it with its own shard \(none for"):
        run_augment(lfw_mini, out, spec, chunk_size=4, shard=(0, 2), resume=True)
    report = run_augment(lfw_mini, out, spec, chunk_size=4, workers=2, resume=True)
    assert 0 < report.processed < 294 and report.counts.images == 294
    kept = 294 - report.processed  # said, where -v alone had told the chunks kept
    assert (
        f" images/s on the {report.processed} masked now, {kept} kept from the earlier run; "
        in (report.summary())
    )
    assert report.summary().endswith(f"; wrote {out / 'train.rec'}")
    assert read_tree(out) == read_tree(mini_reference)
    again = run_augment(lfw_mini, out, spec, chunk_size=4, resume=True)  # nothing left to do
    assert again.processed == 0 and again.complete
    assert again.summary().endswith(  # it said "wrote", though nothing was written
        f"; {out / 'train.rec'} was complete already, nothing left to do"
    )
    with pytest.raises(OutputError, match="already holds output"):
        run_augment(lfw_mini, out, spec)


def test_resume_of_a_finished_run_refuses_a_changed_input(
    tmp_path: Path, lfw_dir: Path, spec, run_augment
) -> None:
    """--resume on a finished twin said "wrote" and kept it, out of date, whatever had
    happened to the input since: a photo added or renamed, a .rec replaced by another."""
    source = tmp_path / "in"
    for photo in spread_photos(lfw_dir, 3):
        (source / photo.parent.name).mkdir(parents=True)
        shutil.copyfile(photo, source / photo.parent.name / photo.name)
    out = tmp_path / "out"
    run_augment(source, out, spec, workers=1)
    assert run_augment(source, out, spec, workers=1, resume=True).processed == 0  # unchanged
    first = sorted(source.rglob("*.jpg"))[0]
    shutil.copyfile(first, source / "added.jpg")
    with pytest.raises(ConfigError, match=r"changed since the finished run .*3 items then, 4 now"):
        run_augment(source, out, spec, workers=1, resume=True)
    (source / "added.jpg").unlink()
    first.rename(first.with_name("renamed.jpg"))
    changed = r"changed since .*\(its file names\)"
    with pytest.raises(ConfigError, match=changed):
        run_augment(source, out, spec, workers=1, resume=True)
    # a record written before maskgen kept the digest: the count alone is checked
    record = json.loads((out / "maskgen.json").read_text())
    del record["input_digest"]
    (out / "maskgen.json").write_text(json.dumps(record))
    assert run_augment(source, out, spec, workers=1, resume=True).processed == 0


def test_a_resume_or_shard_refuses_textures_or_templates_changed_since(
    tmp_path: Path, lfw_dir: Path, lfw_mini: Path, run_augment
) -> None:
    """Only the folders' names were recorded: a texture added to --textures between an
    interrupt and --resume was drawn from by the later chunks alone, and the twin matched no
    uninterrupted run."""
    from maskgen.masks import MaskSpec

    textures = tmp_path / "fabrics"
    textures.mkdir()
    photo = cv2.imread(str(spread_photos(lfw_dir, 1)[0]))
    assert cv2.imwrite(str(textures / "a.png"), photo[100:164, 100:164])
    spec = MaskSpec(texture_dirs=(textures,), texture_prob=1.0)
    out = tmp_path / "out"
    run_augment(lfw_mini, out, spec, workers=1, shard=(0, 2))
    assert cv2.imwrite(str(textures / "b.png"), photo[40:104, 100:164])
    with pytest.raises(ConfigError, match=r"changed since \(the files in its --textures"):
        run_augment(lfw_mini, out, spec, workers=1, shard=(1, 2))
    (textures / "b.png").unlink()
    (textures / "notes.txt").write_text("where these came from\n")  # not read: not refused
    run_augment(lfw_mini, out, spec, workers=1, shard=(1, 2))
    merge_shards(out)
    assert run_augment(lfw_mini, out, spec, workers=1, resume=True).processed == 0
    assert cv2.imwrite(str(textures / "a.png"), photo[40:104, 100:164])  # same name, new image
    with pytest.raises(ConfigError, match=r"changed since the finished .*--textures, --templ"):
        run_augment(lfw_mini, out, spec, workers=1, resume=True)
    # without user folders the record has no digest, as before
    plain = tmp_path / "plain"
    run_augment(lfw_mini, plain, MaskSpec(), workers=1)
    assert "assets_digest" not in json.loads((plain / "maskgen.json").read_text())


def test_aligned_mode_on_whole_photos_warns_and_on_crops_does_not(
    tmp_path: Path, lfw_dir: Path, lfw_fold1_bin: Path, spec, run_augment, caplog
) -> None:
    """A .bin of LFW's 250x250 photos was masked as crops (masks over chin and neck, labelled
    masked) without a word, where MaskAugment warns and eval refuses the file."""
    photos = [p.read_bytes() for p in spread_photos(lfw_dir, 4)]
    whole = write_verification_bin(tmp_path / "photos.bin", photos, [True, False])
    folder = tmp_path / "folder"  # its first item no image: the next one is looked at
    folder.mkdir()
    (folder / "a_notes.txt").write_text("not an image\n")
    (folder / "b.jpg").write_bytes(photos[0])
    with caplog.at_level("WARNING", logger="maskgen.pipeline.run"):
        run_augment(folder, tmp_path / "f", spec, workers=1, face_mode="aligned")
    assert [r for r in caplog.records if "not aligned crops" in r.message]
    caplog.clear()
    with caplog.at_level("WARNING", logger="maskgen.pipeline.run"):
        run_augment(whole, tmp_path / "a", spec, workers=1)
    warned = [r.getMessage() for r in caplog.records if "not aligned crops" in r.message]
    assert len(warned) == 1 and "250x250" in warned[0], warned
    caplog.clear()
    with caplog.at_level("WARNING", logger="maskgen.pipeline.run"):
        run_augment(whole, tmp_path / "b", spec, workers=1, face_mode="auto")
        run_augment(lfw_fold1_bin, tmp_path / "c", spec, workers=1, chunk_size=600)
    assert not [r for r in caplog.records if "not aligned crops" in r.message]


def test_a_twins_index_is_named_as_its_inputs(tmp_path: Path, lfw_mini: Path, spec, run_augment):
    """TRAIN.REC's twin had its index renamed TRAIN.IDX beside an input's TRAIN.idx, which
    insightface's loaders (``path[:-4] + ".idx"``) then could not find."""
    source = tmp_path / "in"
    source.mkdir()
    shutil.copyfile(lfw_mini, source / "TRAIN.REC")
    shutil.copyfile(lfw_mini.with_suffix(".idx"), source / "TRAIN.idx")
    run_augment(source / "TRAIN.REC", tmp_path / "out", spec, workers=1)
    assert sorted(p.name for p in (tmp_path / "out").glob("TRAIN.*")) == ["TRAIN.REC", "TRAIN.idx"]


def test_an_input_file_named_as_the_runs_lock_is_not_copied(
    tmp_path: Path, lfw_dir: Path, spec, run_augment
) -> None:
    """A folder twin's copy of an input ``.maskgen-lock`` replaced the file the run held its
    lock on (a second run could then start) and was removed with the lock at the end."""
    source = tmp_path / "in"
    source.mkdir()
    shutil.copyfile(spread_photos(lfw_dir, 1)[0], source / "face.jpg")
    (source / ".maskgen-lock").write_text("the user's own\n")
    out = tmp_path / "out"
    run_augment(source, out, spec, workers=1)
    rows = {row["key"]: row for row in _manifest(out)}
    assert rows[".maskgen-lock"]["reason"] == "reserved_name"
    assert sorted(p.name for p in out.iterdir()) == ["face.jpg", "manifest.jsonl", "maskgen.json"]
    run_augment(source, out, spec, workers=1, overwrite=True)  # its row names no file to remove
    assert (out / "face.jpg").is_file()


def test_overwrite_removes_the_earlier_folder_twins_files_and_keeps_the_users(
    tmp_path: Path, lfw_dir: Path, spec, run_augment
) -> None:
    """--overwrite after a photo was removed from the input left its old masked copy in the
    twin, listed by no manifest; the user's own files in OUTDIR stay."""
    source, out = tmp_path / "in", tmp_path / "out"
    photos = spread_photos(lfw_dir, 3)
    for photo in photos:
        (source / photo.parent.name).mkdir(parents=True)
        shutil.copyfile(photo, source / photo.parent.name / photo.name)
    run_augment(source, out, spec, workers=1)
    (out / "notes.txt").write_text("mine")
    (out / photos[1].parent.name / "mine.txt").write_text("mine too")
    for gone in photos[:2]:
        (source / gone.parent.name / gone.name).unlink()
    (source / photos[0].parent.name).rmdir()
    run_augment(source, out, spec, workers=1, overwrite=True)
    kept = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert kept == sorted([
        "manifest.jsonl", "maskgen.json", "notes.txt",
        f"{photos[1].parent.name}/mine.txt", f"{photos[2].parent.name}/{photos[2].name}",
    ])  # fmt: skip
    assert not (out / photos[0].parent.name).exists()  # emptied: removed


def test_overwrite_removes_only_what_a_folder_twins_records_list(
    tmp_path: Path, lfw_dir: Path, spec, run_augment, caplog: pytest.LogCaptureFixture
) -> None:
    """A manifest that is not a folder twin's (a .rec twin's, whose keys are numbers, or one
    the user wrote) names no file to remove, and one that cannot be read removes none (with
    a warning), where the first version deleted row by row until the bad line."""
    source, out = tmp_path / "in", tmp_path / "out"
    photo = spread_photos(lfw_dir, 1)[0]
    source.mkdir()
    shutil.copyfile(photo, source / "a.jpg")
    out.mkdir()
    for name in ("1", "notes.txt", "b.jpg"):
        (out / name).write_text("mine")
    rows = [{"key": 1, "masked": True}, {"key": "notes.txt", "masked": False}]
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "maskgen.json").write_text(json.dumps({"format": "recordio", "output": "train.rec"}))
    run_augment(source, out, spec, workers=1, overwrite=True)
    assert (out / "1").is_file() and (out / "notes.txt").is_file() and (out / "b.jpg").exists()
    # a folder twin's record, its manifest damaged after two good rows: nothing removed
    record = json.loads((out / "maskgen.json").read_text())
    assert record["format"] == "folder" and record["output"] == "."
    (out / "manifest.jsonl").write_text(
        '{"key": "b.jpg"}\n{"key": "notes.txt"}\n{"key": "../escape"}\n'
    )
    with caplog.at_level("WARNING", logger="maskgen.pipeline.run"):
        run_augment(source, out, spec, workers=1, overwrite=True)
    assert (out / "b.jpg").exists() and (out / "notes.txt").exists()
    assert "the earlier run's files are not removed" in caplog.text


def _plan_before_split_tails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plan runs as maskgen did before it split a run's last chunks (``Plan.split_tail``)."""
    import maskgen.pipeline.run as run

    open_job = run._open_job

    def whole_chunks(*args):
        job = open_job(*args)
        return dataclasses.replace(job, plan=dataclasses.replace(job.plan, split_tail=False))

    monkeypatch.setattr(run, "_open_job", whole_chunks)


def _forget_split_tail(out: Path) -> None:
    """Rewrite plan.json as maskgen wrote it before ``split_tail`` (and ``input_digest``)
    existed."""
    path = out / PARTS_DIR_NAME / "plan.json"
    record = json.loads(path.read_text())
    assert record.pop("split_tail") is False
    assert len(record.pop("input_digest")) == 16
    path.write_text(json.dumps(record, indent=1))


def _interrupt_at(monkeypatch: pytest.MonkeyPatch, index: int) -> None:
    """Chunk ``index`` and later ones stop the run as Ctrl-C would (one worker: in-process)."""
    import maskgen.pipeline.local as local

    mask_chunk = local.mask_chunk

    def interrupted(job):
        if job.index >= index:
            raise KeyboardInterrupt
        return mask_chunk(job)

    monkeypatch.setattr(local, "mask_chunk", interrupted)


def test_a_run_interrupted_in_its_split_tail_resumes_to_the_same_twin(
    tmp_path: Path,
    lfw_mini: Path,
    spec,
    mini_reference: Path,
    run_augment,
    read_tree,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """335 items in chunks of 50: 4 whole ones, then 4 of 34 or 33 (200-234, ..., 302-335);
    stopped after the first tail chunk, resumed with two workers."""
    with monkeypatch.context() as patch:
        _interrupt_at(patch, 5)
        with pytest.raises(KeyboardInterrupt):
            run_augment(lfw_mini, tmp_path, spec, workers=1, chunk_size=50)
    assert len(list((tmp_path / PARTS_DIR_NAME).glob("chunk-*.jsonl"))) == 5
    report = run_augment(lfw_mini, tmp_path, spec, workers=2, resume=True)
    assert 0 < report.processed < 294
    assert read_tree(tmp_path) == read_tree(mini_reference)


def test_a_run_planned_before_split_tails_resumes_with_its_chunk_size_given(
    tmp_path: Path,
    lfw_mini: Path,
    spec,
    mini_reference: Path,
    run_augment,
    read_tree,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Parts of a run (or shard) planned by an earlier maskgen, resumed or joined with the same
    --chunk-size it was given: its whole chunks are kept, no option names split_tail."""
    with monkeypatch.context() as patch:
        _plan_before_split_tails(patch)
        _interrupt_at(patch, 19)  # of 21 whole chunks of 16; split, chunks 18- would differ
        with pytest.raises(KeyboardInterrupt):
            run_augment(lfw_mini, tmp_path / "run", spec, workers=1, chunk_size=16)
        run_augment(lfw_mini, tmp_path / "shards", spec, workers=1, chunk_size=16, shard=(0, 2))
    for out in (tmp_path / "run", tmp_path / "shards"):
        _forget_split_tail(out)
    assert len(list((tmp_path / "run" / PARTS_DIR_NAME).glob("chunk-*.jsonl"))) == 19
    run_augment(lfw_mini, tmp_path / "run", spec, chunk_size=16, workers=1, resume=True)
    assert read_tree(tmp_path / "run") == read_tree(mini_reference)
    run_augment(lfw_mini, tmp_path / "shards", spec, chunk_size=16, workers=1, shard=(1, 2))
    total, joined = [], []  # maskgen merge's bar: the parts' count, then one per part joined
    merge_shards(tmp_path / "shards", progress=joined.append, progress_total=total.append)
    assert read_tree(tmp_path / "shards") == read_tree(mini_reference)
    assert total == [21] and joined == [1] * 21


# --- shards ---------------------------------------------------------------------------------


def test_shards_then_merge_equal_an_unsharded_run(
    tmp_path: Path, lfw_mini: Path, spec, mini_reference: Path, run_augment, read_tree
) -> None:
    reports = [run_augment(lfw_mini, tmp_path, spec, workers=1, shard=(i, 3)) for i in (2, 0)]
    assert not any(report.complete for report in reports)
    with pytest.raises(
        OutputError, match=r"of 3 shards \(0-based\), shard 1 not done: run it with --shard 1/3"
    ):
        merge_shards(tmp_path)
    # a shard run again once done: nothing to resume ("add resume=True" said there was)
    with pytest.raises(
        OutputError, match=r"shard 0/3 is done already; shard 1 is not, and once it is, merge"
    ):
        run_augment(lfw_mini, tmp_path, spec, workers=1, shard=(0, 3))
    with pytest.raises(ConfigError, match="shards: 3 there, 4 now"):
        run_augment(lfw_mini, tmp_path, spec, workers=1, shard=(1, 4))
    run_augment(lfw_mini, tmp_path, spec, workers=2, shard=(1, 3))
    merged = merge_shards(tmp_path)
    assert merged.complete and merged.counts.images == 294 and merged.merged_shards == 3
    assert read_tree(tmp_path) == read_tree(mini_reference)


def test_folder_twin_with_a_split_tail_equals_whole_chunks(
    tmp_path: Path, lfw_fold1_bin: Path, spec, run_augment, read_tree
) -> None:
    """64 aligned crops as files: default chunks (two of 16, then four of 8), a run stopped
    inside that tail and resumed with two workers, and chunks of 7 (none split) give the
    same folder twin."""
    images, _ = read_verification_bin(lfw_fold1_bin)
    source = tmp_path / "in"
    for i, data in enumerate(images[:64]):
        (source / f"p{i // 8}").mkdir(parents=True, exist_ok=True)
        (source / f"p{i // 8}" / f"{i:03d}.jpg").write_bytes(data)
    options = {"face_mode": "aligned"}
    run_augment(source, tmp_path / "split", spec, workers=1, **options)
    with pytest.MonkeyPatch.context() as patch:
        _interrupt_at(patch, 3)
        with pytest.raises(KeyboardInterrupt):
            run_augment(source, tmp_path / "resumed", spec, workers=1, **options)
    assert len(list((tmp_path / "resumed" / PARTS_DIR_NAME).glob("chunk-*.jsonl"))) == 3
    run_augment(source, tmp_path / "resumed", spec, workers=2, resume=True, **options)
    run_augment(source, tmp_path / "sevens", spec, workers=2, chunk_size=7, **options)
    assert read_tree(tmp_path / "split") == read_tree(tmp_path / "resumed")
    assert read_tree(tmp_path / "split") == read_tree(tmp_path / "sevens")
    assert len(list((tmp_path / "split").rglob("*.jpg"))) == 64


def test_folder_shards_then_merge_equal_an_unsharded_run(
    tmp_path: Path, photo_folder: Path, photo_reference: Path, spec, run_augment, read_tree
) -> None:
    """A folder twin's shards write their files into OUTDIR as they go: the second shard
    must not take the first one's files for a finished run's output."""
    run_augment(photo_folder, tmp_path, spec, workers=1, chunk_size=3, shard=(0, 2))
    assert any(not p.name.startswith(".") for p in tmp_path.iterdir())
    run_augment(photo_folder, tmp_path, spec, workers=1, chunk_size=3, shard=(1, 2))
    merged = merge_shards(tmp_path)
    assert merged.complete and merged.merged_shards == 2
    assert read_tree(tmp_path) == read_tree(photo_reference)


# --- verification .bin and image folders -------------------------------------------------------


def test_bin_twin_is_identical_for_any_workers_and_loads_with_pickle(
    tmp_path: Path, lfw_fold1_bin: Path, spec, run_augment
) -> None:
    all_images, all_issame = read_verification_bin(lfw_fold1_bin)
    images, issame = all_images[:120] + all_images[-120:], all_issame[:60] + all_issame[-60:]
    source = write_verification_bin(tmp_path / "in" / "lfw.bin", images, issame)
    one = run_augment(source, tmp_path / "one", spec, workers=1)
    two = run_augment(source, tmp_path / "two", spec, workers=2, chunk_size=50)
    assert one.output == tmp_path / "one" / "lfw.bin"
    assert one.output.read_bytes() == two.output.read_bytes()
    with open(one.output, "rb") as handle:
        twin_images, twin_issame = pickle.load(handle, encoding="bytes")
    assert len(twin_images) == 240 and list(twin_issame) == issame
    changed = sum(a != b for a, b in zip(twin_images, images, strict=True))
    assert changed == one.counts.masked > 220


def test_augment_dataset_without_a_spec_is_augment_without_mask_options(
    tmp_path: Path, lfw_fold1_bin: Path, spec, run_augment
) -> None:
    """``maskgen.augment_dataset(input, out)``, as a script calls it, was a TypeError (``spec``
    was required); without one it draws what ``MaskSpec()`` (``maskgen augment``) draws."""
    import maskgen

    images, issame = read_verification_bin(lfw_fold1_bin)
    source = write_verification_bin(tmp_path / "in" / "lfw.bin", images[:16], issame[:8])
    report = maskgen.augment_dataset(source, tmp_path / "plain", workers=1, progress=False)
    reference = run_augment(source, tmp_path / "ref", spec, workers=1)
    assert report.counts.masked > 10
    assert report.output.read_bytes() == reference.output.read_bytes()


@pytest.mark.skipif(sys.platform != "linux", reason="needs a file system taking any bytes")
def test_a_file_name_that_is_not_utf8_is_masked_and_kept(
    tmp_path: Path, lfw_dir: Path, spec, run_augment
) -> None:
    """A name in Latin-1 ('caf\\xe9.jpg' from an old archive) used to end the run in a
    UnicodeEncodeError traceback (the item's seed hashed the name as UTF-8)."""
    source = tmp_path / "in"
    source.mkdir()
    photo = spread_photos(lfw_dir, 1)[0].read_bytes()
    name = os.fsdecode(b"caf\xe9.jpg")
    (source / name).write_bytes(photo)
    (source / "plain.jpg").write_bytes(photo)
    report = run_augment(source, tmp_path / "out", spec, workers=1)
    assert report.counts.images == 2 and report.counts.masked == 2
    assert os.fsencode(name) in os.listdir(os.fsencode(tmp_path / "out"))
    twin = (tmp_path / "out" / name).read_bytes()
    assert twin != photo and twin != (tmp_path / "out" / "plain.jpg").read_bytes()


def test_folder_twin_mirrors_the_tree_and_passes_odd_files_through(
    tmp_path: Path, photo_folder: Path, photo_reference: Path, spec, run_augment, read_tree
) -> None:
    run_augment(photo_folder, tmp_path, spec, workers=2, chunk_size=3)
    assert read_tree(tmp_path) == read_tree(photo_reference)
    rows = {row["key"]: row for row in _manifest(photo_reference)}
    inputs = read_tree(photo_folder)
    outputs = {k: v for k, v in read_tree(photo_reference).items() if k in inputs}
    assert sorted(outputs) == sorted(inputs) == sorted(rows)
    assert rows["odd/not_an_image.jpg"]["reason"] == "unreadable"
    assert rows["odd/no_face.jpg"]["reason"] == "no_face"
    for key in ("odd/not_an_image.jpg", "odd/no_face.jpg"):
        assert outputs[key] == inputs[key]
    masked = [key for key, row in rows.items() if row["masked"]]
    assert len(masked) >= 8
    assert all(
        outputs[key] != inputs[key] and outputs[key][:3] == b"\xff\xd8\xff" for key in masked
    )


def test_photo_batches_bounded_by_bytes_give_the_same_twin(
    tmp_path: Path,
    photo_folder: Path,
    photo_reference: Path,
    spec,
    run_augment,
    read_tree,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch of photos ends early once its encoded bytes reach ``BATCH_BYTES`` (large
    photos); one photo per batch gives the twin that whole batches give, to the byte."""
    from maskgen.pipeline import step

    monkeypatch.setattr(step, "BATCH_BYTES", 1)
    run_augment(photo_folder, tmp_path, spec, workers=1)
    assert read_tree(tmp_path) == read_tree(photo_reference)


def test_folder_chunks_write_in_place_and_a_failed_run_resumes(
    tmp_path: Path,
    photo_folder: Path,
    photo_reference: Path,
    spec,
    run_augment,
    read_tree,
    monkeypatch,
) -> None:
    """A folder twin's chunks write their files straight into OUTDIR (nothing staged under
    the parts folder, nothing moved when joining). A fresh run that fails after some chunks
    keeps its parts, since OUTDIR already holds their files: ``--resume`` finishes it into
    the same twin as an uninterrupted run."""
    real_run_jobs = run_jobs

    def fail_after_two(jobs, n_jobs, **options):
        summaries = real_run_jobs(jobs, n_jobs, **options)
        yield next(summaries)
        yield next(summaries)
        raise DatasetFormatError("the input changed under the run")

    monkeypatch.setattr("maskgen.pipeline.run.run_jobs", fail_after_two)
    with pytest.raises(DatasetFormatError, match="changed"):
        run_augment(photo_folder, tmp_path, spec, workers=1, chunk_size=3)
    parts = tmp_path / PARTS_DIR_NAME
    assert sorted(p.name for p in parts.iterdir() if p.name.endswith(".files")) == []
    written = {k: v for k, v in read_tree(tmp_path).items() if not k.startswith(".")}
    reference = read_tree(photo_reference)
    assert 3 <= len(written) <= 6 and all(reference[k] == v for k, v in written.items())
    monkeypatch.undo()
    with pytest.raises(OutputError, match="resume=True"):
        run_augment(photo_folder, tmp_path, spec, workers=1, chunk_size=3)
    # the command again without its chunk size (and without --resume) was told its chunk
    # size (chosen for it) differed, and to "rerun with the same options"
    with pytest.raises(OutputError, match="interrupted run; add resume=True"):
        run_augment(photo_folder, tmp_path, spec, workers=1)
    with pytest.raises(ConfigError, match="chunk_size: 3 there, 2 now"):
        run_augment(photo_folder, tmp_path, spec, workers=1, chunk_size=2, resume=True)
    report = run_augment(photo_folder, tmp_path, spec, workers=2, resume=True)  # its own chunks
    assert report.complete and 0 < report.processed < report.counts.items
    assert read_tree(tmp_path) == reference


def test_a_photo_renamed_after_an_interruption_is_refused_on_resume(
    tmp_path: Path, photo_folder: Path, spec, run_augment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same number of files but another name: resuming kept the finished chunk's twin of
    the old name and never masked the new one (the manifest listed a file the input no longer
    held). Now it is refused as a changed input."""
    source = tmp_path / "in"
    shutil.copytree(photo_folder, source)
    with monkeypatch.context() as patch:
        _interrupt_at(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            run_augment(source, tmp_path / "out", spec, workers=1, chunk_size=4)
    first = sorted(p for p in source.rglob("*.jpg"))[0]
    assert (tmp_path / "out" / first.relative_to(source)).is_file()  # its chunk finished
    first.rename(first.with_name("renamed.jpg"))
    changed = r"input has changed since \(its file names\)"
    with pytest.raises(ConfigError, match=changed):
        run_augment(source, tmp_path / "out", spec, workers=1, resume=True)


def test_merge_refuses_a_rec_replaced_by_another_of_as_many_records(
    tmp_path: Path, lfw_mini: Path, spec, run_augment
) -> None:
    """Shards run, then the .rec is rewritten with other images (as many records): the merge
    joined the old shards' parts into a twin of the old set."""
    rec = tmp_path / "train.rec"
    for name in ("train.rec", "train.idx", "property"):
        shutil.copyfile(lfw_mini.with_name(name), tmp_path / name)
    for index in (0, 1):
        run_augment(rec, tmp_path / "out", spec, workers=1, shard=(index, 2))
    reader = RecordIOReader(rec)
    keys = reader.keys()
    records = [reader.read(key) for key in keys]
    reader.close()
    with RecordIOWriter(rec) as writer:  # record 1 holds record 2's photo now
        for record in records:
            data = records[2].data if record.key == 1 else record.data
            writer.write(dataclasses.replace(record, data=data))
    assert len(RecordIOReader(rec)) == len(records)
    with pytest.raises(ConfigError, match="changed since the shards ran"):
        merge_shards(tmp_path / "out")


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory: pytest.TempPathFactory, lfw_dir: Path) -> Path:
    """Real LFW faces in every kind of file a photo folder holds, and the files around them:
    GIF, TIFF (8 and 16 bits), an animated GIF, a JPEG without a suffix, a text file, a macOS
    ``._`` AppleDouble file, a ``.DS_Store``, a ``manifest.jsonl`` (a folder that was itself a
    twin) and a hidden folder."""
    from PIL import Image

    root = tmp_path_factory.mktemp("mixed") / "in"
    (root / "people" / ".thumbnails").mkdir(parents=True)
    faces = [Image.open(path).convert("RGB") for path in spread_photos(lfw_dir, 4)]
    faces[0].save(root / "people" / "a.jpg", quality=92)
    faces[1].save(root / "people" / "b.gif")
    faces[2].save(root / "people" / "c.tif")
    deep = np.asarray(faces[3]).astype(np.uint16) * 257
    assert cv2.imwrite(str(root / "people" / "d.TIFF"), deep[:, :, ::-1])
    faces[0].save(root / "people" / "moving.gif", save_all=True, append_images=faces[1:3])
    faces[1].save(root / "people" / "photo_without_suffix", format="JPEG")
    faces[2].save(root / "people" / ".thumbnails" / "c.jpg")
    (root / "notes.txt").write_text("shot in 2019\n")
    (root / "people" / "._a.jpg").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00" + bytes(80))
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(60))
    (root / "manifest.jsonl").write_text('{"key": "from an earlier run"}\n')
    return root


def test_folder_twin_keeps_every_file_and_says_what_each_is(
    tmp_path: Path, mixed_folder: Path, spec, run_augment, read_tree, caplog
) -> None:
    """Issue 10, item 2: nothing vanishes. Faces in GIF and TIFF are masked in their own
    format; every other file is copied, listed in the manifest with its reason and counted
    in the summary and maskgen.json; the input's own manifest.jsonl is listed, not copied
    over the run's."""
    one = run_augment(mixed_folder, tmp_path / "one", spec, workers=1)
    with caplog.at_level("WARNING"):
        two = run_augment(mixed_folder, tmp_path / "two", spec, workers=2, chunk_size=3)
    assert read_tree(tmp_path / "one") == read_tree(tmp_path / "two")
    assert "hidden folder(s) not read: people/.thumbnails" in caplog.text
    out = tmp_path / "one"
    rows = {row["key"]: row for row in _manifest(out)}
    inputs = {k: v for k, v in read_tree(mixed_folder).items() if ".thumbnails" not in k}
    assert sorted(rows) == sorted(inputs)
    masked = {"people/a.jpg", "people/b.gif", "people/c.tif", "people/d.TIFF"}
    masked.add("people/photo_without_suffix")
    assert {key for key, row in rows.items() if row["masked"]} == masked
    assert {key: row["reason"] for key, row in rows.items() if not row["masked"]} == {
        "people/moving.gif": "multi_frame",
        "notes.txt": "not_an_image",
        ".DS_Store": "not_an_image",
        "people/._a.jpg": "apple_double",
        "manifest.jsonl": "reserved_name",
    }
    for key, data in inputs.items():
        if key == "manifest.jsonl":
            continue
        twin = (out / key).read_bytes()
        if key in masked:
            assert twin != data and sniff_image_format(twin) == sniff_image_format(data), key
            assert rows[key]["faces"] >= 1 and len(rows[key]["face_masks"]) == rows[key]["faces"]
        else:
            assert twin == data, key
    assert read_stored((out / "people" / "d.TIFF").read_bytes()).layout == "rgb 16-bit"
    assert _manifest(out)[0]["key"] == ".DS_Store"  # the run's manifest, not the input's
    record = json.loads((out / "maskgen.json").read_text())
    # what was not read is in the record too, so it accounts for every entry of the input
    assert record["not_read"] == {"hidden_folders": ["people/.thumbnails"]}
    counts = record["counts"]
    assert counts == {
        "items": 10,
        "images": 6,
        "masked": 5,
        "not_masked": {"multi_frame": 1},
        "skipped": {"apple_double": 1, "not_an_image": 2, "reserved_name": 1},
    }
    assert one.counts == two.counts
    assert one.summary().startswith(
        "6 images: 5 masked, 1 not masked (multi_frame 1), 4 other files, not images "
        "(apple_double 1, not_an_image 2, reserved_name 1)"
    )


def test_output_inside_the_input_folder_is_refused(photo_folder: Path, spec, run_augment) -> None:
    with pytest.raises(OutputError, match="overlap"):
        run_augment(photo_folder, photo_folder / "masked", spec)
    assert not (photo_folder / "masked").exists()


def test_a_folder_twin_into_a_folder_of_other_files(
    photo_folder: Path, tmp_path: Path, spec, run_augment
) -> None:
    """An OUTDIR holding a file of the user's (notes.txt) was refused as "already holds output
    (notes.txt)", as if an earlier run had written it; it is named as what it is, and
    --overwrite writes the twin beside it, keeping it."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    with pytest.raises(OutputError, match=r"out is not empty \(notes.txt\); a folder's twin"):
        run_augment(photo_folder, out, spec)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    report = run_augment(photo_folder, out, spec, overwrite=True)
    assert report.complete and (out / "notes.txt").read_text() == "mine\n"
    with pytest.raises(OutputError, match=r"already holds output \(manifest.jsonl\)"):
        run_augment(photo_folder, out, spec)


def test_a_rec_twin_keeps_another_sets_property(
    tmp_path: Path, lfw_mini: Path, spec, run_augment
) -> None:
    """`augment train.rec -o data/` beside data/other.rec replaced data/property (other.rec's
    class count, 14) with lfw-mini's (40) without a word; an identical one is no conflict."""
    out = tmp_path / "data"
    out.mkdir()
    (out / "property").write_text("14,112,112")
    with pytest.raises(OutputError, match=r"data/property exists \(the class count of another"):
        run_augment(lfw_mini, out, spec)
    assert (out / "property").read_text() == "14,112,112"
    assert sorted(p.name for p in out.iterdir()) == ["property"]
    shutil.copyfile(lfw_mini.parent / "property", out / "property")
    assert run_augment(lfw_mini, out, spec).complete


# --- Dask -----------------------------------------------------------------------------------------


@pytest.mark.dask
def test_dask_cluster_run_equals_the_local_run(
    tmp_path: Path, lfw_mini: Path, spec, mini_reference: Path, run_augment, read_tree
) -> None:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster:
        run_augment(lfw_mini, tmp_path, spec, scheduler=cluster.scheduler_address)
    assert read_tree(tmp_path) == read_tree(mini_reference)


@pytest.mark.dask
def test_dask_workers_in_another_directory_read_and_write_where_the_user_meant(
    tmp_path: Path, lfw_mini: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`maskgen augment mini/train.rec -o twin --scheduler ...`, relative paths as the README's
    examples give them, with workers started in another directory (as on a cluster): they
    opened the paths in theirs, a FileNotFoundError traceback, and parts folders made under
    their directory. Now the twin of the local run, byte for byte. A path the workers cannot
    open (here /proc/self/cwd/..., which each process reads as its own directory, as a file
    system mounted on the user's machine alone) is one line naming it, nothing left behind."""
    distributed = pytest.importorskip("distributed")
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    shutil.copytree(lfw_mini.parent, here / "mini")
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the workers start in this process's directory
    cluster = distributed.LocalCluster(  # two: with one, joblib runs the jobs in the client
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )

    def augment(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "maskgen", "augment", *args, "-q"]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        return subprocess.run(command, cwd=here, capture_output=True, text=True, env=env)

    with cluster:
        address = cluster.scheduler_address
        done = augment("mini/train.rec", "-o", "twin", "--scheduler", address, "--workers", "3")
        assert done.returncode == 0, done.stderr
        assert done.stderr == (  # it was ignored without a word
            "Warning: --workers is not used with --scheduler: the cluster runs as many chunks "
            "at once as it has worker threads.\n"
        )
        unseen = "/proc/self/cwd/mini/train.rec"
        failed = augment(unseen, "-o", "/proc/self/cwd/gone", "--scheduler", address)
    assert augment("mini/train.rec", "-o", "local", "--workers", "1").returncode == 0
    assert (here / "twin" / "train.rec").read_bytes() == (here / "local" / "train.rec").read_bytes()
    assert failed.returncode == 1
    assert failed.stderr == (
        f"Error: --scheduler {address}: a worker cannot open {unseen} (No such file or "
        "directory); the input and OUTDIR must be on a file system every worker sees under "
        "the same path\n"
    )
    assert not (here / "gone").exists()  # the run's own parts folder, removed
    assert [p for p in elsewhere.rglob("*") if not p.is_dir()] == []


def _stopped_once_chunks_are_out(
    command: list, out: Path, signum: int, env: dict[str, str], wait: float = 120
) -> tuple[int, str]:
    """Run ``command`` (an augment into ``out``), send it ``signum`` once a chunk is done (the
    cluster holds jobs then), and give its exit status and stderr. It is killed if an
    assertion here fails, so no run is left behind."""
    run = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + wait
        while not list(out.glob(f"{PARTS_DIR_NAME}/chunk-*.jsonl")):
            assert run.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        run.send_signal(signum)
        _, stderr = run.communicate(timeout=wait)
    finally:
        run.kill()
    return run.returncode, stderr


@pytest.mark.dask
def test_a_dask_run_stopped_with_jobs_out_says_one_line(tmp_path: Path, lfw_mini: Path) -> None:
    """SIGTERM while the cluster holds jobs, one record each: the client closed while the
    results of some were on their way, and tornado logged each one's CommClosedError
    traceback above "Stopped by SIGTERM." (in about half the runs here, as the timing fell:
    three runs, so that a return of it shows)."""
    distributed = pytest.importorskip("distributed")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        for attempt in range(3):
            out = tmp_path / f"twin{attempt}"
            command = [sys.executable, "-m", "maskgen", "augment", lfw_mini, "-o", out, "-q"]
            command += ["--chunk-size", "1", "--scheduler", cluster.scheduler_address]
            returncode, stderr = _stopped_once_chunks_are_out(command, out, signal.SIGTERM, env)
            assert returncode == 128 + signal.SIGTERM
            assert stderr.startswith("Stopped by SIGTERM.") and len(stderr.splitlines()) == 1, (
                stderr
            )


def test_labels_are_float32_pairs(mini_reference: Path) -> None:
    twin = RecordIOReader(mini_reference / "train.rec")
    labels = np.stack([twin.read(key).label for key in twin.image_keys()])
    assert labels.dtype == np.float32 and labels.shape == (294, 2)
    assert set(np.unique(labels[:, 1]).tolist()) <= {0.0, 1.0}


def test_aligned_twin_leaves_few_crops_unmasked_and_says_why(mini_reference: Path) -> None:
    """The face checks run on aligned crops too, but an aligned dataset keeps almost every
    mask: each crop left unmasked is an occluded or too-turned face, listed with its box."""
    rows = _manifest(mini_reference)
    left = [row for row in rows if not row["masked"]]
    assert len(left) <= 0.05 * len(rows)
    for row in left:
        assert row["reason"] in ("occluded", "too_turned")
        assert [face["reason"] for face in row["faces_not_masked"]] == [row["reason"]]
        assert row["faces_not_masked"][0]["box"] == [16.0, 30.0, 96.0, 110.0]
    counts = json.loads((mini_reference / "maskgen.json").read_text())["counts"]
    assert sum(counts.get("faces_not_masked", {}).values()) == len(left)


def test_a_twin_given_as_input_is_warned_about(
    tmp_path: Path,
    lfw_mini: Path,
    mini_reference: Path,
    photo_reference: Path,
    spec,
    run_augment,
    caplog,
) -> None:
    """A twin augmented again got a second mask over the first on most faces (1,013 of 1,200
    on lfw-fold1's) without a word, though its maskgen.json lies beside it; a warning now
    names its original. The original itself is not warned about."""
    with caplog.at_level("WARNING", logger="maskgen.pipeline.run"):
        run_augment(mini_reference / "train.rec", tmp_path / "again", spec, workers=1)
        run_augment(photo_reference, tmp_path / "again-photos", spec, workers=1)
    warned = [r.getMessage() for r in caplog.records if "is a masked twin" in r.getMessage()]
    assert len(warned) == 2, warned
    assert "second mask over the first" in warned[0] and str(lfw_mini.resolve()) in warned[0]
    caplog.clear()
    with caplog.at_level("WARNING", logger="maskgen.pipeline.run"):
        run_augment(lfw_mini, tmp_path / "first", spec, workers=1)
    assert not [r for r in caplog.records if "is a masked twin" in r.getMessage()]


@pytest.mark.dask
def test_a_stopped_dask_run_waits_for_the_chunks_its_workers_are_masking(
    tmp_path: Path, lfw_mini: Path
) -> None:
    """Ctrl-C on a Dask run: chunks a worker thread was masking wrote their parts into OUTDIR
    up to a second after `augment` had exited and released OUTDIR's lock (where an
    --overwrite started then found them). The run now cancels the chunks not started and
    waits for those running: nothing in OUTDIR changes once it has exited, and --resume
    finishes the twin as an unstopped run writes it."""
    distributed = pytest.importorskip("distributed")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = tmp_path / "twin"
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
    ) as cluster:
        command = [sys.executable, "-m", "maskgen", "augment", lfw_mini, "-o", out, "-q"]
        command += ["--chunk-size", "40", "--scheduler", cluster.scheduler_address]
        returncode, stderr = _stopped_once_chunks_are_out(command, out, signal.SIGINT, env)
        assert returncode == 130, stderr
        assert stderr.splitlines()[-1].startswith("Interrupted."), stderr

        def files() -> dict[str, int]:
            return {str(p.relative_to(out)): p.stat().st_size for p in out.rglob("*")}

        left = files()
        time.sleep(3)  # longer than a chunk of 40 takes
        assert files() == left
        resumed = subprocess.run(
            [*command, "--resume"], capture_output=True, text=True, env=env, timeout=300
        )
    assert resumed.returncode == 0, resumed.stderr
    reference = tmp_path / "local"
    local = [sys.executable, "-m", "maskgen", "augment", lfw_mini, "-o", reference, "-q"]
    assert subprocess.run([*local, "--workers", "1"], env=env).returncode == 0
    assert (out / "train.rec").read_bytes() == (reference / "train.rec").read_bytes()
