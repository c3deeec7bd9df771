"""How often real aligned crops and generated non-faces are taken for faces.

``auto`` mode takes a small square image without a detection for an ArcFace-aligned crop only
where ``maskgen.faces.crops`` finds a face on its aligned box; ``aligned`` mode refuses only
images too small or featureless. This script runs ``FaceFinder.find_faces`` in both modes on

- real aligned crops: ``lfw-mini/train.rec`` (294), ``lfw-fold1.bin`` (1,200), the unmasked
  photos of ``mfr2-dev`` (48); and, for information, real *masked* aligned faces (``mfr2-dev``'s
  masked photos, ``rwmfd-aligned``), which a HOG detector trained on bare faces scores lower;
- generated non-faces (seeded): flat colours, flat colours with noise, linear ramps in 8
  directions (grey and colour), radial and hue ramps, uniform, Gaussian and smooth noise,
  stripes and checkerboards, random crops of scikit-image's bundled non-face photos, and
  images smaller than ``MIN_IMAGE_SIDE``; at 112x112 and other small square sizes;

and prints the share taken for a face in each mode, the HOG score spread on each set (what
``ALIGNED_FACE_THRESHOLD`` is chosen from) and the CPU time of the checks.

    python benchmarks/aligned_crop_checks.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from maskgen.faces import load_face_finder
from maskgen.faces.crops import (
    ALIGNED_FACE_THRESHOLD,
    MIN_IMAGE_SIDE,
    aligned_face_box,
    aligned_face_score,
    face_box_residual,
)
from maskgen.formats import open_reader
from maskgen.images import decode_rgb, read_rgb

REPO = Path(__file__).resolve().parents[1]

NON_FACE_PHOTOS = (
    "brick", "cell", "chelsea", "checkerboard", "clock", "coffee", "coins", "grass", "gravel",
    "hubble_deep_field", "horse", "immunohistochemistry", "logo", "moon", "page", "retina",
    "rocket", "text",
)  # fmt: skip
"""scikit-image's bundled images without a human face (``astronaut`` and ``camera`` have one)."""


def dataset_crops(path: Path) -> list[np.ndarray]:
    """Every decodable image record of a .rec or .bin, as (112, 112, 3) uint8 RGB."""
    reader = open_reader(path)
    keys = reader.keys()
    samples = (reader.read(key) for key in keys)
    images = (decode_rgb(s.data) for s in samples if s.is_image)
    return [image for image in images if image is not None]


