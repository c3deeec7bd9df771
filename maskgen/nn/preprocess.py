"""What every face network is fed, defined once for training, evaluation and the ONNX export.

A face is (112, 112, 3) uint8 RGB, aligned to the ArcFace 5-point template (``maskgen align``,
insightface's ``.rec``/``.bin`` crops). A network's input is (N, 3, 112, 112) float32,
``(pixel - 127.5) / 127.5``, arcface_torch's normalisation. :func:`preprocess` computes it with
torch on the device (the trainer, the PyTorch backend); :func:`preprocess_faces` with numpy (the
onnxruntime backend, which needs no torch). torch is imported only when :func:`preprocess` runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from maskgen.errors import DatasetFormatError, UndecodableImageError
from maskgen.images import decode_rgb_and_said

if TYPE_CHECKING:
    import torch

__all__ = [
    "FACE_SHAPE",
    "FACE_SIZE",
    "PIXEL_CENTRE",
    "PIXEL_SCALE",
    "check_face_shape",
    "decode_face",
    "decode_face_and_said",
    "preprocess",
    "preprocess_faces",
]

FACE_SIZE = 112
FACE_SHAPE = (FACE_SIZE, FACE_SIZE, 3)
"""Every face the networks see: aligned to the ArcFace template, (112, 112, 3) uint8 RGB."""

PIXEL_CENTRE = 127.5
PIXEL_SCALE = 127.5
"""Input = (pixel - PIXEL_CENTRE) / PIXEL_SCALE, in [-1, 1] (arcface_torch's normalisation)."""


def decode_face(data: bytes, source: str, index: int, unit: str = "image") -> np.ndarray:
    """Decode one aligned face (JPEG/PNG bytes) to (112, 112, 3) uint8 RGB.

    Raises UndecodableImageError (a DatasetFormatError) naming ``source`` and the face, as
    ``unit`` and ``index`` ("image 3" for a position from 0, "record 3" for a .rec's key) for
    undecodable bytes, DatasetFormatError for a size other than 112x112 (faces must be aligned
    first, e.g. with ``maskgen align``).
    """
    return decode_face_and_said(data, source, index, unit)[0]


def decode_face_and_said(
    data: bytes, source: str, index: int, unit: str = "image"
) -> tuple[np.ndarray, str | None]:
    """:func:`decode_face`'s face and what libpng or libjpeg said while decoding it (a damaged
    face that still decoded, where those lines are kept off stderr:
    :mod:`maskgen.decoder_messages`), None where they said nothing. Raises as decode_face."""
    rgb, said = decode_rgb_and_said(data, f"{source}: {unit} {index}")
    if rgb is None:
        raise UndecodableImageError(f"{source}: {unit} {index} is not a decodable image")
    check_face_shape(rgb, source, index, unit)
    return rgb, said


def check_face_shape(image: np.ndarray, source: str, index: int, unit: str = "image") -> None:
    """DatasetFormatError naming ``source`` and the face (``unit`` ``index``, as
    :func:`decode_face` names it) unless ``image`` is (112, 112, 3) uint8. A float image was
    taken as it was: one scaled to [0, 1] (a tensor's layout) gave other embeddings without a
    word."""
    face = f"{source}: {unit} {index}"
    if image.ndim != 3 or image.shape[2] != 3:
        raise DatasetFormatError(f"{face} has shape {image.shape}, expected (112, 112, 3) RGB")
    if image.shape != FACE_SHAPE:
        size = "x".join(str(s) for s in image.shape[1::-1])
        raise DatasetFormatError(
            f"{face} is {size} (shape {image.shape}), expected aligned "
            "112x112 RGB faces (align them first, e.g. with maskgen align)"
        )
    if image.dtype != np.uint8:
        raise DatasetFormatError(f"{face} is {image.dtype}, expected uint8 RGB pixel values 0-255")


def preprocess_faces(
    faces: np.ndarray, *, mean: float = PIXEL_CENTRE, std: float = PIXEL_SCALE
) -> np.ndarray:
    """(N, 112, 112, 3) uint8 RGB -> (N, 3, 112, 112) float32, the network input (numpy):
    ``(pixel - mean) / std``. The defaults are maskgen's (and arcface_torch's); another
    ``mean``/``std`` serves an ONNX model that normalises inside its graph (mean 0, std 1)."""
    x = np.ascontiguousarray(np.asarray(faces).transpose(0, 3, 1, 2), dtype=np.float32)
    return (x - np.float32(mean)) / np.float32(std)


def preprocess(
    images: np.ndarray | torch.Tensor,
    *,
    device: torch.device | str | None = None,
    channels_last: bool = False,
) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 RGB -> ``(N, 3, H, W)`` float32 network input (torch).

    The uint8 batch moves to ``device`` first (4x less to copy), then is normalised there.
    With ``channels_last`` the result keeps the NHWC memory layout the input already has.
    Raises ValueError for any other shape or dtype (a bug, not bad user input).
    """
    import torch

    batch = torch.as_tensor(images)
    if batch.ndim != 4 or batch.shape[-1] != 3 or batch.dtype != torch.uint8:
        raise ValueError(
            f"preprocess expects (N, H, W, 3) uint8 RGB, got {tuple(batch.shape)} {batch.dtype}"
        )
    if device is not None:
        batch = batch.to(device, non_blocking=True)
    out = batch.permute(0, 3, 1, 2).float().sub_(PIXEL_CENTRE).div_(PIXEL_SCALE)
    if channels_last:
        return out.contiguous(memory_format=torch.channels_last)
    return out.contiguous()
