"""Two ways of searching a photo for faces, compared on LFW: recall, boxes, CPU time, and the
landmarks each box gives, judged by an independent model.

The searches, each dlib's HOG detector (``upsample 0``, then ``1`` on a photo with no face):

- ``colour``: the colour photo at its own size (maskgen before it searched grey first);
- ``grey-full``: dlib's grey level of the photo, then the colour photo where that holds no
  face, each at its own size (maskgen before its coarse first search);
- ``maskgen``: :meth:`maskgen.faces.FaceFinder.detect` as it is now (the grey and colour
  searches each first on the photo reduced by ``COARSE_STEP``, one step of dlib's pyramid).

For a ``--reference`` and a ``--candidate`` search, over LFW's photos:

- photos with a face found by each, by one only, and all faces (boxes) each finds;
- photos whose largest box is the same;
- detection CPU time per photo (``time.process_time``), each search over every photo;
- photos where a search has no box on the face the other puts nearest the photo's centre
  (LFW's photos are centred on their person);
- photos whose largest box lies on another face (the two searches' largest boxes overlap by
  under 0.3: two faces of about one size, ranked the other way);
- where the boxes differ on the face MediaPipe FaceMesh finds (``benchmarks/facemesh.py``;
  another detector and landmark model; each search's box around FaceMesh's nose tip, or none
  where it has no box there):
  maskgen's 68 landmarks fitted in each box, scored against FaceMesh: the mean distance of
  eight points (eye corners, nose tip, mouth corners, chin) from FaceMesh's same points, over
  the distance between the outer eye corners.

    python benchmarks/detection_search.py --reference colour --candidate grey-full
    python benchmarks/detection_search.py --reference grey-full --candidate maskgen
      [--step 1] [--json benchmarks/results/detection_<reference>_vs_<candidate>.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
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
NOSE_TIP = 4
"""FaceMesh's nose tip: the box nearest it is the box on FaceMesh's face."""
RESULTS = REPO / "benchmarks" / "results"
GROSS = 0.2
"""An error over this many eye-corner distances is a gross miss."""

Box = tuple[int, int, int, int]
Search = Callable[[np.ndarray], list[Box]]


def full_size_search(detector, image: np.ndarray) -> list[Box]:
    """dlib's detector on ``image`` at its own size, then twice its size for a small image
    with no face. LFW's photos (250x250) need no reduced copy."""
    rects = detector(image, 0)
    if len(rects) == 0 and max(image.shape[:2]) <= DETECT_MAX_SIDE // 2:
        rects = detector(image, 1)
    return [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]


def searches() -> dict[str, Search]:
    detector = load_frontal_face_detector()
    finder = load_face_finder(None)
    return {
        "colour": lambda rgb: full_size_search(detector, rgb),
        "grey-full": lambda rgb: (
            full_size_search(detector, grey_image(rgb)) or full_size_search(detector, rgb)
        ),
        "maskgen": finder.detect,
    }


def largest(boxes: list[Box] | list[tuple[float, ...]]) -> Box | None:
    if not boxes:
        return None
    box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    return rounded(box)


def rounded(box: tuple[float, ...]) -> Box:
    return tuple(round(v) for v in box)  # type: ignore[return-value]


def around(boxes: list[Box] | list[tuple[float, ...]], point: np.ndarray) -> Box | None:
    """The box holding ``point`` (x, y) whose centre is nearest it, in whole pixels; None
    where no box holds it."""
    holding = [b for b in boxes if b[0] <= point[0] <= b[2] and b[1] <= point[1] <= b[3]]
    if not holding:
        return None
    return rounded(
        min(
            holding,
            key=lambda b: np.hypot((b[0] + b[2]) / 2 - point[0], (b[1] + b[3]) / 2 - point[1]),
        )
    )


def centre_face(boxes: list[Box] | list[tuple[float, ...]], width: int, height: int) -> Box:
    """The box whose centre is nearest the photo's: the person an LFW photo is centred on."""
    return rounded(
        min(boxes, key=lambda b: np.hypot((b[0] + b[2] - width) / 2, (b[1] + b[3] - height) / 2))
    )


def overlap(a: Box | None, b: Box | None) -> float:
    """Intersection over union of two boxes (0 where either is None)."""
    if a is None or b is None:
        return 0.0
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


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


def lost_centre_faces(
    searched: list[list[Box]], other: list[list[Box]], photos: list[np.ndarray]
) -> int:
    """Photos where ``other`` has no box on the face ``searched`` puts nearest the centre (the
    person an LFW photo is centred on): that person's face is left unmasked."""
    return sum(
        bool(a) and all(overlap(centre_face(a, *rgb.shape[1::-1]), rounded(b)) < 0.5 for b in c)
        for a, c, rgb in zip(searched, other, photos, strict=True)
    )


