"""Photos: detect, align, embed; skipped photos; comparing two photos."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.decoder_messages import QUIET_ENV
from maskgen.errors import DatasetFormatError
from maskgen.evaluate import Embedder
from maskgen.evaluate.photos import align_photo, compare_photos, describe_skip, read_photo
from maskgen.faces import load_face_finder

pytestmark = [pytest.mark.torch, pytest.mark.shared]

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def photos(lfw_dir: Path) -> list[Path]:
    bush = sorted((lfw_dir / "George_W_Bush").glob("*.jpg"))[:2]
    return [*bush, sorted((lfw_dir / "Aaron_Eckhart").glob("*.jpg"))[0]]


@pytest.fixture(scope="module")
def blank_and_text(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("not-faces")
    blank = folder / "blank.png"
    assert cv2.imwrite(str(blank), np.full((200, 300, 3), 128, np.uint8))
    text = folder / "notes.jpg"
    text.write_text("not an image")
    return blank, text


@pytest.fixture(scope="module")
def float_tiff(photos: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real face stored as a float32 TIFF (HDR work): OpenCV decodes it, maskgen cannot."""
    path = tmp_path_factory.mktemp("float") / "face.tif"
    assert cv2.imwrite(str(path), cv2.imread(str(photos[0])).astype(np.float32) / 255)
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).dtype == np.float32
    return path


def test_embed_faces_skips_photos_without_a_face(
    tmp_path: Path,
    tiny_checkpoint: Path,
    photos: list[Path],
    blank_and_text: tuple[Path, Path],
    float_tiff: Path,
) -> None:
    blank, text = blank_and_text
    cut = tmp_path / "cut.jpg"  # a JPEG missing its last half: left out, as align leaves it
    cut.write_bytes(photos[0].read_bytes()[: photos[0].stat().st_size // 2])
    embedder = Embedder.from_path(tiny_checkpoint)
    done: list[int] = []
    result = embedder.embed_faces(
        [photos[0], blank, photos[1], text, photos[2], float_tiff, cut], progress=done.append
    )
    assert done == [1] * 7  # a bar's update after every photo, skipped ones too
    assert result.paths == tuple(str(p) for p in photos)
    # a float TIFF decodes, to pixels maskgen does not read: named as `maskgen mask` names it
    reasons = {
        str(blank): "no_face",
        str(text): "unreadable",
        str(float_tiff): "unsupported_format",
        str(cut): "cut_short",  # was "not a readable image"
    }
    assert result.skipped == reasons
    assert describe_skip("unsupported_format").startswith("pixels maskgen cannot read")
    assert describe_skip("cut_short") == "a JPEG cut short (its end is missing)"
    assert result.embeddings.shape == (3, 512) and result.mask_prob.shape == (3,)
    # the same as aligning by hand and embedding the aligned faces
    finder = load_face_finder()
    aligned = [align_photo(read_photo(p), finder) for p in photos]
    assert all(face.shape == (112, 112, 3) for face in aligned)
    by_hand = embedder.embed_images(aligned)
    assert np.allclose(result.embeddings, by_hand.embeddings, atol=1e-6)


def test_npz_round_trip(tiny_checkpoint: Path, photos: list[Path], tmp_path: Path) -> None:
    result = Embedder.from_path(tiny_checkpoint).embed_faces(photos)
    path = result.write_npz(tmp_path / "sub" / "emb.npz")
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == ["embeddings", "mask_prob", "paths"]
        assert data["paths"].tolist() == [str(p) for p in photos]
        assert np.array_equal(data["embeddings"], result.embeddings)
        assert np.allclose(np.linalg.norm(data["embeddings"], axis=1), 1.0, atol=1e-6)


def test_compare_photos(
    tiny_checkpoint: Path, photos: list[Path], blank_and_text: tuple[Path, Path]
) -> None:
    embedder = Embedder.from_path(tiny_checkpoint)
    result = embedder.embed_faces(photos[:2])
    comparison = compare_photos(embedder, photos[0], photos[1])
    assert comparison.similarity == pytest.approx(
        float(result.embeddings[0] @ result.embeddings[1])
    )
    assert comparison.threshold == 1.25 and comparison.cosine_threshold == pytest.approx(0.375)
    assert comparison.same == (comparison.similarity > 0.375)
    assert comparison.mask_prob == pytest.approx(tuple(result.mask_prob))
    # a threshold below every distance says "different", one above every distance "same"
    assert compare_photos(embedder, photos[0], photos[1], threshold=0.0).same is False
    assert compare_photos(embedder, photos[0], photos[1], threshold=4.0).same is True
    assert "cosine similarity" in comparison.format()
    with pytest.raises(DatasetFormatError, match=r"blank\.png: no face found"):
        compare_photos(embedder, photos[0], blank_and_text[0])


def test_a_damaged_photo_that_decodes_is_named_with_the_decoders_words(
    photos: list[Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """embed and verify read such a photo without a word (a debug line), where align and mask
    name it: it is still read as it decoded, and a warning names it (as the CLI runs it, the
    decoder's own lines kept off stderr)."""
    monkeypatch.setenv(QUIET_ENV, "1")
    data = photos[0].read_bytes()
    middle = len(data) // 2
    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(data[:middle] + b"\xff\xd0" + data[middle + 2 :])  # a stray restart
    with caplog.at_level(logging.WARNING):
        rgb = read_photo(damaged)
    assert rgb is not None and rgb.shape == cv2.imread(str(photos[0])).shape
    words = "the decoder said: Corrupt JPEG data: premature end of data segment"
    assert f"{damaged}: {words} (read as it decoded)" in caplog.text, caplog.text
