"""The one way maskgen turns aligned faces into embeddings: training's validation, ``maskgen
eval``, ``embed`` and ``verify`` all go through :class:`Embedder`, so they agree.

``Embedder.from_path(path)`` picks the backend from the file: ``*.onnx`` runs on onnxruntime (no
torch needed): maskgen's export, or another recognition model such as insightface's
(``w600k_r50.onnx``, ``glintr100.onnx``, arcface_torch exports), fed as insightface feeds it
(:func:`pixel_normalisation`); anything else is loaded as a maskgen checkpoint or an arcface_torch
``backbone.pth``; ``Embedder.from_network(network)`` wraps a network being trained. Both backends
take the same input (aligned 112x112 RGB faces, :mod:`maskgen.nn.preprocess`) and give
``embedding`` (not normalised) and ``mask_prob``; the Embedder adds insightface's flip trick
(embedding of the face plus that of its mirror image, L2-normalised; the mask and wear
probabilities are the mean of the two) and feeds the network in batches while a thread pool
decodes the next JPEGs.

torch and onnxruntime are imported only when a backend is built.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from maskgen import __version__
from maskgen.decoder_messages import warn_decoder_said
from maskgen.errors import CheckpointError, ConfigError, DatasetFormatError, no_such_file
from maskgen.nn.preprocess import (
    FACE_SHAPE,
    PIXEL_CENTRE,
    PIXEL_SCALE,
    check_face_shape,
    decode_face_and_said,
    preprocess_faces,
)
from maskgen.nn.verification import normalise_rows

__all__ = [
    "Backend",
    "Device",
    "Embedder",
    "Embeddings",
    "ModelInfo",
    "OnnxSignature",
    "graph_normalises_input",
    "pixel_normalisation",
]

logger = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")

DEFAULT_BATCH_SIZE = 64
MAX_DECODE_WORKERS = 4
PREFETCH_BATCHES = 2
"""Batches decoded ahead of the one being embedded."""

ONNX_INPUT = "input"
ONNX_EMBEDDING = "embedding"
ONNX_MASK_PROB = "mask_prob"
ONNX_WEAR_PROB = "wear_prob"


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself. ``threshold``: the squared-L2 verification
    threshold stored with the model (None if it never saw a validation set)."""

    path: str
    format: str
    network: str
    embedding_size: int
    mask_head: bool
    threshold: float | None = None
    step: int | None = None
    mask_classes: int = 2
    """Logits of the mask head: 2, or 5 for a wear-class model (``wear_prob`` given)."""
    input: str = f"RGB, (x - {PIXEL_CENTRE:g}) / {PIXEL_SCALE:g}"
    """How faces are fed to the network (another ONNX model may normalise in its graph)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "network": self.network,
            "embedding_size": self.embedding_size,
            "mask_head": self.mask_head,
            "mask_classes": self.mask_classes if self.mask_head else None,
            "threshold": self.threshold,
            "step": self.step,
            "input": self.input,
        }


@dataclass(frozen=True)
class Embeddings:
    """``embeddings``: (N, E) float32, L2-normalised rows; ``mask_prob``: (N,) float32
    probability that a mask is worn, None for a model without a mask head; ``wear_prob``:
    (N, 5) float32 probabilities of ``maskgen.masks.wear.WEAR_CLASSES`` for a wear-class model,
    else None."""

    embeddings: np.ndarray
    mask_prob: np.ndarray | None
    wear_prob: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])


class Backend(Protocol):
    """Runs the network on one batch of aligned faces (preprocessing included)."""

    device: str

    def run(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(N, 112, 112, 3) uint8 RGB faces -> embedding (N, E) float32 (not normalised),
        mask_prob (N,) float32 or None, wear_prob (N, 5) float32 or None."""
        ...