def mfr2_photos(root: Path, masked: bool) -> list[np.ndarray]:
    """The mfr2-dev photos with (or without) a mask, aligned 112x112."""
    with open(root / "labels.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["masked"] == str(int(masked))]
    return [read_rgb(root / "images" / row["file"]) for row in rows]


def real_sets(data: Path) -> dict[str, list[np.ndarray]]:
    masks = data / "real-masks"
    return {
        "lfw-mini train.rec": dataset_crops(data / "rec/lfw-mini/train.rec"),
        "lfw-fold1.bin": dataset_crops(data / "bin/lfw-fold1.bin"),
        "mfr2-dev, unmasked": mfr2_photos(masks / "mfr2-dev", masked=False),
        "mfr2-dev, masked (info)": mfr2_photos(masks / "mfr2-dev", masked=True),
        "rwmfd-aligned, masked (info)": [
            read_rgb(p) for p in sorted((masks / "rwmfd-aligned").rglob("*.jpg"))
        ],
    }


def _ramps(side: int) -> Iterator[np.ndarray]:
    """Linear ramps in 8 directions, grey and coloured, then a radial and a hue ramp."""
    yy, xx = np.mgrid[:side, :side] / (side - 1)
    for angle in np.arange(8) * np.pi / 4:
        ramp = np.cos(angle) * xx + np.sin(angle) * yy
        grey = (255 * (ramp - ramp.min()) / np.ptp(ramp)).astype(np.uint8)
        yield np.dstack([grey] * 3)
        yield np.dstack([grey, 255 - grey, grey // 2 + 60])
    radius = np.hypot(xx - 0.5, yy - 0.5)
    yield np.dstack([(255 * radius / radius.max()).astype(np.uint8)] * 3)
    full = np.full((side, side), 255, np.uint8)
    hsv = np.dstack([(179 * xx).astype(np.uint8), full, full])
    yield cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _noise(side: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Uniform, Gaussian and smooth (blurred) noise, flat colours with noise."""
    yield rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    yield rng.normal(128, 40, (side, side, 3)).clip(0, 255).astype(np.uint8)
    for sigma in (1, 2, 4, 8):
        white = rng.normal(size=(side, side, 3)).astype(np.float32)
        smooth = cv2.GaussianBlur(white, (0, 0), sigma)
        yield (255 * (smooth - smooth.min()) / np.ptp(smooth)).astype(np.uint8)
    colour = rng.integers(0, 256, 3)
    for sigma in (3, 8):
        yield (colour + rng.normal(0, sigma, (side, side, 3))).clip(0, 255).astype(np.uint8)


def _patterns(side: int) -> Iterator[np.ndarray]:
    """Stripes and checkerboards of a few periods."""
    yy, xx = np.mgrid[:side, :side]
    for period in (4, 10, 28):
        stripes = ((xx // period) % 2 * 255).astype(np.uint8)
        yield np.dstack([stripes] * 3)
        board = (((xx // period) + (yy // period)) % 2 * 255).astype(np.uint8)
        yield np.dstack([board] * 3)


def _photo_crops(side: int, rng: np.random.Generator, per_photo: int) -> Iterator[np.ndarray]:
    """Random square crops of scikit-image's bundled non-face photos, resized to ``side``."""
    for name in NON_FACE_PHOTOS:
        photo = getattr(skimage.data, name)()
        photo = np.dstack([photo] * 3) if photo.ndim == 2 else photo[..., :3]
        photo = np.ascontiguousarray(photo, dtype=np.uint8)
        height, width = photo.shape[:2]
        for _ in range(per_photo):
            size = int(rng.integers(min(height, width) // 5, min(height, width) + 1))
            y0 = int(rng.integers(0, height - size + 1))
            x0 = int(rng.integers(0, width - size + 1))
            crop = photo[y0 : y0 + size, x0 : x0 + size]
            yield cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)


def generated_sets(seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Non-faces by kind, at 112x112 and at 64, 96, 160 and 192 px."""
    rng = np.random.default_rng(seed)
    sides = (112, 64, 96, 160, 192)
    colours = [(0, 0, 0), (255, 255, 255), (128, 128, 128), (200, 30, 30), (224, 172, 150)]
    return {
        "flat colours": [np.full((s, s, 3), c, np.uint8) for s in sides for c in colours],
        "ramps (linear, radial, hue)": [r for s in sides for r in _ramps(s)],
        "noise (uniform, Gaussian, smooth, flat+noise)": [
            n for s in sides for _ in range(4) for n in _noise(s, rng)
        ],
        "stripes, checkerboards": [p for s in sides for p in _patterns(s)],
        "crops of non-face photos": [
            c for s in (112, 160) for c in _photo_crops(s, rng, per_photo=12)
        ],
        f"tiny (side < {MIN_IMAGE_SIDE})": [
            rng.integers(0, 256, (s, s, 3), dtype=np.uint8) for s in (1, 2, 8, 16, 31)
        ]
        + [np.full((s, s, 3), 90, np.uint8) for s in (1, 16)],
    }


def measure(images: list[np.ndarray], finder) -> dict[str, float]:
    """Share found as a face in each mode, the HOG score spread, the featureless residual."""
    auto = [bool(finder.find_faces(image, "auto")) for image in images]
    aligned = [bool(finder.find_faces(image, "aligned")) for image in images]
    ok = [image for image in images if min(image.shape[:2]) >= MIN_IMAGE_SIDE]
    scores = [max(aligned_face_score(finder._detector, image), -3.0) for image in ok]
    scores = np.array(scores or [np.nan])  # -3: no window scored above -3 on the box
    residuals = np.array(
        [face_box_residual(image, aligned_face_box(*image.shape[:2])) for image in ok] or [np.nan]
    )
    return {
        "n": len(images),
        "auto": 100.0 * np.mean(auto),
        "aligned": 100.0 * np.mean(aligned),
        "score_min": float(np.min(scores)),
        "score_p1": float(np.percentile(scores, 1)),
        "score_max": float(np.max(scores)),
        "residual_min": float(np.min(residuals)),
    }


def check_cost(finder, crops: list[np.ndarray]) -> tuple[float, float]:
    """CPU ms per crop of the featureless check and of the HOG check (the auto fallback)."""
    start = time.process_time()
    for crop in crops:
        face_box_residual(crop, aligned_face_box(*crop.shape[:2]))
    featureless = (time.process_time() - start) / len(crops) * 1000
    start = time.process_time()
    for crop in crops:
        aligned_face_score(finder._detector, crop)
    hog = (time.process_time() - start) / len(crops) * 1000
    return featureless, hog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    finder = load_face_finder()
    print(f"ALIGNED_FACE_THRESHOLD = {ALIGNED_FACE_THRESHOLD}")
    header = (
        f"{'set':48} {'n':>5} {'auto %':>7} {'aligned %':>9} "
        f"{'score min':>9} {'p1':>6} {'max':>6} {'residual min':>12}"
    )
    print(header)
    sets = {**real_sets(args.data), **generated_sets()}
    for name, images in sets.items():
        row = measure(images, finder)
        print(
            f"{name:48} {row['n']:5d} {row['auto']:7.1f} {row['aligned']:9.1f} "
            f"{row['score_min']:9.2f} {row['score_p1']:6.2f} {row['score_max']:6.2f} "
            f"{row['residual_min']:12.1f}"
        )
    featureless, hog = check_cost(finder, sets["lfw-fold1.bin"][:300])
    print(f"CPU per 112x112 crop: featureless check {featureless:.3f} ms, HOG check {hog:.2f} ms")


if __name__ == "__main__":
    main()
