"""Which detected face is a photo's main face: largest first against insightface's rule.

LFW centres each photo's subject (the deep-funneled release crops 250x250 around the person the
photo is filed under), so on a photo where the detector finds several faces, one of them within
``--centre-px`` (30) of the centre, that one is the subject: an outside judge of which face
``align``, ``embed`` and ``verify`` should take. The script runs maskgen's detector
(``FaceFinder.detect``: boxes only, no landmarks) on every LFW photo and, on those with several
faces, counts how often each ordering puts the subject first:

- largest first (box area; maskgen before 2026-11-30);
- insightface's rule (box area minus twice the squared distance, px², of the box's centre from
  the image's centre: ``maskgen.faces.landmarks.main_face_first``).

    python benchmarks/main_face.py [--every K] [--json benchmarks/results/main_face.json]
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

from maskgen.faces import Face, load_face_finder
from maskgen.faces.landmarks import main_face_first

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MASKGEN_SHARED_DATA", REPO.parent / "shared" / "data"))


def centre_offset(box: tuple[float, float, float, float], height: int, width: int) -> float:
    """Distance (px) of a box's centre from the image's centre."""
    x0, y0, x1, y1 = box
    return float(np.hypot((x0 + x1) / 2 - width / 2, (y0 + y1) / 2 - height / 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw", type=Path, default=SHARED / "lfw" / "lfw-deepfunneled")
    parser.add_argument("--every", type=int, default=1, help="every Kth photo")
    parser.add_argument("--centre-px", type=float, default=30.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    finder = load_face_finder()
    photos = sorted(args.lfw.glob("*/*.jpg"))[:: args.every]
    counts = {"photos": len(photos), "several_faces": 0, "subject_found": 0}
    picks = {"largest": 0, "insightface": 0}
    start = time.process_time()
    for path in photos:
        rgb = cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1]
        height, width = rgb.shape[:2]
        boxes = finder.detect(rgb)
        if len(boxes) < 2:
            continue
        counts["several_faces"] += 1
        faces = [Face(box=box, landmarks=np.zeros((68, 2), np.float32)) for box in boxes]
        subject = min(faces, key=lambda f: centre_offset(f.box, height, width))
        if centre_offset(subject.box, height, width) > args.centre_px:
            continue
        counts["subject_found"] += 1
        picks["largest"] += max(faces, key=lambda f: f.area) is subject
        picks["insightface"] += main_face_first(faces, height, width)[0] is subject
    result = {
        **counts,
        "subject_first": picks,
        "cpu_s": round(time.process_time() - start, 1),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "command": "python benchmarks/main_face.py"
        + (f" --every {args.every}" if args.every != 1 else ""),
    }
    print(
        f"{counts['photos']} photos, {counts['several_faces']} with several faces, "
        f"{counts['subject_found']} of them with one within {args.centre_px:g} px of the centre: "
        f"the subject first by largest area {picks['largest']}, by insightface's rule "
        f"{picks['insightface']} ({result['cpu_s']} CPU s)"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
