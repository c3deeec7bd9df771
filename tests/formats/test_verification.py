"""insightface verification .bin: real fold of LFW, round trips, parts, refused pickles."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from maskgen.errors import DatasetFormatError, OutputError
from maskgen.formats.base import Reader, find_format
from maskgen.formats.verification import (
    VERIFICATION,
    VerificationReader,
    read_verification_bin,
    write_verification_bin,
)


def _plain_load(path: Path):
    with open(path, "rb") as handle:
        return pickle.load(handle, encoding="bytes")


@pytest.mark.shared
def test_reads_lfw_fold1(lfw_fold1_bin: Path) -> None:
    images, issame = read_verification_bin(lfw_fold1_bin)
    assert len(images) == 1200 and len(issame) == 600
    assert sum(issame) == 300
    assert all(isinstance(image, bytes) and image[:2] == b"\xff\xd8" for image in images)
    assert (images, issame) == _plain_load(lfw_fold1_bin)


@pytest.mark.shared
def test_write_round_trip_loads_with_plain_pickle(lfw_fold1_bin: Path, tmp_path: Path) -> None:
    images, issame = read_verification_bin(lfw_fold1_bin)
    out = write_verification_bin(tmp_path / "lfw.bin", images, issame)
    assert _plain_load(out) == (images, issame)
    assert read_verification_bin(out) == (images, issame)
    assert [p.name for p in tmp_path.iterdir()] == ["lfw.bin"]


def test_accepts_uint8_arrays(tmp_path: Path) -> None:
    arrays = [np.frombuffer(bytes([i, i + 1, 255]), dtype=np.uint8) for i in range(4)]
    path = tmp_path / "arrays.bin"
    path.write_bytes(pickle.dumps((arrays, np.array([True, False]))))
    images, issame = read_verification_bin(path)
    assert images == [bytes([i, i + 1, 255]) for i in range(4)]
    assert issame == [True, False]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"images": []}, "not a verification set"),
        (([b"a", b"b", b"c"], [True]), "even number"),
        (([b"a", b"b"], [True, False]), "2 issame flags for 2 images"),
        (([b"a", "b"], [True]), "image 1 is str"),
        (([b"a", b"b"], [2]), r"issame\[0\]"),
    ],
)
def test_refuses_what_is_not_a_verification_set(
    tmp_path: Path, content: object, message: str
) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(pickle.dumps(content))
    with pytest.raises(DatasetFormatError, match=message) as info:
        read_verification_bin(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_refuses_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(os.urandom(64))
    with pytest.raises(DatasetFormatError, match=r"garbage\.bin"):
        read_verification_bin(path)


class _Exploit:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (str(self.target),))


def test_never_runs_code_from_the_pickle(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    path = tmp_path / "evil.bin"
    path.write_bytes(pickle.dumps(([b"a", b"b"], [_Exploit(target)])))
    with pytest.raises(DatasetFormatError, match="is not allowed"):
        read_verification_bin(path)
    assert not target.exists()


@pytest.mark.shared
def test_reader_and_pickling(lfw_fold1_bin: Path) -> None:
    reader = VerificationReader(lfw_fold1_bin)
    assert isinstance(reader, Reader)
    assert find_format(lfw_fold1_bin) is VERIFICATION and VERIFICATION.aligned_by_default
    images, issame = read_verification_bin(lfw_fold1_bin)
    assert list(reader.keys()) == list(range(1200)) and len(reader) == 1200
    assert reader.issame == issame
    assert reader.read(3).data == images[3] and reader.read(3).key == 3
    state = pickle.dumps(reader)
    assert len(state) < 10_000  # images stay behind, reloaded in the worker
    clone = pickle.loads(state)
    assert clone.read(1199).data == images[1199]
    with pytest.raises(KeyError):
        reader.read(1200)


@pytest.mark.shared
def test_parts_join_reproduces_the_set(lfw_fold1_bin: Path, tmp_path: Path) -> None:
    reader = VerificationReader(lfw_fold1_bin)
    parts = []
    for number, start in enumerate(range(0, len(reader), 500)):
        part = tmp_path / "parts" / f"part-{number:05d}"
        with VERIFICATION.open_part_writer(reader, part) as writer:
            for key in range(start, min(start + 500, len(reader))):
                writer.write(reader.read(key))
        parts.append(part)
    out = VERIFICATION.join_parts(reader, parts, tmp_path / "out")
    assert out == tmp_path / "out" / "lfw-fold1.bin"
    assert _plain_load(out) == _plain_load(lfw_fold1_bin)

    with pytest.raises(OutputError, match="key 500 where key 0"):
        VERIFICATION.join_parts(reader, parts[1:], tmp_path / "out2")
    with pytest.raises(OutputError, match="1000 of 1200"):
        VERIFICATION.join_parts(reader, parts[:2], tmp_path / "out2")


@pytest.mark.shared
def test_part_is_absent_until_complete(lfw_fold1_bin: Path, tmp_path: Path) -> None:
    reader = VerificationReader(lfw_fold1_bin)
    part = tmp_path / "part-00000"
    with pytest.raises(RuntimeError), VERIFICATION.open_part_writer(reader, part) as writer:
        writer.write(reader.read(0))
        raise RuntimeError("interrupted")
    assert not part.exists()
    with pytest.raises(OutputError, match="part missing"):
        VERIFICATION.join_parts(reader, [part], tmp_path / "out")
