"""What every network is fed: the torch and numpy paths give the same input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maskgen.errors import DatasetFormatError
from maskgen.nn.preprocess import decode_face, preprocess, preprocess_faces

pytestmark = pytest.mark.torch


def test_preprocess_normalises_rgb_to_chw() -> None:
    batch = np.zeros((2, 112, 112, 3), dtype=np.uint8)
    batch[0, 5, 7] = (0, 255, 51)
    out = preprocess(batch)
    assert out.shape == (2, 3, 112, 112) and out.dtype == torch.float32
    assert out[0, :, 5, 7].tolist() == pytest.approx([-1.0, 1.0, (51 - 127.5) / 127.5])
    assert out.is_contiguous()
    assert preprocess(batch, channels_last=True).is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(preprocess(torch.from_numpy(batch)), out)
    with pytest.raises(ValueError, match="uint8 RGB"):
        preprocess(batch[0])


def test_numpy_and_torch_paths_agree_to_the_bit() -> None:
    """The ONNX backend (numpy) and the PyTorch backend and trainer (torch) feed alike."""
    faces = np.random.default_rng(0).integers(0, 256, (5, 112, 112, 3), dtype=np.uint8)
    faces[0, 0, 0] = (0, 127, 255)  # both ends of the range and the centre's neighbour
    by_numpy = preprocess_faces(faces)
    assert by_numpy.dtype == np.float32 and by_numpy.flags.c_contiguous
    assert np.array_equal(by_numpy, preprocess(faces).numpy())


def test_decode_face_names_the_source_and_index() -> None:
    import cv2

    ok, png = cv2.imencode(".png", np.zeros((112, 112, 3), np.uint8))
    assert ok
    assert decode_face(png.tobytes(), "set.bin", 0).shape == (112, 112, 3)
    ok, wide = cv2.imencode(".png", np.zeros((112, 120, 3), np.uint8))
    with pytest.raises(DatasetFormatError, match=r"set\.bin: image 4 is 120x112"):
        decode_face(wide.tobytes(), "set.bin", 4)
    with pytest.raises(DatasetFormatError, match=r"set\.bin: image 9 is not a decodable image"):
        decode_face(b"junk", "set.bin", 9)
