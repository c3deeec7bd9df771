"""Measure where dlib's HOG detector puts the face box on ArcFace-aligned 112x112 crops.

maskgen's ``aligned`` face mode skips detection and fits landmarks inside this fixed box, so the
box must be the one the detector would draw. This script aligns LFW photos, runs the detector on
each crop (upsampled 2x: the face is near dlib's 80 px minimum), prints the median box (the value
of ``maskgen.faces.crops.ALIGNED_BOX_112``) and how far landmarks fitted in that fixed box sit
from those fitted on the original photo and carried into the crop.

    python benchmarks/measure_aligned_box.py [--lfw ../shared/data/lfw/lfw-deepfunneled] [-n 300]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import dlib
import numpy as np

from maskgen.faces import align_face, five_points, load_face_finder
from maskgen.faces.align import ARCFACE_TEMPLATE_112, estimate_similarity
from maskgen.faces.landmarks import aligned_face_box

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_lfw = REPO.parent / "shared/data/lfw/lfw-deepfunneled"
    parser.add_argument("--lfw", type=Path, default=default_lfw)
    parser.add_argument("-n", type=int, default=300)
    args = parser.parse_args()

    finder = load_face_finder()
    detector = dlib.get_frontal_face_detector()
    people = sorted(p for p in args.lfw.iterdir() if p.is_dir())
    step = max(1, len(people) // args.n)
    boxes, errors = [], []
    for person in people[::step][: args.n]:
        rgb = cv2.cvtColor(cv2.imread(str(sorted(person.glob("*.jpg"))[0])), cv2.COLOR_BGR2RGB)
        faces = finder.find_faces(rgb, "detect")
        if not faces:
            continue
        points = five_points(faces[0].landmarks)
        crop = align_face(rgb, points)
        matrix = estimate_similarity(points, ARCFACE_TEMPLATE_112)
        carried = faces[0].landmarks @ matrix[:, :2].T + matrix[:, 2]
        fitted = finder.fit_landmarks(crop, aligned_face_box(112, 112))
        errors.append(np.linalg.norm(fitted - carried, axis=1).mean())
        rects = detector(cv2.resize(crop, (224, 224), interpolation=cv2.INTER_CUBIC), 1)
        if len(rects):
            r = rects[0]
            boxes.append([r.left() / 2, r.top() / 2, r.right() / 2, r.bottom() / 2])
    box = np.median(np.array(boxes), axis=0)
    print(f"crops: {len(errors)}, detected on the crop: {len(boxes)}")
    print(f"median detector box (x0, y0, x1, y1) in 112 px: {tuple(np.round(box, 1))}")
    print(
        f"landmarks fitted in the fixed box vs carried from the photo: "
        f"mean {np.mean(errors):.2f} px, p95 {np.percentile(errors, 95):.2f} px"
    )


if __name__ == "__main__":
    main()
