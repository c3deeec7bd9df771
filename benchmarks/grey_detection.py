"""Face detection on the grey image first, against the colour image alone: recall, boxes, CPU
time, and the landmarks each box gives, judged by an independent model.

maskgen's :meth:`~maskgen.faces.FaceFinder.detect` runs dlib's HOG detector on dlib's grey
level of the photo first and on the colour photo only where the grey one holds no face. This
script compares that with the colour-only search (the same passes: at the photo's own size,
then at twice its size where that finds nothing) on LFW's photos:

- photos with a face found by each search, and by one only;
- photos whose largest box is the same;
- detection CPU time per photo (``time.process_time``), each search over every photo, in turn;
- where the largest boxes differ: maskgen's 68 landmarks fitted in each box, scored against
  MediaPipe FaceMesh (``benchmarks/facemesh.py``; another detector and landmark model): the
  mean distance of eight points (eye corners, nose tip, mouth corners, chin) from FaceMesh's
  same points, over the distance between the outer eye corners.

    python benchmarks/grey_detection.py [--step 1] [--json benchmarks/results/grey_detection.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import cv2
import numpy as np

from maskgen.faces import load_face_finder
from maskgen.faces.landmarks import DETECT_MAX_SIDE, grey_image
from maskgen.faces.model_cache import load_frontal_face_detector

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MASKGEN_SHARED_DATA", REPO.parent / "shared" / "data"))
DLIB_POINTS = (36, 39, 42, 45, 30, 48, 54, 8)
"""dlib's 68-point indices: eye corners (outer, inner, inner, outer), nose tip, mouth corners,
chin."""
FACEMESH_POINTS = (33, 133, 362, 263, 4, 61, 291, 152)
"""FaceMesh's indices of the same points, in the same order."""
RESULTS = REPO / "benchmarks" / "results"
GROSS = 0.2
"""An error over this many eye-corner distances is a gross miss."""

Box = tuple[int, int, int, int]


def colour_search(detector, rgb: np.ndarray) -> list[Box]:
    """The colour-only search (maskgen before grey-first): the photo's own size, then twice
    its size for a small photo. LFW's photos (250x250) need no reduced copy."""
    rects = detector(rgb, 0)
    if len(rects) == 0 and max(rgb.shape[:2]) <= DETECT_MAX_SIDE // 2:
        rects = detector(rgb, 1)
    return [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]


def largest(boxes: list[Box] | list[tuple[float, ...]]) -> Box | None:
    if not boxes:
        return None
    box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    return tuple(round(v) for v in box)  # type: ignore[return-value]


def landmark_error(landmarks: np.ndarray, mesh: np.ndarray) -> float:
    """Mean distance of :data:`DLIB_POINTS` from FaceMesh's, in outer-eye-corner distances."""
    ocular = float(np.linalg.norm(mesh[33] - mesh[263]))
    gaps = np.linalg.norm(landmarks[list(DLIB_POINTS)] - mesh[list(FACEMESH_POINTS)], axis=1)
    return float(gaps.mean() / ocular)


def summary(errors: np.ndarray) -> dict[str, float]:
    return {
        "mean": float(errors.mean()),
        "median": float(np.median(errors)),
        "p95": float(np.percentile(errors, 95)),
        "gross": int((errors > GROSS).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step", type=int, default=1, help="every STEP-th LFW photo")
    parser.add_argument("--json", type=Path, default=RESULTS / "grey_detection.json")
    args = parser.parse_args()

    from facemesh import facemesh_landmarks  # benchmarks/ is on sys.path when run as a script

    files = sorted((SHARED / "lfw" / "lfw-deepfunneled").glob("*/*.jpg"))[:: args.step]
    photos = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]
    detector = load_frontal_face_detector()
    finder = load_face_finder(None)
    finder.detect(photos[0])  # load the detector before timing

    started = time.process_time()
    colour = [colour_search(detector, rgb) for rgb in photos]
    colour_cpu = time.process_time() - started
    started = time.process_time()
    grey_first = [finder.detect(rgb) for rgb in photos]
    grey_cpu = time.process_time() - started
    started = time.process_time()
    for rgb in photos:
        grey_image(rgb)
    grey_conversion_cpu = time.process_time() - started

    differ = [
        i
        for i, (a, b) in enumerate(zip(colour, grey_first, strict=True))
        if a and b and largest(a) != largest(b)
    ]
    mesh = facemesh_landmarks([photos[i] for i in differ])
    errors_colour, errors_grey = [], []
    for i, points in zip(differ, mesh, strict=True):
        if not np.isfinite(points).all():
            continue
        for errors, boxes in ((errors_colour, colour), (errors_grey, grey_first)):
            landmarks = finder.fit_landmarks(photos[i], largest(boxes[i]))
            errors.append(landmark_error(landmarks, points))
    e_colour, e_grey = np.array(errors_colour), np.array(errors_grey)

    n = len(photos)
    found_colour = sum(bool(b) for b in colour)
    found_grey = sum(bool(b) for b in grey_first)
    result = {
        "photos": n,
        "found": {"colour": found_colour, "grey_first": found_grey},
        "found_by_one_only": {
            "colour": sum(bool(a) and not b for a, b in zip(colour, grey_first, strict=True)),
            "grey_first": sum(bool(b) and not a for a, b in zip(colour, grey_first, strict=True)),
        },
        "same_largest_box": sum(
            bool(a) and largest(a) == largest(b) for a, b in zip(colour, grey_first, strict=True)
        ),
        "detect_ms_per_photo": {
            "colour": 1e3 * colour_cpu / n,
            "grey_first": 1e3 * grey_cpu / n,
            "grey_conversion": 1e3 * grey_conversion_cpu / n,
        },
        "differing_boxes": {
            "photos": len(differ),
            "judged_by_facemesh": len(e_colour),
            "error_in_eye_corner_distances": {
                "colour_box": summary(e_colour),
                "grey_first_box": summary(e_grey),
            },
            "grey_first_closer": float((e_grey < e_colour).mean()),
        },
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "command": f"python benchmarks/grey_detection.py --step {args.step}",
    }
    print(json.dumps(result, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