def _bytes_in_integers(faces: np.ndarray) -> bool:
    """Whether ``faces`` holds integers all in 0-255 (``np.array`` of a list gives int64)."""
    if not np.issubdtype(faces.dtype, np.integer):
        return False
    return faces.size == 0 or (int(faces.min()) >= 0 and int(faces.max()) <= 255)


def _flip_mean(values: np.ndarray, n: int) -> np.ndarray:
    """The mean of the first ``n`` rows (the faces) and the next ``n`` (their mirror images):
    mask and wear probabilities averaged over the flip, as test-time augmentation averages a
    classifier's softmax. A face and its mirror image then get the same probability."""
    return ((values[:n].astype(np.float32) + values[n:]) * np.float32(0.5)).astype(np.float32)


def _decode_batch(
    payloads: Sequence[bytes],
    source: str,
    indices: Sequence[int],
    unit: str = "image",
    name_damaged: bool = True,
) -> np.ndarray:
    """(N, 112, 112, 3) uint8 faces, named in errors as ``unit`` and their ``indices``
    (:func:`~maskgen.nn.preprocess.decode_face`); a damaged face that still decoded is named in
    a warning with the decoder's words (where ``name_damaged``), as ``maskgen align`` names a
    photo."""
    faces = []
    for payload, index in zip(payloads, indices, strict=True):
        face, said = decode_face_and_said(payload, source, index, unit)
        if said and name_damaged:
            warn_decoder_said(logger, f"{source}: {unit} {index}", said)
        faces.append(face)
    return np.stack(faces)


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _prefetched(
    payloads: Iterable[bytes],
    batch_size: int,
    source: str,
    pool: ThreadPoolExecutor,
    depth: int,
    name_damaged: bool = True,
    keys: Sequence[int] | None = None,
) -> Iterator[np.ndarray]:
    """Decoded batches in order, with up to ``depth`` batches decoding ahead in ``pool``; faces
    are named by their ``keys`` ("record K") where given, else by position ("image N")."""
    pending: deque[Future[np.ndarray]] = deque()
    start = 0
    unit = "image" if keys is None else "record"
    for chunk in _chunks(payloads, batch_size):
        end = start + len(chunk)
        indices = range(start, end) if keys is None else keys[start:end]
        pending.append(pool.submit(_decode_batch, chunk, source, indices, unit, name_damaged))
        start = end
        if len(pending) > depth:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class Embedder:
    """Embeds aligned faces with one model, in batches; see the module docstring.

    ``batch_size`` counts faces; with ``flip`` each batch goes through the network as 2 x
    ``batch_size`` images (faces and mirror images together). ``workers``: decoding threads.
    """

    def __init__(
        self,
        backend: Backend,
        info: ModelInfo,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        workers: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch size: must be at least 1, got {batch_size}")
        self.backend = backend
        self.info = info
        self.batch_size = batch_size
        self.workers = workers or max(1, min(MAX_DECODE_WORKERS, os.cpu_count() or 1))

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        *,
        device: Device | str = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
        workers: int | None = None,
    ) -> Embedder:
        """An Embedder for a checkpoint (``last.pt``, ``backbone.pth``) or an ``.onnx`` model
        (by its suffix; onnxruntime runs it). ``device``: "auto", "cpu" or "cuda".

        An ``.onnx`` other than maskgen's export (input ``input``, output ``embedding``) is
        taken for a recognition model such as insightface's: one float32 input (N, 3, 112, 112)
        of any name, the first 2-D output (N, E) as the embedding, RGB faces normalised by
        insightface's rule (:func:`pixel_normalisation`); it has no mask head and no threshold.

        Raises CheckpointError for a missing, unreadable or foreign checkpoint, or an ``.onnx``
        with another input or no 2-D output; ConfigError for another ``device``, or "cuda"
        where there is none. All are ValueErrors."""
        path = Path(path)
        if device not in DEVICES:
            raise ConfigError(f"device: {device!r} is not one of {', '.join(DEVICES)}")
        if not path.is_file():
            raise no_such_file(path, "model file", CheckpointError)
        if path.suffix.lower() == ".onnx":
            backend, info = _load_onnx(path, device)
        else:
            backend, info = _load_checkpoint(path, device)
        logger.info("model %s (%s) on %s", path, info.network, backend.device)
        return cls(backend, info, batch_size=batch_size, workers=workers)

    @classmethod
    def from_network(
        cls,
        network: Any,
        *,
        name: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        workers: int | None = None,
    ) -> Embedder:
        """An Embedder for a network in memory (a ``FaceNet``, e.g. one being trained), run on
        the device its weights are on, in eval mode for each batch and then put back in the
        mode it was in. ``name``: the registry name (``r50``, ``tiny``) for ``info``."""
        device = next(network.parameters()).device
        mask_head = network.mask_fc is not None
        info = ModelInfo(
            path="(in memory)",
            format="network",
            network=name,
            embedding_size=int(network.embedding_size),
            mask_head=mask_head,
            mask_classes=int(getattr(network, "mask_classes", 2)),
        )
        backend = TorchBackend(network, mask_head, str(device))
        return cls(backend, info, batch_size=batch_size, workers=workers)

    @property
    def device(self) -> str:
        return self.backend.device

    def embed_batch(self, faces: np.ndarray, *, flip: bool = True) -> Embeddings:
        """Embed one batch of (N, 112, 112, 3) uint8 RGB faces (any N; integers of another
        type are taken where all lie in 0-255); DatasetFormatError for another shape, floats or
        integers out of range (floats were cast to uint8 without a word: faces scaled to
        [0, 1] all became black)."""
        faces = np.asarray(faces)
        if faces.ndim != 4 or faces.shape[1:] != FACE_SHAPE:
            raise DatasetFormatError(
                f"faces: expected (N, 112, 112, 3) aligned RGB, got shape {faces.shape}"
            )
        if faces.dtype != np.uint8 and not _bytes_in_integers(faces):
            raise DatasetFormatError(
                f"faces: {faces.dtype} given, expected uint8 RGB pixel values 0-255"
            )
        n = faces.shape[0]
        if flip:
            faces = np.concatenate([faces, faces[:, :, ::-1]])
        embedding, mask_prob, wear_prob = self.backend.run(
            np.ascontiguousarray(faces, dtype=np.uint8)
        )
        if flip:
            embedding = embedding[:n] + embedding[n:]
            mask_prob = None if mask_prob is None else _flip_mean(mask_prob, n)
            wear_prob = None if wear_prob is None else _flip_mean(wear_prob, n)
        return Embeddings(normalise_rows(embedding), mask_prob, wear_prob)

    def iter_encoded(
        self,
        payloads: Iterable[bytes],
        *,
        source: str = "images",
        flip: bool = True,
        progress: Callable[[int], None] | None = None,
        name_damaged: bool = True,
        keys: Sequence[int] | None = None,
    ) -> Iterator[Embeddings]:
        """Embeddings batch by batch for encoded aligned faces (JPEG/PNG bytes), decoded in a
        thread pool ahead of the network. ``payloads`` is consumed lazily, in order;
        ``progress`` is called with the size of each finished batch; ``name_damaged``: a
        warning names each face the decoder calls damaged (off for a set embedded again and
        again, as training's validation does); ``keys``: the payloads' record keys (a
        .rec's), which errors and warnings name a face by ("record K"), else its position
        from 0 ("image N")."""
        with ThreadPoolExecutor(self.workers, thread_name_prefix="maskgen-decode") as pool:
            batches = _prefetched(
                payloads, self.batch_size, source, pool, PREFETCH_BATCHES, name_damaged, keys
            )
            for faces in batches:
                result = self.embed_batch(faces, flip=flip)
                if progress is not None:
                    progress(len(result))
                yield result

    def embed_encoded(
        self,
        payloads: Iterable[bytes],
        *,
        source: str = "images",
        flip: bool = True,
        progress: Callable[[int], None] | None = None,
        name_damaged: bool = True,
        keys: Sequence[int] | None = None,
    ) -> Embeddings:
        """All embeddings of :meth:`iter_encoded`, joined."""
        parts = list(
            self.iter_encoded(
                payloads,
                source=source,
                flip=flip,
                progress=progress,
                name_damaged=name_damaged,
                keys=keys,
            )
        )
        return self._joined(parts)

    def embed_images(self, images: Sequence[np.ndarray], *, flip: bool = True) -> Embeddings:
        """Embed aligned faces, each (112, 112, 3) uint8 RGB (DatasetFormatError otherwise):
        a sequence of them or an (N, 112, 112, 3) array; one face alone is ``[face]``."""
        if isinstance(images, np.ndarray) and images.ndim == 3:  # was "image 0 is (112, 3)"
            raise DatasetFormatError(
                f"images: one array of shape {images.shape} given; pass a list of faces, or "
                "an (N, 112, 112, 3) array ([face] for one)"
            )
        for index, image in enumerate(images):
            check_face_shape(np.asarray(image), "images", index)
        parts = [
            self.embed_batch(np.stack(chunk), flip=flip)
            for chunk in _chunks(images, self.batch_size)
        ]
        return self._joined(parts)

    def _joined(self, parts: list[Embeddings]) -> Embeddings:
        if not parts:
            empty = np.zeros((0, self.info.embedding_size), dtype=np.float32)
            return Embeddings(empty, np.zeros(0, np.float32) if self.info.mask_head else None)
        embeddings = np.concatenate([p.embeddings for p in parts])
        probs = [p.mask_prob for p in parts]
        mask_prob = None if any(p is None for p in probs) else np.concatenate(probs)
        wears = [p.wear_prob for p in parts]
        wear_prob = None if any(w is None for w in wears) else np.concatenate(wears)
        return Embeddings(embeddings, mask_prob, wear_prob)


