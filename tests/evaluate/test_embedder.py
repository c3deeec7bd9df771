"""Batched embeddings from a checkpoint or its ONNX export, and the evaluation built on them."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.decoder_messages import QUIET_ENV
from maskgen.errors import CheckpointError, ConfigError, DatasetFormatError
from maskgen.evaluate import Embedder, EvalSet, evaluate_model
from maskgen.formats.verification import read_verification_bin
from maskgen.nn.preprocess import decode_face

pytestmark = pytest.mark.torch

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def fold1_faces(lfw_fold1_bin: Path) -> np.ndarray:
    """The first 64 faces of lfw-fold1.bin, (64, 112, 112, 3) uint8 RGB."""
    images, _ = read_verification_bin(lfw_fold1_bin)
    return np.stack([decode_face(data, "lfw-fold1.bin", i) for i, data in enumerate(images[:64])])


@pytest.mark.shared
def test_checkpoint_and_onnx_evaluate_alike(
    tiny_checkpoint: Path, tiny_onnx: Path, lfw_fold1_bin: Path
) -> None:
    images, _ = read_verification_bin(lfw_fold1_bin)
    sets = [EvalSet(str(lfw_fold1_bin), "bin")]
    outcomes = []
    for path in (tiny_checkpoint, tiny_onnx):
        embedder = Embedder.from_path(path, device="cpu", batch_size=100)
        outcomes.append((evaluate_model(embedder, sets), embedder.embed_encoded(images)))
    (report_pt, emb_pt), (report_onnx, emb_onnx) = outcomes
    assert np.max(np.abs(emb_pt.embeddings - emb_onnx.embeddings)) < 1e-4
    assert np.max(np.abs(emb_pt.mask_prob - emb_onnx.mask_prob)) < 1e-4
    for ours, theirs in zip(report_pt.results, report_onnx.results, strict=True):
        assert ours.images == theirs.images == 1200
        assert ours.accuracy == theirs.accuracy and ours.accuracy_std == theirs.accuracy_std
        assert ours.mask_accuracy == theirs.mask_accuracy
    assert report_pt.model["format"] == "checkpoint" and report_onnx.model["format"] == "onnx"
    assert report_onnx.model["threshold"] == report_pt.model["threshold"] == 1.25


@pytest.mark.shared
def test_flip_sum_and_batching(tiny_checkpoint: Path, fold1_faces: np.ndarray) -> None:
    # on CPU: a GPU's TF32 convolutions differ by 1e-5 from one batch size to another
    embedder = Embedder.from_path(tiny_checkpoint, device="cpu", batch_size=64)
    result = embedder.embed_images(list(fold1_faces))
    # by hand: raw embeddings of the faces and of their mirror images, summed, normalised
    raw, prob, _ = embedder.backend.run(fold1_faces)
    raw_flipped, prob_flipped, _ = embedder.backend.run(
        np.ascontiguousarray(fold1_faces[:, :, ::-1])
    )
    by_hand = raw + raw_flipped
    by_hand /= np.linalg.norm(by_hand, axis=1, keepdims=True)
    assert np.allclose(result.embeddings, by_hand, atol=1e-5)
    # the mask probability is the mean of the face's and its mirror image's
    assert np.allclose(result.mask_prob, (prob + prob_flipped) / 2, atol=1e-6)
    assert not np.allclose(result.mask_prob, prob, atol=1e-6)  # the mirror image counts
    unflipped = embedder.embed_images(list(fold1_faces), flip=False)
    assert np.allclose(unflipped.mask_prob, prob, atol=1e-6)
    # mirrored faces give the same flip-summed embedding and mask probability; the batch size
    # changes nothing
    mirrored = embedder.embed_images(list(fold1_faces[:, :, ::-1]))
    assert np.allclose(mirrored.embeddings, result.embeddings, atol=1e-5)
    assert np.allclose(mirrored.mask_prob, result.mask_prob, atol=1e-6)
    small_batches = Embedder(embedder.backend, embedder.info, batch_size=7)
    assert np.allclose(small_batches.embed_images(list(fold1_faces)).embeddings,
                       result.embeddings, atol=1e-5)  # fmt: skip
    assert np.allclose(np.linalg.norm(result.embeddings, axis=1), 1.0, atol=1e-6)


@pytest.mark.shared
def test_faces_must_be_aligned_112(tiny_checkpoint: Path, lfw_dir: Path) -> None:
    photo = next((lfw_dir / "Aaron_Eckhart").glob("*.jpg"))  # 250x250, not aligned
    with pytest.raises(DatasetFormatError, match=r"image 0 is 250x250.*112x112"):
        decode_face(photo.read_bytes(), "photos", 0)
    with pytest.raises(DatasetFormatError, match="not a decodable image"):
        decode_face(b"not a jpeg", "photos", 3)
    embedder = Embedder.from_path(tiny_checkpoint)
    with pytest.raises(DatasetFormatError, match="112x112"):
        embedder.embed_images([np.zeros((100, 100, 3), np.uint8)])


def test_faces_that_are_not_uint8_rgb_are_refused(tiny_checkpoint: Path, fold1_faces) -> None:
    """A float face (say one scaled to [0, 1], as a tensor is) was embedded as it was, into
    other embeddings without a word; a grey face's error said '112x112, expected 112x112'."""
    embedder = Embedder.from_path(tiny_checkpoint)
    face = fold1_faces[0]
    for bad in (face.astype(np.float32) / 255, face.astype(np.float64)):
        with pytest.raises(DatasetFormatError, match=r"image 1 is float.*expected uint8"):
            embedder.embed_images([face, bad])
    with pytest.raises(DatasetFormatError, match=r"image 0 has shape \(112, 112\), expected"):
        embedder.embed_images([face[..., 0]])
    assert embedder.embed_images([face]).embeddings.shape == (1, 512)
    # embed_batch, public too, cast floats to uint8: faces in [0, 1] all became black
    for bad in (face[None].astype(np.float32) / 255, face[None].astype(np.float32) / 127.5 - 1):
        with pytest.raises(DatasetFormatError, match=r"faces: float32 given, expected uint8"):
            embedder.embed_batch(bad)
    with pytest.raises(DatasetFormatError, match=r"faces: int64 given, expected uint8"):
        embedder.embed_batch(face[None].astype(np.int64) * 2)  # values past 255
    np.testing.assert_array_equal(  # int64 pixel values, as np.array of a list gives, are taken
        embedder.embed_batch(face[None].astype(np.int64)).embeddings,
        embedder.embed_batch(face[None]).embeddings,
    )


