"""MXNet RecordIO without mxnet: byte-equality with MXNet-1.9.1-written files, damage, parts."""

from __future__ import annotations

import multiprocessing
import pickle
import shutil
import struct
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from maskgen.errors import DatasetFormatError, OutputError
from maskgen.formats.base import Reader, find_format, open_reader
from maskgen.formats.recordio import (
    MAGIC,
    RECORDIO,
    RecordHeader,
    RecordIOReader,
    RecordIOWriter,
    default_index_path,
    encode_record,
    pack_header,
    pack_record,
    part_index_path,
    rebuild_index,
    unpack_record,
    write_insightface_rec,
)
from maskgen.types import Sample

FIXTURES = ["lfw-mini", "lfw-mini-flat", "split-record"]
MAGIC_BYTES = struct.pack("<I", MAGIC)


def _files(folder: Path) -> tuple[bytes, bytes]:
    return (folder / "train.rec").read_bytes(), (folder / "train.idx").read_bytes()


def _copy_fixture(rec_dir: Path, name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(rec_dir / name, target)
    for path in target.iterdir():
        path.chmod(0o644)
    return target / "train.rec"


def _parts_of(data: bytes) -> list[tuple[int, int]]:
    """(flag, length) of every part header, walking the bytes by hand."""
    parts, pos = [], 0
    while pos < len(data):
        magic, lrecord = struct.unpack_from("<II", data, pos)
        assert magic == MAGIC
        parts.append((lrecord >> 29, lrecord & ((1 << 29) - 1)))
        pos += 8 + ((lrecord & ((1 << 29) - 1)) + 3) // 4 * 4
    return parts


# --- container encoding (pure unit tests) -----------------------------------------------------


def test_encode_whole_record_pads_to_four_bytes() -> None:
    data = b"".join(encode_record(b"abcde"))
    assert data == struct.pack("<II", MAGIC, 5) + b"abcde\0\0\0"


@pytest.mark.parametrize(
    ("payload", "expected_parts"),
    [
        (MAGIC_BYTES + b"tail", [(1, 0), (3, 4)]),
        (b"abcd" + MAGIC_BYTES + b"efgh" + MAGIC_BYTES + b"xy", [(1, 4), (2, 4), (3, 2)]),
        (b"ab" + MAGIC_BYTES + b"cd", [(0, 8)]),  # unaligned: not split
        (b"abcd" + MAGIC_BYTES, [(1, 4), (3, 0)]),  # the last whole word counts
    ],
)
def test_encode_splits_at_aligned_magic(payload: bytes, expected_parts: list) -> None:
    assert _parts_of(b"".join(encode_record(payload))) == expected_parts


def test_split_records_read_back_whole(tmp_path: Path) -> None:
    payloads = [MAGIC_BYTES * 3, b"x" * 7 + MAGIC_BYTES, b"", b"abcd" + MAGIC_BYTES + b"e"]
    with RecordIOWriter(tmp_path / "t.rec") as writer:
        for key, payload in enumerate(payloads):
            writer.write_raw(key, payload)
    reader = RecordIOReader(tmp_path / "t.rec")
    keys = reader.keys()
    assert [reader.read_raw(key) for key in keys] == payloads
    assert [payload for _, payload in reader.iter_raw()] == payloads


def test_header_pack_unpack_round_trip() -> None:
    assert pack_header(0, 3.0, 7, 0) == struct.pack("<IfQQ", 0, 3.0, 7, 0)
    for header in [
        RecordHeader(flag=0, label=[3.0], id=7),
        RecordHeader(flag=1, label=[3.0], id=7),
        RecordHeader(flag=2, label=[4.0, 0.5], id=8, id2=9),
    ]:
        back, image = unpack_record(pack_record(header, b"JPEG"))
        assert back == header
        assert image == b"JPEG"
        assert back.label.dtype == np.float32


def test_pack_record_rejects_flag_label_mismatch() -> None:
    with pytest.raises(DatasetFormatError, match="flag 3"):
        pack_record(RecordHeader(flag=3, label=[1.0, 2.0]), b"")
    with pytest.raises(DatasetFormatError, match="flag 0"):
        pack_record(RecordHeader(flag=0, label=[1.0, 2.0]), b"")


def test_write_repacks_header_from_sample(tmp_path: Path) -> None:
    samples = [
        Sample(key=0, data=b"img0", label=np.array([5.0], np.float32)),
        Sample(key=1, data=b"img1", label=np.array([5.0, 0.0], np.float32), extra={"id": 11}),
    ]
    with RecordIOWriter(tmp_path / "t.rec") as writer:
        for sample in samples:
            writer.write(sample)
    reader = RecordIOReader(tmp_path / "t.rec")
    first, second = reader.read(0), reader.read(1)
    assert first.extra == {"flag": 0, "id": 0, "id2": 0}
    assert second.extra == {"flag": 2, "id": 11, "id2": 0}
    assert second.data == b"img1"
    np.testing.assert_array_equal(second.label, [5.0, 0.0])


def test_writer_rejects_non_integer_keys(tmp_path: Path) -> None:
    with (
        pytest.raises(DatasetFormatError, match="integers"),
        RecordIOWriter(tmp_path / "t.rec") as writer,
    ):
        writer.write_raw("a.jpg", b"x")


def test_written_files_follow_the_umask(tmp_path: Path) -> None:
    with RecordIOWriter(tmp_path / "t.rec") as writer:
        writer.write_raw(0, b"x")
    (tmp_path / "reference").touch()
    mode = (tmp_path / "reference").stat().st_mode & 0o777
    assert (tmp_path / "t.rec").stat().st_mode & 0o777 == mode
    assert (tmp_path / "t.idx").stat().st_mode & 0o777 == mode


def test_writer_leaves_nothing_on_exception(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), RecordIOWriter(tmp_path / "t.rec") as writer:
        writer.write_raw(0, b"half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


# --- golden files written by MXNet 1.9.1 ------------------------------------------------------


@pytest.mark.shared
@pytest.mark.parametrize("name", FIXTURES)
def test_golden_round_trip_through_samples(rec_dir: Path, name: str, tmp_path: Path) -> None:
    reader = RecordIOReader(rec_dir / name / "train.rec")
    keys = reader.keys()
    with RecordIOWriter(tmp_path / "train.rec") as writer:
        for key in keys:
            writer.write(reader.read(key))
    assert _files(tmp_path) == _files(rec_dir / name)


@pytest.mark.shared
@pytest.mark.parametrize("name", FIXTURES)
def test_golden_round_trip_raw_streamed(rec_dir: Path, name: str, tmp_path: Path) -> None:
    reader = RecordIOReader(rec_dir / name / "train.rec")
    with RecordIOWriter(tmp_path / "train.rec") as writer:
        for key, payload in reader.iter_raw():
            writer.write_raw(key, payload)
    assert _files(tmp_path) == _files(rec_dir / name)


@pytest.mark.shared
@pytest.mark.parametrize("name", FIXTURES)
def test_rebuild_index_matches_golden(rec_dir: Path, name: str, tmp_path: Path) -> None:
    idx = rebuild_index(rec_dir / name / "train.rec", tmp_path / "rebuilt.idx")
    assert idx.read_bytes() == (rec_dir / name / "train.idx").read_bytes()


@pytest.mark.shared
def test_rebuild_index_reports_its_progress_in_bytes_of_the_rec(
    rec_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``maskgen index`` on MS1MV2 (tens of GB) worked for minutes without a word: its bar
    counts the .rec's bytes scanned, in steps, adding up to its size."""
    from maskgen.formats import recordio

    rec = rec_dir / "lfw-mini" / "train.rec"
    monkeypatch.setattr(recordio, "_PROGRESS_BYTES", 4096)  # the fixture is small
    steps: list[int] = []
    idx = rebuild_index(rec, tmp_path / "rebuilt.idx", progress=steps.append)
    assert idx.read_bytes() == (rec_dir / "lfw-mini" / "train.idx").read_bytes()
    assert sum(steps) == rec.stat().st_size and len(steps) > 2
    assert all(step >= 4096 for step in steps[:-1])


@pytest.mark.shared
def test_an_index_into_a_new_folder_makes_it_and_a_failed_one_leaves_none(
    rec_dir: Path, tmp_path: Path
) -> None:
    """``index REC -o new/sub/t.idx`` said "cannot write here" where mask, preview and align
    make the folder: it is made now, and removed again where the scan fails."""
    idx = rebuild_index(rec_dir / "lfw-mini" / "train.rec", tmp_path / "new" / "sub" / "t.idx")
    assert idx.read_bytes() == (rec_dir / "lfw-mini" / "train.idx").read_bytes()
    rec = _copy_fixture(rec_dir, "lfw-mini", tmp_path / "damaged")
    with open(rec, "r+b") as handle:
        handle.seek(RecordIOReader(rec).offset(5))
        handle.write(b"\0\0\0\0")
    with pytest.raises(DatasetFormatError, match="bad magic"):
        rebuild_index(rec, tmp_path / "other" / "sub" / "t.idx")
    assert not (tmp_path / "other").exists()


@pytest.mark.shared
def test_split_record_payload_is_joined(rec_dir: Path) -> None:
    folder = rec_dir / "split-record"
    assert len(_parts_of((folder / "train.rec").read_bytes())) > 3  # MXNet really split it
    reader = RecordIOReader(folder / "train.rec")
    sample = reader.read(1)
    assert sample.data == (folder / "expected_payload_1.jpg").read_bytes()
    assert MAGIC_BYTES in sample.data
    assert [s.key for s in reader.iter_samples()] == [0, 1, 2]


@pytest.mark.shared
def test_lfw_mini_insightface_layout(rec_dir: Path) -> None:
    reader = RecordIOReader(rec_dir / "lfw-mini" / "train.rec")
    assert list(reader.keys()) == list(range(335))
    assert list(reader.image_keys()) == list(range(1, 295))
    assert reader.has_identity_records
    assert reader.num_classes == 40

    header = reader.read(0)
    assert not header.is_image
    np.testing.assert_array_equal(header.label, [295.0, 335.0])
    assert unpack_record(header.data)[1] == b""  # raw payload passes through

    covered = []
    for index in range(reader.num_classes):
        keys = reader.identity(index)
        assert len(keys) >= 1
        covered += list(keys)
        identity_record = reader.read(295 + index)
        assert not identity_record.is_image
        np.testing.assert_array_equal(identity_record.label, [keys.start, keys.stop])
        for key in keys:
            sample = reader.read(key)
            assert sample.is_image and sample.data[:2] == b"\xff\xd8"
            assert sample.label.dtype == np.float32 and sample.label.shape == (1,)
            assert sample.label[0] == index
            assert sample.extra == {"flag": 0, "id": key, "id2": 0}
    assert covered == list(range(1, 295))


@pytest.mark.shared
def test_flat_file_has_the_same_images(rec_dir: Path) -> None:
    mini = RecordIOReader(rec_dir / "lfw-mini" / "train.rec")
    flat = RecordIOReader(rec_dir / "lfw-mini-flat" / "train.rec")
    assert not flat.has_identity_records
    assert flat.image_keys() == flat.keys()
    assert flat.num_classes == 40  # max label + 1: no header, no property file
    for sample in flat.iter_samples():
        twin = mini.read(sample.key + 1)
        assert sample.is_image and sample.data == twin.data
        np.testing.assert_array_equal(sample.label, [twin.label[0], 0.0])


@pytest.mark.shared
def test_write_insightface_rec_reproduces_lfw_mini(rec_dir: Path, tmp_path: Path) -> None:
    reader = RecordIOReader(rec_dir / "lfw-mini" / "train.rec")

    def identities():  # a generator: the writer must stream
        for index in range(reader.num_classes):
            yield (reader.read(key).data for key in reader.identity(index))

    out = write_insightface_rec(tmp_path / "train.rec", identities())
    assert out == tmp_path / "train.rec"
    assert _files(tmp_path) == _files(rec_dir / "lfw-mini")
    assert (tmp_path / "property").read_bytes() == (rec_dir / "lfw-mini" / "property").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["property", "train.idx", "train.rec"]


# --- pickling and worker processes ------------------------------------------------------------


def _read_in_worker(reader: RecordIOReader, key: int) -> bytes:
    return reader.read(key).data


@pytest.mark.shared
def test_reader_pickles_and_reads_after(rec_dir: Path) -> None:
    reader = RecordIOReader(rec_dir / "lfw-mini" / "train.rec")
    expected = reader.read(7).data  # the handle is open now
    clone = pickle.loads(pickle.dumps(reader))
    assert clone.read(7).data == expected
    assert clone.keys() == reader.keys()
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        results = list(pool.map(_read_in_worker, [reader] * 3, [7, 100, 294]))
    assert results == [expected, reader.read(100).data, reader.read(294).data]


# --- damaged input ----------------------------------------------------------------------------


@pytest.mark.shared
def test_truncated_last_record(rec_dir: Path, tmp_path: Path) -> None:
    rec = _copy_fixture(rec_dir, "lfw-mini", tmp_path)
    with open(rec, "r+b") as handle:
        handle.truncate(rec.stat().st_size - 10)
    reader = RecordIOReader(rec)  # every .idx offset is still inside the file
    assert reader.read(333).label is not None
    offset = reader.offset(334)
    with pytest.raises(DatasetFormatError, match=rf"truncated record at byte offset {offset}"):
        reader.read(334)
    with pytest.raises(DatasetFormatError, match=str(rec)):
        list(reader.iter_samples())
    with pytest.raises(DatasetFormatError, match=rf"truncated record at byte offset {offset}"):
        rebuild_index(rec)


@pytest.mark.shared
def test_truncated_mid_file_fails_at_open(rec_dir: Path, tmp_path: Path) -> None:
    rec = _copy_fixture(rec_dir, "lfw-mini", tmp_path)
    with open(rec, "r+b") as handle:
        handle.truncate(100_000)
    with pytest.raises(
        DatasetFormatError, match=r"points to byte offset \d+, past the end"
    ) as info:
        RecordIOReader(rec)
    assert "\n" not in str(info.value) and "train.idx" in str(info.value)


@pytest.mark.shared
def test_wrong_magic(rec_dir: Path, tmp_path: Path) -> None:
    rec = _copy_fixture(rec_dir, "lfw-mini", tmp_path)
    offset = RecordIOReader(rec).offset(5)
    with open(rec, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"\0\0\0\0")
    reader = RecordIOReader(rec)
    assert reader.read(4).is_image and reader.read(6).is_image
    with pytest.raises(DatasetFormatError, match=rf"bad magic .* at byte offset {offset}") as info:
        reader.read(5)
    assert str(rec) in str(info.value)
    with pytest.raises(DatasetFormatError, match=rf"byte offset {offset}"):
        rebuild_index(rec, tmp_path / "x.idx")
    assert not (tmp_path / "x.idx").exists()


@pytest.mark.shared
def test_an_index_pointing_where_no_record_starts_is_named(rec_dir: Path, tmp_path: Path) -> None:
    """A truncated .idx line ('5\t14316' cut from '5\t143161') points into a record: the
    error must not blame the .rec alone, or a user replaces a good 100 GB file."""
    rec = _copy_fixture(rec_dir, "lfw-mini", tmp_path)
    idx = rec.with_suffix(".idx")
    offset = RecordIOReader(rec).offset(5)
    lines = idx.read_text().splitlines()
    lines = [f"5\t{offset + 4}" if line.split("\t")[0] == "5" else line for line in lines]
    idx.write_text("\n".join(lines) + "\n")
    reader = RecordIOReader(rec)
    with pytest.raises(
        DatasetFormatError, match=rf"bad magic .* at byte offset {offset + 4}"
    ) as info:
        reader.read(5)
    assert str(idx) in str(info.value)
    assert f"`maskgen index {rec} --overwrite`" in str(info.value)


@pytest.mark.shared
def test_index_past_the_end(rec_dir: Path, tmp_path: Path) -> None:
    rec = _copy_fixture(rec_dir, "split-record", tmp_path)
    rec.with_suffix(".idx").write_text("0\t0\n1\t4924\n2\t1000000000\n")
    with pytest.raises(DatasetFormatError, match="1000000000") as info:
        RecordIOReader(rec)
    assert "train.idx" in str(info.value)


@pytest.mark.shared
def test_a_truncated_index_is_named_not_read_as_a_smaller_set(
    rec_dir: Path, tmp_path: Path
) -> None:
    """An .idx cut after 100 lines (an interrupted copy): augment wrote a twin of the 99
    indexed images and exited 0, train ended in `KeyError: 295` (an identity record)."""
    rec = _copy_fixture(rec_dir, "lfw-mini", tmp_path)
    idx = rec.with_suffix(".idx")
    idx.write_text("".join(idx.read_text().splitlines(keepends=True)[:100]))
    with pytest.raises(DatasetFormatError, match=r"its 100 records end at byte \d+ of") as info:
        RecordIOReader(rec)
    assert f"`maskgen index {rec} --overwrite`" in str(info.value)
    rebuild_index(rec, idx)
    assert len(RecordIOReader(rec)) == 335


@pytest.mark.shared
def test_index_into_the_middle_of_a_record(rec_dir: Path, tmp_path: Path) -> None:
    rec = _copy_fixture(rec_dir, "split-record", tmp_path)
    rec.with_suffix(".idx").write_text("0\t0\n1\t4964\n")  # a middle part of record 1
    with pytest.raises(DatasetFormatError, match="byte offset 4964 has flag 2"):
        RecordIOReader(rec).read(1)


def test_malformed_index(tmp_path: Path) -> None:
    with RecordIOWriter(tmp_path / "t.rec") as writer:
        writer.write_raw(0, b"x")
    (tmp_path / "t.idx").write_text("0 0\n")
    with pytest.raises(DatasetFormatError, match=r"t\.idx: line 1"):
        RecordIOReader(tmp_path / "t.rec")


@pytest.mark.shared
def test_missing_index_says_how_to_rebuild(rec_dir: Path, tmp_path: Path) -> None:
    rec = _copy_fixture(rec_dir, "lfw-mini-flat", tmp_path)
    rec.with_suffix(".idx").unlink()
    with pytest.raises(DatasetFormatError, match=f"maskgen index {rec}"):
        RecordIOReader(rec)
    rebuild_index(rec)
    assert (
        rec.with_suffix(".idx").read_bytes() == (rec_dir / "lfw-mini-flat/train.idx").read_bytes()
    )
    assert len(RecordIOReader(rec)) == 294
    renamed = tmp_path / "photo.rec"  # a JPEG renamed: no index to rebuild, not RecordIO
    renamed.write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    with pytest.raises(DatasetFormatError, match=r"photo\.rec: not a RecordIO file"):
        RecordIOReader(renamed)


# --- format registry, parts and join ----------------------------------------------------------


@pytest.mark.shared
def test_format_is_registered_and_sniffed(rec_dir: Path, tmp_path: Path) -> None:
    rec = rec_dir / "lfw-mini" / "train.rec"
    assert find_format(rec) is RECORDIO
    assert RECORDIO.name == "recordio" and RECORDIO.aligned_by_default
    reader = open_reader(rec)
    assert isinstance(reader, RecordIOReader) and isinstance(reader, Reader)
    assert RECORDIO.output_path(reader, tmp_path) == tmp_path / "train.rec"


def _write_parts(reader: RecordIOReader, folder: Path, chunk: int) -> list[Path]:
    keys = list(reader.keys())
    parts = []
    for number, start in enumerate(range(0, len(keys), chunk)):
        part = folder / f"part-{number:05d}.rec"
        with RECORDIO.open_part_writer(reader, part) as writer:
            for key in keys[start : start + chunk]:
                writer.write(reader.read(key))
        parts.append(part)
    return parts


@pytest.mark.shared
@pytest.mark.parametrize(("name", "chunk"), [("lfw-mini", 37), ("split-record", 1)])
def test_parts_join_equals_single_writer(
    rec_dir: Path, tmp_path: Path, name: str, chunk: int
) -> None:
    reader = RecordIOReader(rec_dir / name / "train.rec")
    single = tmp_path / "single"
    with RecordIOWriter(single / "train.rec") as writer:
        for sample in reader.iter_samples():
            writer.write(sample)
    parts = _write_parts(reader, tmp_path / "parts", chunk)
    assert all(part_index_path(part).is_file() for part in parts)
    out = RECORDIO.join_parts(reader, parts, tmp_path / "out")
    assert out == tmp_path / "out" / "train.rec"
    assert _files(tmp_path / "out") == _files(single) == _files(rec_dir / name)
    has_property = (rec_dir / name / "property").exists()
    assert (tmp_path / "out" / "property").exists() == has_property


@pytest.mark.shared
def test_join_refuses_a_missing_part(rec_dir: Path, tmp_path: Path) -> None:
    reader = RecordIOReader(rec_dir / "lfw-mini" / "train.rec")
    parts = _write_parts(reader, tmp_path / "parts", 100)
    part_index_path(parts[1]).unlink()
    with pytest.raises(OutputError, match="part missing"):
        RECORDIO.join_parts(reader, parts, tmp_path / "out")
    assert not (tmp_path / "out" / "train.rec").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == []


@pytest.mark.shared
def test_part_is_absent_until_complete(rec_dir: Path, tmp_path: Path) -> None:
    reader = RecordIOReader(rec_dir / "lfw-mini" / "train.rec")
    part = tmp_path / "part-00000.rec"
    with pytest.raises(KeyError), RECORDIO.open_part_writer(reader, part) as writer:
        writer.write(reader.read(1))
        writer.write(reader.read(100_000))
    assert list(tmp_path.iterdir()) == []


# --- compact index and per-chunk subsets ------------------------------------------------------


def _same_sample(a: Sample, b: Sample) -> bool:
    labels_equal = (a.label is None and b.label is None) or np.array_equal(a.label, b.label)
    fields = (a.key, a.data, a.is_image, dict(a.extra))
    return labels_equal and fields == (b.key, b.data, b.is_image, dict(b.extra))


@pytest.mark.shared
@pytest.mark.parametrize(("name", "chunk"), [("lfw-mini", 37), ("split-record", 2)])
def test_subset_reads_what_the_full_reader_reads(rec_dir: Path, name: str, chunk: int) -> None:
    full = RecordIOReader(rec_dir / name / "train.rec")
    keys = full.keys()
    for start in range(0, len(keys), chunk):
        wanted = keys[start : start + chunk]
        part = pickle.loads(pickle.dumps(full.subset(wanted)))  # as a worker receives it
        assert list(part.keys()) == list(wanted) and len(part) == len(wanted)
        assert all(_same_sample(part.read(key), full.read(key)) for key in wanted)
        assert all(_same_sample(a, full.read(a.key)) for a in part.iter_samples())
        part.close()


@pytest.mark.shared
def test_subset_of_scattered_keys_keeps_the_whole_files_layout(rec_dir: Path) -> None:
    full = RecordIOReader(rec_dir / "lfw-mini" / "train.rec")
    part = full.subset([300, 7, 0, 294])
    assert list(part.keys()) == [300, 7, 0, 294]
    assert [s.is_image for s in part.iter_samples()] == [False, True, False, True]
    assert part.has_identity_records and part.num_classes == 40
    assert part.offset(7) == full.offset(7)
    with pytest.raises(KeyError):
        part.read(8)
    with pytest.raises(KeyError):
        full.subset(range(330, 340))


def _tiny_rec(path: Path, keys: list[int]) -> RecordIOReader:
    with RecordIOWriter(path) as writer:
        for key in keys:
            writer.write_raw(key, b"payload %d" % key)
    return RecordIOReader(path)


def test_index_costs_8_bytes_a_record_and_subsets_do_not_grow(tmp_path: Path) -> None:
    small = _tiny_rec(tmp_path / "small" / "t.rec", list(range(300)))
    large = _tiny_rec(tmp_path / "large" / "t.rec", list(range(30_300)))
    assert large.keys() is large.keys() and large.keys() == range(30_300)
    growth = len(pickle.dumps(large)) - len(pickle.dumps(small))
    assert 8 * 30_000 <= growth < 8 * 30_000 + 200  # uint64 offsets, keys a range
    chunks = [pickle.dumps(reader.subset(range(100, 200))) for reader in (small, large)]
    assert abs(len(chunks[0]) - len(chunks[1])) <= 8 and len(chunks[1]) < 2000  # file sizes
    assert pickle.loads(chunks[1]).read_raw(150) == b"payload 150"


def test_non_contiguous_keys_are_found_and_kept_in_index_order(tmp_path: Path) -> None:
    keys = [5, 6, 7, 3, 100, -2, 8]
    reader = _tiny_rec(tmp_path / "t.rec", keys)
    assert list(reader.keys()) == keys and reader.keys() == reader.keys()
    assert [reader.read_raw(key) for key in keys] == [b"payload %d" % key for key in keys]
    stored = reader.keys()
    assert 4 not in stored and 100 in stored
    with pytest.raises(KeyError):
        reader.read(4)
    part = reader.subset([100, 5])
    assert list(part.keys()) == [100, 5] and part.read_raw(np.int64(5)) == b"payload 5"
    contiguous = _tiny_rec(tmp_path / "c.rec", list(range(10, 20)))
    assert contiguous.keys() == range(10, 20) and contiguous.read_raw(19) == b"payload 19"


def test_repeated_key_in_index(tmp_path: Path) -> None:
    _tiny_rec(tmp_path / "t.rec", [0, 1, 2])
    (tmp_path / "t.idx").write_text("0\t0\n1\t20\n1\t40\n")
    with pytest.raises(DatasetFormatError, match=r"t\.idx: key 1 appears more than once"):
        RecordIOReader(tmp_path / "t.rec")


def test_writing_a_decoded_image_is_refused(tmp_path: Path) -> None:
    """A decoded (112, 112, 3) array given as a record's image was stored as its 37,632 raw
    pixel bytes, a .rec no reader decodes; a str failed with "string argument without an
    encoding". Both are now one DatasetFormatError naming the file and key, nothing written."""
    face = np.zeros((112, 112, 3), np.uint8)
    rec = tmp_path / "mine.rec"
    label = np.array([3.0], np.float32)
    for data, message in ((face, r"decoded \(112, 112, 3\)"), ("face.jpg", "record image is str")):
        writer = RecordIOWriter(rec)
        with pytest.raises(DatasetFormatError, match=rf"mine\.rec: key 1: .*{message}"), writer:
            writer.write(Sample(key=1, data=data, label=label))
    assert not rec.exists()
    with pytest.raises(DatasetFormatError, match=r"train\.rec: key 1: .*decoded"):
        write_insightface_rec(tmp_path / "set" / "train.rec", [[face]])
    assert not (tmp_path / "set" / "train.rec").exists()
    with RecordIOWriter(rec) as writer:  # encoded bytes, as bytes or a 1-D array, still go in
        writer.write(Sample(key=1, data=b"\xff\xd8jpeg", label=np.array([3.0], np.float32)))
        writer.write(Sample(key=2, data=np.frombuffer(b"\xff\xd8x", np.uint8)))
    assert RecordIOReader(rec).read(1).data == b"\xff\xd8jpeg"
    assert RecordIOReader(rec).read(2).data == b"\xff\xd8x"


def _drop_index_lines(rec: Path, dropped: range) -> None:
    """Filter the .idx by hand, as a user leaving records out does; the .rec keeps them."""
    idx = rec.with_suffix(".idx")
    lines = idx.read_text().splitlines(keepends=True)
    idx.write_text("".join(line for line in lines if int(line.split("\t")[0]) not in dropped))


@pytest.mark.shared
def test_an_index_without_the_header_line_is_refused(rec_dir: Path, tmp_path: Path) -> None:
    """lfw-mini's .idx without its line for key 0: the file read as a flat one, its 40
    identity records as images labelled with their [first, end) ranges (a twin rewrote those
    labels as [first, 0.0])."""
    rec = _copy_fixture(rec_dir, "lfw-mini", tmp_path)
    _drop_index_lines(rec, range(0, 1))
    with pytest.raises(DatasetFormatError) as info:
        RecordIOReader(rec)
    assert str(info.value) == (
        f"{rec.with_suffix('.idx')}: leaves out key 0, the insightface header record at the "
        f"start of {rec}, so its identity records would be read as images; put its line "
        f"'0<TAB>0' back, or rebuild the index with `maskgen index {rec} --overwrite`"
    )


@pytest.mark.shared
def test_an_index_filtered_by_hand_is_read_as_it_lists_and_said(
    rec_dir: Path, tmp_path: Path
) -> None:
    """Records dropped from the middle of the .idx (the .rec still holds them) are not read,
    as MXNet's reader does; where the insightface header names them, unlisted_keys says so."""
    rec = _copy_fixture(rec_dir, "lfw-mini", tmp_path)
    full = RecordIOReader(rec_dir / "lfw-mini" / "train.rec")
    _drop_index_lines(rec, range(10, 20))
    reader = RecordIOReader(rec)
    assert list(reader.image_keys()) == [k for k in full.image_keys() if not 10 <= k < 20]
    assert reader.num_classes == 40 and reader.identity(1) == full.identity(1)
    assert all(reader.read(k).data == full.read(k).data for k in (9, 20, 294, 295))
    assert reader.unlisted_keys().tolist() == list(range(10, 20))
    assert reader.describe_unlisted().startswith(
        f"{rec.with_suffix('.idx')}: leaves out 10 of the 294 image records and 0 of the 40 "
        f"identity records the header of {rec} names (keys 10-19)"
    )
    assert full.describe_unlisted() is None
    flat = _copy_fixture(rec_dir, "lfw-mini-flat", tmp_path)
    _drop_index_lines(flat, range(10, 20))
    assert len(RecordIOReader(flat)) == 284
    assert RecordIOReader(flat).describe_unlisted() is None  # its .idx is the only list


def test_the_index_suffix_follows_the_recs_letter_case(tmp_path: Path) -> None:
    """``TRAIN.REC`` beside its ``TRAIN.IDX`` was refused: "index TRAIN.idx not found"."""
    assert default_index_path(tmp_path / "train.rec") == tmp_path / "train.idx"
    assert default_index_path(tmp_path / "TRAIN.REC") == tmp_path / "TRAIN.IDX"
    assert default_index_path(tmp_path / "a.Rec") == tmp_path / "a.Idx"
    with RecordIOWriter(tmp_path / "TRAIN.REC", tmp_path / "TRAIN.IDX") as writer:
        writer.write(Sample(key=0, data=b"\xff\xd8\xffpayload", label=1.0))
    reader = open_reader(tmp_path / "TRAIN.REC")
    assert len(reader) == 1 and reader.idx_path == tmp_path / "TRAIN.IDX"
    (tmp_path / "TRAIN.IDX").rename(tmp_path / "TRAIN.idx")  # only a lower-case one: taken
    assert default_index_path(tmp_path / "TRAIN.REC") == tmp_path / "TRAIN.idx"
    assert len(open_reader(tmp_path / "TRAIN.REC")) == 1