# --- PyTorch backend ------------------------------------------------------------------------


class TorchBackend:
    """A face network (``maskgen.nn.models``) on CPU or CUDA, in float32, in eval mode while it
    runs (the mode it was in is restored after each batch, so a network being trained can be
    validated in place)."""

    def __init__(self, model: Any, mask_head: bool, device: str) -> None:
        import torch

        from maskgen.nn.inference_model import InferenceModel
        from maskgen.nn.preprocess import preprocess

        self._torch = torch
        self._preprocess = preprocess  # the trainer's own: training and evaluation agree
        self.device = device
        self.model = InferenceModel(model, mask_head).to(device)

    def run(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        torch = self._torch
        was_training = self.model.network.training
        self.model.eval()
        try:
            with torch.inference_mode():
                x = self._preprocess(faces, device=self.device)
                outputs = self.model(x)
        finally:
            self.model.train(was_training)
        embedding = outputs[0].float().cpu().numpy()
        mask_prob = outputs[1].float().cpu().numpy() if len(outputs) > 1 else None
        wear_prob = outputs[2].float().cpu().numpy() if len(outputs) > 2 else None
        return embedding, mask_prob, wear_prob


def _torch_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda asked for, but PyTorch sees no CUDA GPU")
    return device


def _load_checkpoint(path: Path, device: str) -> tuple[TorchBackend, ModelInfo]:
    try:
        from maskgen.nn.models import load_model
    except ImportError as exc:
        raise ConfigError(
            f"{path}: reading a checkpoint needs PyTorch (pip install 'maskgen[train]'); "
            "an exported .onnx model needs only onnxruntime"
        ) from exc
    resolved = _torch_device(device)
    network, meta = load_model(path, map_location="cpu")
    info = ModelInfo(
        path=str(path),
        format="checkpoint",
        network=str(meta["network"]),
        embedding_size=int(meta["embedding_size"]),
        mask_head=bool(meta["mask_head"]),
        threshold=None if meta.get("threshold") is None else float(meta["threshold"]),
        step=None if meta.get("step") is None else int(meta["step"]),
        mask_classes=int(meta.get("mask_classes", 2)),
    )
    return TorchBackend(network, info.mask_head, resolved), info


# --- ONNX backend ---------------------------------------------------------------------------

INSIGHTFACE_HEAD_NODES = 8
INSIGHTFACE_SUB_PREFIXES = ("Sub", "_minus")
INSIGHTFACE_MUL_PREFIXES = ("Mul", "_mul")
"""insightface's test for a graph that normalises its own input; see
:func:`graph_normalises_input`."""

_FOREIGN_NEEDS = "one float32 image input (N, 3, 112, 112) and a 2-D embedding output (N, E)"


@dataclass(frozen=True)
class OnnxSignature:
    """How an ONNX model is fed and read: its image input, the outputs asked for (embedding
    first, then ``mask_prob`` and ``wear_prob`` of a maskgen export), the pixel normalisation
    ``(pixel - mean) / std``, and the input's fixed batch size (None where it is dynamic)."""

    input_name: str
    outputs: tuple[str, ...]
    mean: float = PIXEL_CENTRE
    std: float = PIXEL_SCALE
    batch: int | None = None
    foreign: bool = False

    def describe_input(self) -> str:
        """The input as ``ModelInfo.input`` records it."""
        if self.mean == 0.0 and self.std == 1.0:
            return "RGB 0-255, not normalised (the graph normalises itself)"
        return f"RGB, (x - {self.mean:g}) / {self.std:g}"


class OnnxBackend:
    """An ONNX model on onnxruntime (CUDA where the installed onnxruntime has it): a maskgen
    export, or another face recognition model fed as :class:`OnnxSignature` says."""

    def __init__(self, session: Any, device: str, signature: OnnxSignature | None = None) -> None:
        self.session = session
        self.device = device
        self.signature = signature or _maskgen_signature(session)

    @property
    def mask_head(self) -> bool:
        return ONNX_MASK_PROB in self.signature.outputs

    @property
    def mask_classes(self) -> int:
        return 5 if ONNX_WEAR_PROB in self.signature.outputs else 2

    def run(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        sig = self.signature
        x = preprocess_faces(faces, mean=sig.mean, std=sig.std)
        step = sig.batch or max(1, len(x))
        # one run at least: a batch of no faces gives (0, E) outputs, as before slicing
        parts = [self._run_fixed(x[i : i + step]) for i in range(0, max(1, len(x)), step)]
        results = [np.concatenate([p[k] for p in parts]) for k in range(len(sig.outputs))]
        embedding = np.asarray(results[0], dtype=np.float32)
        mask_prob = np.asarray(results[1], dtype=np.float32) if len(results) > 1 else None
        wear_prob = np.asarray(results[2], dtype=np.float32) if len(results) > 2 else None
        return embedding, mask_prob, wear_prob

    def _run_fixed(self, x: np.ndarray) -> list[np.ndarray]:
        """One session run; a model with a fixed batch gets its last slice padded with zeros
        and the padding's outputs dropped."""
        n, batch = len(x), self.signature.batch
        if batch is not None and n < batch:
            x = np.concatenate([x, np.zeros((batch - n, *x.shape[1:]), dtype=x.dtype)])
        outputs = self.session.run(list(self.signature.outputs), {self.signature.input_name: x})
        return [np.asarray(o)[:n] for o in outputs]


def _onnx_providers(device: str) -> tuple[list[str], str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    has_cuda = "CUDAExecutionProvider" in available
    if device == "cuda" and not has_cuda:
        raise ConfigError(
            "device: cuda asked for, but this onnxruntime has no CUDAExecutionProvider "
            "(install onnxruntime-gpu)"
        )
    if device in ("auto", "cuda") and has_cuda:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"], "cuda"
    return ["CPUExecutionProvider"], "cpu"


def _load_onnx(path: Path, device: str) -> tuple[OnnxBackend, ModelInfo]:
    try:
        import onnxruntime as ort
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_state
    except ImportError as exc:
        raise ConfigError(
            f"{path}: running an ONNX model needs onnxruntime (pip install 'maskgen[export]')"
        ) from exc
    providers, resolved = _onnx_providers(device)
    ort_errors = (
        ort_state.Fail,
        ort_state.InvalidProtobuf,
        ort_state.InvalidGraph,
        ort_state.InvalidArgument,
        ort_state.NoSuchFile,
        ort_state.RuntimeException,
    )
    try:
        session = ort.InferenceSession(str(path), providers=providers)
    except ort_errors as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a loadable ONNX model ({reason})") from exc
    if _is_maskgen_export(session):
        _check_onnx_signature(session, path)
        signature = _maskgen_signature(session)
    else:
        signature = _foreign_signature(session, path)
    backend = OnnxBackend(session, resolved, signature)
    meta = session.get_modelmeta().custom_metadata_map
    embedding_size = _output_shape(session, signature.outputs[0])[1]
    info = ModelInfo(
        path=str(path),
        format="onnx",
        network=meta.get("network", "unknown"),
        embedding_size=int(embedding_size) if isinstance(embedding_size, int) else 0,
        mask_head=backend.mask_head,
        threshold=None if signature.foreign else _float_or_none(meta.get("threshold")),
        step=None if signature.foreign else _int_or_none(meta.get("step")),
        mask_classes=backend.mask_classes,
        input=signature.describe_input(),
    )
    if meta.get("maskgen_version") not in (None, __version__):
        logger.info("%s was exported by maskgen %s", path, meta.get("maskgen_version"))
    return backend, info


def _output_shape(session: Any, name: str) -> list[Any]:
    return next(list(o.shape) for o in session.get_outputs() if o.name == name)


def _is_maskgen_export(session: Any) -> bool:
    """maskgen's own export: input ``input``, output ``embedding``."""
    inputs = session.get_inputs()
    names = {o.name for o in session.get_outputs()}
    return [i.name for i in inputs] == [ONNX_INPUT] and ONNX_EMBEDDING in names


def _maskgen_signature(session: Any) -> OnnxSignature:
    """A maskgen export's outputs: ``embedding`` [, ``mask_prob`` [, ``wear_prob``]]."""
    names = {o.name for o in session.get_outputs()}
    outputs = [ONNX_EMBEDDING]
    if ONNX_MASK_PROB in names:
        outputs.append(ONNX_MASK_PROB)
        if ONNX_WEAR_PROB in names:
            outputs.append(ONNX_WEAR_PROB)
    return OnnxSignature(ONNX_INPUT, tuple(outputs), batch=_fixed_batch(session.get_inputs()[0]))


def _fixed_batch(image_input: Any) -> int | None:
    """The input's fixed batch size, None where it is dynamic: an export made fixed for
    deployment (onnxruntime's ``make_dynamic_shape_fixed``) takes only that many faces a run."""
    first = image_input.shape[0]
    return first if isinstance(first, int) and first > 0 else None


def _check_onnx_signature(session: Any, path: Path) -> None:
    """A maskgen export has one input ``input`` (N, 3, 112, 112) and outputs ``embedding``
    (N, E) [and ``mask_prob`` (N,)]."""
    expected = f"input '{ONNX_INPUT}' (N, 3, 112, 112) and output '{ONNX_EMBEDDING}' (N, E)"
    shape = list(session.get_inputs()[0].shape)
    if len(shape) != 4 or shape[1:] != [3, 112, 112]:
        raise CheckpointError(f"{path}: input has shape {shape}; needs {expected}")
    if len(_output_shape(session, ONNX_EMBEDDING)) != 2:
        raise CheckpointError(f"{path}: embedding is not (N, E); needs {expected}")


def _foreign_signature(session: Any, path: Path) -> OnnxSignature:
    """How insightface's ``model_zoo/arcface_onnx.py`` (``ArcFaceONNX``) feeds a recognition
    model: its one input, (N, 3, 112, 112) float32 RGB, the first 2-D output as the embedding,
    pixels normalised as :func:`pixel_normalisation` says. CheckpointError (one line, saying
    what was found and what is needed) for any other model."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        got = ", ".join(f"'{i.name}' {list(i.shape)}" for i in inputs) or "none"
        raise CheckpointError(
            f"{path}: not a face recognition model: inputs {got}; needs {_FOREIGN_NEEDS}"
        )
    image = inputs[0]
    shape = list(image.shape)
    if len(shape) != 4 or shape[1:] != [3, 112, 112] or image.type != "tensor(float)":
        raise CheckpointError(
            f"{path}: not a face recognition model: input '{image.name}' is {shape} "
            f"{image.type}; needs {_FOREIGN_NEEDS}"
        )
    outputs = session.get_outputs()
    embedding = next((o for o in outputs if len(o.shape) == 2), None)
    if embedding is None:
        got = ", ".join(f"'{o.name}' {list(o.shape)}" for o in outputs)
        raise CheckpointError(
            f"{path}: not a face recognition model: no 2-D output (has {got}); "
            f"needs {_FOREIGN_NEEDS}"
        )
    mean, std = pixel_normalisation(_head_node_names(path))
    return OnnxSignature(
        image.name, (embedding.name,), mean, std, _fixed_batch(image), foreign=True
    )


def graph_normalises_input(node_names: Sequence[str]) -> bool:
    """Whether an ONNX recognition model subtracts and scales its input itself, by
    insightface's rule (``python-package/insightface/model_zoo/arcface_onnx.py``,
    ``ArcFaceONNX.__init__``): among the graph's first 8 nodes, one whose *name* starts with
    ``Sub`` or ``_minus`` and one whose name starts with ``Mul`` or ``_mul`` (MXNet's converted
    arcface models begin ``_minusscalar0``, ``_mulscalar0``). The names, not the operator
    types, and both of them, as insightface tests them, so maskgen feeds a file the way
    insightface does."""
    head = list(node_names)[:INSIGHTFACE_HEAD_NODES]
    has_sub = any(name.startswith(INSIGHTFACE_SUB_PREFIXES) for name in head)
    has_mul = any(name.startswith(INSIGHTFACE_MUL_PREFIXES) for name in head)
    return has_sub and has_mul


def pixel_normalisation(node_names: Sequence[str]) -> tuple[float, float]:
    """``(mean, std)`` of ``(pixel - mean) / std`` for a foreign recognition model, as
    insightface's ``ArcFaceONNX`` sets ``input_mean``/``input_std``: (0.0, 1.0) where
    :func:`graph_normalises_input`, else (127.5, 127.5)."""
    if graph_normalises_input(node_names):
        return 0.0, 1.0
    return PIXEL_CENTRE, PIXEL_SCALE


def _head_node_names(path: Path) -> list[str]:
    """Names of the first graph nodes (onnxruntime does not expose them; the onnx package
    reads them, without external weight files)."""
    try:
        import onnx
    except ImportError as exc:
        raise ConfigError(
            f"{path}: a model not exported by maskgen needs the onnx package to read its "
            "graph (pip install 'maskgen[export]')"
        ) from exc
    model = onnx.load(str(path), load_external_data=False)
    return [node.name for node in model.graph.node[:INSIGHTFACE_HEAD_NODES]]


def _float_or_none(value: str | None) -> float | None:
    try:
        return None if value in (None, "", "none") else float(value)  # type: ignore[arg-type]
    except ValueError:
        return None


def _int_or_none(value: str | None) -> int | None:
    try:
        return None if value in (None, "", "none") else int(value)  # type: ignore[arg-type]
    except ValueError:
        return None
