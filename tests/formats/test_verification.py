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


def test_an_empty_or_cut_short_bin_says_so(tmp_path: Path) -> None:
    """An empty .bin (a failed download) said only pickle's "Ran out of input"; one cut short
    says it is truncated."""
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(DatasetFormatError, match=r"empty\.bin: .*: an empty file$"):
        read_verification_bin(empty)
    whole = pickle.dumps(([b"\xff\xd8jpeg"] * 4, [True, False]), protocol=4)
    short = tmp_path / "short.bin"
    short.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetFormatError, match=r"short\.bin: .*(truncated|ends early)"):
        read_verification_bin(short)


def test_a_text_file_named_bin_is_not_a_pickle_at_all(tmp_path: Path) -> None:
    """A text file given as a .bin said pickle's "invalid literal for int() with base 10:
    'arbage\\n'"; a damaged pickle keeps pickle's own words."""
    text = tmp_path / "notes.bin"
    text.write_text("garbage\n")
    with pytest.raises(DatasetFormatError, match=r"notes\.bin: .*: not a pickle at all$"):
        read_verification_bin(text)
    whole = pickle.dumps(([b"\xff\xd8jpeg"] * 4, [True, False]), protocol=4)
    damaged = tmp_path / "damaged.bin"
    damaged.write_bytes(whole[:2] + b"\xfe" + whole[3:])  # a bad opcode after the PROTO
    with pytest.raises(DatasetFormatError) as info:
        read_verification_bin(damaged)
    assert "not a pickle at all" not in str(info.value)


def test_writing_decoded_images_or_odd_flags_is_refused(tmp_path: Path) -> None:
    """Decoded (112, 112, 3) arrays were written as their raw pixels (a .bin no reader can
    decode), a str failed with "string argument without an encoding", a flag of 1.5 became
    True; each is now one DatasetFormatError, and no file is written."""
    path = tmp_path / "mine.bin"
    face = np.zeros((112, 112, 3), np.uint8)
    cases = [
        (([face, face], [True]), r"image 0 is a decoded \(112, 112, 3\) array.*imencode"),
        ((["a.jpg", "b.jpg"], [True]), "image 0 is str, expected bytes"),
        (([b"\xff\xd8a", b"\xff\xd8b"], [1.5]), r"issame\[0\] is 1.5, expected a boolean"),
    ]
    for (images, issame), message in cases:
        with pytest.raises(DatasetFormatError, match=message):
            write_verification_bin(path, images, issame)
        assert not path.exists()
    encoded = [b"\xff\xd8a", bytearray(b"\xff\xd8b"), np.frombuffer(b"\xff\xd8c", np.uint8)]
    write_verification_bin(path, [*encoded, memoryview(b"\xff\xd8d")], [np.True_, 0])
    assert read_verification_bin(path) == (
        [b"\xff\xd8a", b"\xff\xd8b", b"\xff\xd8c", b"\xff\xd8d"],
        [True, False],
    )


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


@pytest.mark.shared
def test_a_twin_keeps_images_stored_as_numpy_arrays(lfw_fold1_bin: Path, tmp_path: Path) -> None:
    """Some published .bin files hold each image as a 1-D uint8 array; their twin used to
    come back as bytes, another layout than its source's."""
    from maskgen.masks import MaskSpec
    from maskgen.pipeline import augment_dataset

    images, issame = read_verification_bin(lfw_fold1_bin)
    source = tmp_path / "arrays.bin"
    arrays = [np.frombuffer(image, dtype=np.uint8) for image in images[:20]]
    source.write_bytes(pickle.dumps((arrays, issame[:10]), protocol=2))
    augment_dataset(source, tmp_path / "twin", spec=MaskSpec(), workers=1)
    twin_images, twin_issame = _plain_load(tmp_path / "twin" / "arrays.bin")
    assert list(twin_issame) == list(issame[:10])
    assert all(isinstance(image, np.ndarray) and image.dtype == np.uint8 for image in twin_images)
    assert all(image.ndim == 1 and bytes(image[:2]) == b"\xff\xd8" for image in twin_images)
    changed = sum(bytes(a) != bytes(b) for a, b in zip(arrays, twin_images, strict=True))
    assert changed >= 18  # masked (a face or two may be left bare with a reason)
    # a .bin of bytes keeps bytes
    plain = write_verification_bin(tmp_path / "plain.bin", images[:4], issame[:2])
    augment_dataset(plain, tmp_path / "plain_twin", spec=MaskSpec(), workers=1)
    assert all(isinstance(i, bytes) for i in _plain_load(tmp_path / "plain_twin" / "plain.bin")[0])