def test_one_face_or_one_photo_given_alone(tiny_checkpoint: Path, fold1_faces, lfw_dir) -> None:
    """``embed_faces("a.jpg")`` read the path letter by letter ("/: no such file"); one
    (112, 112, 3) face given to ``embed_images`` was refused as "image 0 has shape (112, 3)"."""
    embedder = Embedder.from_path(tiny_checkpoint)
    photo = lfw_dir / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"
    for given in (photo, str(photo)):
        one = embedder.embed_faces(given)
        assert list(one.paths) == [str(given)] and one.embeddings.shape == (1, 512)
        assert np.array_equal(one.embeddings, embedder.embed_faces([given]).embeddings)
    with pytest.raises(DatasetFormatError, match=r"one array of shape \(112, 112, 3\).*\[face\]"):
        embedder.embed_images(fold1_faces[0])


def test_bin_of_unaligned_photos_is_refused(tiny_checkpoint: Path, tmp_path: Path) -> None:
    ok, big = cv2.imencode(".jpg", np.zeros((250, 250, 3), np.uint8))
    assert ok
    path = tmp_path / "big.bin"
    path.write_bytes(pickle.dumps(([big.tobytes()] * 40, [True, False] * 10)))
    embedder = Embedder.from_path(tiny_checkpoint)
    with pytest.raises(DatasetFormatError, match=r"big.bin: image 0 is 250x250"):
        evaluate_model(embedder, [EvalSet(str(path), "bin")])


def test_bad_model_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such model file"):
        Embedder.from_path(tmp_path / "missing.pt")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="not a loadable ONNX model"):
        Embedder.from_path(junk)
    with pytest.raises(ConfigError, match="device"):
        Embedder.from_path(junk, device="tpu")


def test_onnx_of_another_model_is_refused(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "other",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    path = tmp_path / "other.onnx"
    onnx.save(model, str(path))
    with pytest.raises(CheckpointError, match=r"not a face recognition model: input 'x' is"):
        Embedder.from_path(path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_gpu_is_a_config_error(tiny_checkpoint: Path) -> None:
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        Embedder.from_path(tiny_checkpoint, device="cuda")


@pytest.mark.gpu
@pytest.mark.shared
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(tiny_checkpoint: Path, lfw_fold1_bin: Path) -> None:
    images, _ = read_verification_bin(lfw_fold1_bin)
    sets = [EvalSet(str(lfw_fold1_bin), "bin")]
    results = {}
    for device in ("cpu", "cuda"):
        embedder = Embedder.from_path(tiny_checkpoint, device=device, batch_size=256)
        assert embedder.device == device
        results[device] = (evaluate_model(embedder, sets), embedder.embed_encoded(images))
    (report_cpu, cpu), (report_gpu, gpu) = results["cpu"], results["cuda"]
    # cuDNN's TF32 convolutions (PyTorch's default) keep unit embeddings within ~1e-4
    assert np.max(np.abs(cpu.embeddings - gpu.embeddings)) < 1e-3
    assert np.max(np.abs(cpu.mask_prob - gpu.mask_prob)) < 1e-3
    assert abs(report_cpu.results[0].accuracy - report_gpu.results[0].accuracy) <= 2 / 600


@pytest.mark.shared
def test_faces_of_a_rec_are_named_by_their_record_keys(
    tiny_checkpoint: Path,
    lfw_fold1_bin: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A .rec's faces were named by position ("image 2") where its own messages say "record
    3" (insightface's keys start at 1): a user looking up the damaged face found its neighbour."""
    images, _ = read_verification_bin(lfw_fold1_bin)
    faces = [bytes(data) for data in images[:4]]
    rgb = cv2.cvtColor(decode_face(faces[2], "bin", 2), cv2.COLOR_RGB2BGR)
    jpeg = cv2.imencode(".jpg", rgb)[1].tobytes()
    middle = len(jpeg) // 2
    faces[2] = jpeg[:middle] + b"\xff\xd0" + jpeg[middle + 2 :]  # a stray restart marker
    embedder = Embedder.from_path(tiny_checkpoint, device="cpu", batch_size=2)
    monkeypatch.setenv(QUIET_ENV, "1")  # the decoder's words are taken, as the CLI has them
    with caplog.at_level("WARNING"):
        embedder.embed_encoded(faces, source="t.rec", keys=[1, 2, 3, 4])
        embedder.embed_encoded(faces, source="t.bin")
    named = [r.getMessage().split(": the decoder said")[0] for r in caplog.records]
    assert named == ["t.rec: record 3", "t.bin: image 2"], named
    with pytest.raises(DatasetFormatError, match=r"t\.rec: record 4 is not a decodable image"):
        embedder.embed_encoded([*faces[:3], b"junk"], source="t.rec", keys=[1, 2, 3, 4])