def timed(search: Search, photos: list[np.ndarray]) -> tuple[list[list[Box]], float]:
    """Every photo's boxes and the CPU seconds the search took over all of them."""
    started = time.process_time()
    found = [search(rgb) for rgb in photos]
    return found, time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", choices=("colour", "grey-full", "maskgen"), required=True)
    parser.add_argument("--candidate", choices=("colour", "grey-full", "maskgen"), required=True)
    parser.add_argument("--step", type=int, default=1, help="every STEP-th LFW photo")
    parser.add_argument("--json", type=Path, help="where the figures go (default: by the names)")
    args = parser.parse_args()
    out = args.json or RESULTS / f"detection_{args.reference}_vs_{args.candidate}.json"

    from facemesh import facemesh_landmarks  # benchmarks/ is on sys.path when run as a script

    files = sorted((SHARED / "lfw" / "lfw-deepfunneled").glob("*/*.jpg"))[:: args.step]
    photos = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]
    by_name = searches()
    by_name["maskgen"](photos[0])  # load the detector before timing
    reference, reference_cpu = timed(by_name[args.reference], photos)
    candidate, candidate_cpu = timed(by_name[args.candidate], photos)

    # judged on the face FaceMesh finds: each search's box around its nose tip, where the two
    # searches' boxes differ (a search with no box there missed FaceMesh's face)
    differ = [
        i
        for i, (a, b) in enumerate(zip(reference, candidate, strict=True))
        if a and b and sorted(map(rounded, a)) != sorted(map(rounded, b))
    ]
    mesh = facemesh_landmarks([photos[i] for i in differ])
    finder = load_face_finder(None)
    errors: dict[str, list[float]] = {"reference": [], "candidate": []}
    missed = {"reference": 0, "candidate": 0}
    for i, points in zip(differ, mesh, strict=True):
        if not np.isfinite(points).all():
            continue
        on_face = [around(boxes[i], points[NOSE_TIP]) for boxes in (reference, candidate)]
        for name, box in zip(("reference", "candidate"), on_face, strict=True):
            missed[name] += box is None
        if None in on_face or on_face[0] == on_face[1]:
            continue
        for name, box in zip(("reference", "candidate"), on_face, strict=True):
            errors[name].append(landmark_error(finder.fit_landmarks(photos[i], box), points))
    e_reference, e_candidate = np.array(errors["reference"]), np.array(errors["candidate"])

    pairs = list(zip(reference, candidate, strict=True))
    n = len(photos)
    result = {
        "photos": n,
        "searches": {"reference": args.reference, "candidate": args.candidate},
        "found": {"reference": sum(map(bool, reference)), "candidate": sum(map(bool, candidate))},
        "found_by_one_only": {
            "reference": sum(bool(a) and not b for a, b in pairs),
            "candidate": sum(bool(b) and not a for a, b in pairs),
        },
        "faces_found": {
            "reference": sum(map(len, reference)),
            "candidate": sum(map(len, candidate)),
        },
        "photos_with_fewer_faces": {
            "reference": sum(len(a) < len(b) for a, b in pairs),
            "candidate": sum(len(b) < len(a) for a, b in pairs),
        },
        "centre_face_lost": {
            "reference": lost_centre_faces(candidate, reference, photos),
            "candidate": lost_centre_faces(reference, candidate, photos),
        },
        "same_largest_box": sum(bool(a) and largest(a) == largest(b) for a, b in pairs),
        "largest_box_on_another_face": sum(
            bool(a) and bool(b) and overlap(largest(a), largest(b)) < 0.3 for a, b in pairs
        ),
        "detect_ms_per_photo": {
            "reference": 1e3 * reference_cpu / n,
            "candidate": 1e3 * candidate_cpu / n,
        },
        "differing_boxes": {
            "photos": len(differ),
            "facemesh_face_missed": missed,
            "box_on_facemesh_face_differs": len(e_reference),
            "error_in_eye_corner_distances": {
                "reference_box": summary(e_reference),
                "candidate_box": summary(e_candidate),
            },
            "candidate_closer": float((e_candidate < e_reference).mean()),
        },
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "command": (
            f"python benchmarks/detection_search.py --reference {args.reference} "
            f"--candidate {args.candidate} --step {args.step}"
        ),
    }
    print(json.dumps(result, indent=2))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
