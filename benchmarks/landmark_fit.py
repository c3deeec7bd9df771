"""maskgen's batched landmark fit against dlib's own shape predictor: agreement and CPU time.

Faces: LFW photos (one per person, spread over the names) with dlib's HOG boxes, and aligned
112x112 crops (lfw-mini's .rec and lfw-fold1.bin, boxes from ``aligned_face_box``), ~2,000 of
each by default. Agreement: the distance between dlib's landmarks and maskgen's, rounded as dlib
rounds (``dlib_points``) and unrounded, mean and max over all points, and the share of faces
whose 68 rounded points are all equal.

Time: CPU time (``time.process_time``, steadier than wall time on a shared machine) per face,
the best of ``--repeats`` rounds. Each round fits every face once, in order, different faces
call after call. "cold" rounds overwrite a buffer twice the size of the last-level cache before
every call (outside the timed part), as a worker's decoding and rendering do between two faces;
"warm" rounds do not. dlib fits one face per call; maskgen fits batches of 1, 64 and 256 with
its numba kernel, and 1 and 64 with the kernel's numpy form (what a process runs for its first
faces, see ``maskgen/compiled.py``), whose agreement is reported too. Also reported: the time
to read the model (dlib's loader, maskgen's reader) and the arrays' size.

    python benchmarks/landmark_fit.py [--photos 2000] [--crops 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import dlib
import numpy as np

from maskgen.compiled import KERNELS_ENV
from maskgen.faces import align_face, five_points
from maskgen.faces.landmarks import aligned_face_box, find_model_file
from maskgen.faces.shape_predictor import ShapePredictor, dlib_points, read_shape_predictor
from maskgen.formats import open_reader
from maskgen.images import decode_rgb

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MASKGEN_SHARED_DATA", REPO.parent / "shared" / "data"))
BATCHES = (1, 64, 256)
NUMPY_BATCHES = (1, 64)
NUMPY_FACES = 256
"""The numpy form is timed on the first 256 faces of each kind (it is several times slower)."""
Face = tuple[np.ndarray, tuple[int, int, int, int]]


def _photo_faces(n: int) -> list[Face]:
    """The first face dlib's detector finds in each of ``n`` LFW photos."""
    lfw = SHARED / "lfw" / "lfw-deepfunneled"
    people = sorted(p for p in lfw.iterdir() if p.is_dir())
    detector = dlib.get_frontal_face_detector()
    faces = []
    for person in people[:: max(1, len(people) // n)][:n]:
        rgb = cv2.cvtColor(cv2.imread(str(sorted(person.glob("*.jpg"))[0])), cv2.COLOR_BGR2RGB)
        rects = detector(rgb, 0)
        if len(rects):
            r = rects[0]
            faces.append((rgb, (r.left(), r.top(), r.right(), r.bottom())))
    return faces


def _crop_faces(n: int, photos: Sequence[Face], predictor: dlib.shape_predictor) -> list[Face]:
    """Aligned 112x112 crops: the real ones in ../shared (.rec, .bin), then crops aligned here
    from the photos with dlib's landmarks, up to ``n``."""
    crops = []
    for path in (SHARED / "rec/lfw-mini/train.rec", SHARED / "bin/lfw-fold1.bin"):
        reader = open_reader(path)
        keys = reader.keys()
        for key in keys:
            sample = reader.read(key)
            rgb = decode_rgb(sample.data) if sample.is_image else None
            if rgb is not None:
                crops.append(rgb)
    for rgb, box in photos:
        if len(crops) >= n:
            break
        landmarks = _dlib_fit(predictor, rgb, box)
        crops.append(align_face(rgb, five_points(landmarks)))
    box = tuple(round(v) for v in aligned_face_box(112, 112))
    return [(crop, box) for crop in crops[:n]]  # type: ignore[misc]


def _dlib_fit(predictor: dlib.shape_predictor, rgb: np.ndarray, box: Sequence[int]) -> np.ndarray:
    parts = predictor(rgb, dlib.rectangle(*box)).parts()
    return np.array([(p.x, p.y) for p in parts], np.float64)


def _kernels(name: str) -> None:
    """Which form of the fit ``ShapePredictor.fit`` runs from now on: numba or numpy."""
    os.environ[KERNELS_ENV] = name


def _agreement(name: str, faces: list[Face], dlib_fit: Callable, mine: ShapePredictor) -> None:
    expected = np.stack([dlib_fit(rgb, box) for rgb, box in faces])
    fitted = mine.fit([rgb for rgb, _ in faces], [box for _, box in faces])
    rounded = np.linalg.norm(dlib_points(fitted) - expected, axis=-1)
    raw = np.linalg.norm(fitted - expected, axis=-1)
    same = (rounded == 0).all(axis=1).mean()
    print(
        f"{name:14s} {len(faces):6d} {rounded.mean():10.4f} {rounded.max():8.3f} "
        f"{raw.mean():10.4f} {raw.max():8.3f} {100 * same:9.2f}%"
    )


def _evict(buffer: np.ndarray) -> None:
    buffer[::64] += 1  # writes every cache line: the model's lines leave the cache


def _cpu_ms_per_face(
    faces: list[Face], batch: int, fit: Callable, repeats: int, cold: np.ndarray | None
) -> float:
    """Best-of-``repeats`` CPU ms per face, ``fit`` called on consecutive batches."""
    best = float("inf")
    for _ in range(repeats):
        spent = 0.0
        for start in range(0, len(faces) - batch + 1, batch):
            chunk = faces[start : start + batch]
            if cold is not None:
                _evict(cold)
            began = time.process_time()
            fit(chunk)
            spent += time.process_time() - began
        best = min(best, spent / (len(faces) // batch * batch) * 1000.0)
    return best


def _cache_bytes() -> int:
    """The last-level cache size from sysfs (32 MB if not found)."""
    sizes = []
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        text = (index / "size").read_text().strip()
        sizes.append(int(text[:-1]) * 1024 if text.endswith("K") else int(text))
    return max(sizes, default=32 << 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--crops", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    model = find_model_file()
    _kernels("numba")

    began = time.process_time()
    predictor = dlib.shape_predictor(str(model))
    dlib_load = time.process_time() - began
    began = time.process_time()
    mine = read_shape_predictor(model)
    my_load = time.process_time() - began
    began = time.process_time()
    read_shape_predictor(model)
    my_reload = time.process_time() - began
    arrays = (mine.initial_shape, mine.splits, mine.thresholds, mine.leaf_values)
    size_mb = sum(a.nbytes for a in (*arrays, mine.anchor_idx, mine.deltas)) / 1e6
    print(f"model: {model.name}, {model.stat().st_size / 1e6:.1f} MB")
    print(
        f"read (CPU s): dlib {dlib_load:.3f}; maskgen {my_load:.3f} first in this process "
        f"(numba's start included), {my_reload:.3f} again; arrays {size_mb:.1f} MB"
    )

    photos = _photo_faces(args.photos)
    crops = _crop_faces(args.crops, photos, predictor)

    def dlib_fit(rgb: np.ndarray, box: Sequence[int]) -> np.ndarray:
        return _dlib_fit(predictor, rgb, box)

    print("\nagreement with dlib (px): rounded as dlib rounds, and unrounded")
    header = f"{'faces':14s} {'n':>6s} {'mean':>10s} {'max':>8s} {'raw mean':>10s} {'raw max':>8s}"
    print(f"{header} {'identical':>10s}")
    _agreement("photos", photos, dlib_fit, mine)
    _agreement("crops", crops, dlib_fit, mine)
    _kernels("numpy")
    _agreement("photos, numpy", photos[:300], dlib_fit, mine)
    _agreement("crops, numpy", crops[:300], dlib_fit, mine)
    _kernels("numba")

    cold = np.zeros(2 * _cache_bytes(), np.uint8)
    cpu = os.environ.get("MASKGEN_CPU_NAME") or _cpu_name()
    print(
        f"\nCPU ms per face, best of {args.repeats} rounds ({cpu}, LLC {_cache_bytes() >> 20} MB)"
    )
    print(f"{'faces':8s} {'fit':16s} {'cold':>8s} {'warm':>8s}")
    for name, faces in (("photos", photos), ("crops", crops)):

        def dlib_batch(chunk: list[Face]) -> None:
            for rgb, box in chunk:
                predictor(rgb, dlib.rectangle(*box))

        def my_batch(chunk: list[Face]) -> None:
            mine.fit([rgb for rgb, _ in chunk], [box for _, box in chunk])

        rows = [("dlib, 1 a call", 1, dlib_batch, "numba", faces)]
        rows += [(f"maskgen, {batch} a call", batch, my_batch, "numba", faces) for batch in BATCHES]
        rows += [
            (f"numpy, {batch} a call", batch, my_batch, "numpy", faces[:NUMPY_FACES])
            for batch in NUMPY_BATCHES
        ]
        for label, batch, fit, kernels, some in rows:
            _kernels(kernels)
            cold_ms = _cpu_ms_per_face(some, batch, fit, args.repeats, cold)
            warm_ms = _cpu_ms_per_face(some, batch, fit, args.repeats, None)
            print(f"{name:8s} {label:16s} {cold_ms:8.3f} {warm_ms:8.3f}")
        _kernels("numba")


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    return "unknown CPU"


if __name__ == "__main__":
    main()
