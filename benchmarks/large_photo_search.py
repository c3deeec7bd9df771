"""Faces found in large photos, and what the search costs (CPU time, one core).

LFW photos are pasted into a 4000x3000 synthetic photo (a blotchy gradient with sensor-like
noise), scaled so that the face (dlib's box on the original) is 80 to 600 px wide, one face per
photo at a random place. ``FaceFinder.find_faces`` searches a 640 px copy first; where that
finds nothing it searches the photo at full resolution, then (as before) contrast-equalised and
turned copies. For each face size the script prints how many faces were found (all 68
landmarks inside the pasted photo) and the median CPU time of the whole search, and the CPU
time for a photo with no face at all (every step runs). "other": detections not wholly inside the
pasted photo (one of the default LFW photos has a second face cut by its right edge).

    python benchmarks/large_photo_search.py [--lfw ../shared/data/lfw/lfw-deepfunneled] [-n 10]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from maskgen.faces import load_face_finder
from maskgen.images import read_rgb

REPO = Path(__file__).resolve().parents[1]
WIDTHS = (80, 100, 180, 310, 600)


def synthetic_background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8: smooth colour blotches, a gradient and fine noise."""
    blotches = cv2.resize(rng.uniform(60, 190, (12, 16, 3)), (width, height), cv2.INTER_CUBIC)
    ramp = np.linspace(-30, 30, width)[None, :, None]
    return np.clip(blotches + ramp + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)


def lfw_faces(lfw: Path, n: int, finder) -> list[tuple[np.ndarray, float]]:
    """(photo, face width) for the first photo of ``n`` evenly spread people with a face."""
    people = sorted(p for p in lfw.iterdir() if p.is_dir())
    chosen = []
    for person in people[:: max(1, len(people) // (2 * n))]:
        rgb = read_rgb(sorted(person.glob("*.jpg"))[0])
        faces = finder.find_faces(rgb, "detect")
        if faces and faces[0].detected:
            chosen.append((rgb, faces[0].box[2] - faces[0].box[0]))
        if len(chosen) == n:
            break
    return chosen


def search(finder, photo: np.ndarray) -> tuple[list, float]:
    start = time.process_time()
    faces = finder.find_faces(photo, "detect")
    return faces, time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lfw", type=Path, default=REPO.parent / "shared/data/lfw/lfw-deepfunneled"
    )
    parser.add_argument("-n", type=int, default=10, help="people (photos per face size)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    finder = load_face_finder()
    backdrop = synthetic_background(3000, 4000, rng)
    people = lfw_faces(args.lfw, args.n, finder)
    print(f"{'face width':>10} {'found':>7} {'other':>5} {'CPU s (median)':>15} {'max':>6}")
    for width in WIDTHS:
        found, extra, seconds = 0, 0, []
        for rgb, face_width in people:
            scale = width / face_width
            scaled = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            h, w = scaled.shape[:2]
            x, y = int(rng.integers(0, 4000 - w)), int(rng.integers(0, 3000 - h))
            photo = backdrop.copy()
            photo[y : y + h, x : x + w] = scaled
            faces, cpu = search(finder, photo)
            seconds.append(cpu)
            hits = sum(
                bool(((f.landmarks >= (x, y)) & (f.landmarks < (x + w, y + h))).all())
                for f in faces
            )
            found += hits > 0
            extra += len(faces) - hits
        median, worst = np.median(seconds), max(seconds)
        print(f"{width:>8}px {found:>3}/{len(people):<3} {extra:5d} {median:15.2f} {worst:6.2f}")
    faces, cpu = search(finder, backdrop)
    start = time.process_time()
    finder.detect(backdrop)
    reduced = time.process_time() - start
    start = time.process_time()
    finder.detect_in_detail(backdrop)
    detail = time.process_time() - start
    print(f"no face: whole search {cpu:.2f} s CPU, {len(faces)} false detection(s)")
    print(f"  of which the 640 px copy {reduced:.2f} s, the full-resolution pass {detail:.2f} s")


if __name__ == "__main__":
    main()
