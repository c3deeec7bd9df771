"""The retry search's views at their own size only, against also at twice their size.

Where dlib's detector finds no face in a photo (at its own size, then at twice it), maskgen
searches a contrast-equalised copy and copies turned by ±10/20/30° (``RETRY_ANGLES``). This
script takes every LFW photo that the first search misses and runs the retry search both ways:
each view at its own size only (maskgen's choice), and each view also at twice its size where
that finds nothing (maskgen before). It reports the photos each finds a face in, whether the
faces agree (the largest box within 10 px), and the CPU time per photo, on the missed photos and
on the ones where neither finds a face (what a photo with no face costs).

``--side S --turn D`` shrinks every photo to S x S px and turns it by D degrees first: small
photos, whose faces are mostly under the detector's 80 px window, with tilted heads (maskgen
keeps the twice-size search of the views for a photo under 160 px); ``--every K`` takes every
Kth photo.

    python benchmarks/retry_views.py [--json benchmarks/results/retry_views.json]
    python benchmarks/retry_views.py --side 112 --turn 40 --every 10 \
        --json benchmarks/results/retry_views_112_turned.json
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

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MASKGEN_SHARED_DATA", REPO.parent / "shared" / "data"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--json", type=Path, default=REPO / "benchmarks" / "results" / "retry_views.json"
    )
    parser.add_argument("--side", type=int, default=None, help="shrink each photo to S x S")
    parser.add_argument("--turn", type=float, default=0.0, help="then turn it by D degrees")
    parser.add_argument("--every", type=int, default=1, help="every Kth LFW photo")
    args = parser.parse_args()
    finder = load_face_finder(None)
    files = sorted((SHARED / "lfw" / "lfw-deepfunneled").glob("*/*.jpg"))[:: args.every]
    missed = []
    for path in files:
        rgb = _prepared(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), args)
        if not finder.detect(rgb):
            missed.append((path.name, rgb))
    found: dict[str, list] = {}
    seconds: dict[str, list[float]] = {}
    for name, upsample in (("own_size", False), ("also_twice", True)):
        found[name], seconds[name] = [], []
        for _, rgb in missed:
            started = time.process_time()
            faces = finder._detect_turned(rgb, upsample=upsample)
            seconds[name].append(time.process_time() - started)
            found[name].append(max(faces, key=lambda f: f.area).box if faces else None)
    pairs = list(zip(found["own_size"], found["also_twice"], strict=True))
    agree = int(
        sum(
            a is not None and b is not None and np.abs(np.subtract(a, b)).max() <= 10
            for a, b in pairs
        )
    )
    neither = [i for i, (a, b) in enumerate(pairs) if a is None and b is None]
    result = {
        "lfw_photos": len(files),
        "missed_by_first_search": len(missed),
        "found": {name: sum(box is not None for box in boxes) for name, boxes in found.items()},
        "found_by_one_only": {
            "own_size": [missed[i][0] for i, (a, b) in enumerate(pairs) if a and not b],
            "also_twice": [missed[i][0] for i, (a, b) in enumerate(pairs) if b and not a],
        },
        "same_face_found": agree,
        "cpu_ms_per_missed_photo": {k: 1e3 * float(np.mean(v)) for k, v in seconds.items()},
        "cpu_ms_per_photo_with_no_face": {
            k: 1e3 * float(np.mean([v[i] for i in neither])) for k, v in seconds.items()
        },
        "photos_with_no_face": len(neither),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "command": "python benchmarks/retry_views.py"
        + (f" --side {args.side}" if args.side else "")
        + (f" --turn {args.turn:g}" if args.turn else "")
        + (f" --every {args.every}" if args.every > 1 else ""),
    }
    print(json.dumps(result, indent=2))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


def _prepared(rgb: np.ndarray, args: argparse.Namespace) -> np.ndarray:
    """The photo shrunk to ``--side`` and turned by ``--turn`` (edges replicated)."""
    if args.side:
        rgb = cv2.resize(rgb, (args.side, args.side), interpolation=cv2.INTER_AREA)
    if args.turn:
        height, width = rgb.shape[:2]
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), args.turn, 1.0)
        rgb = cv2.warpAffine(rgb, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
    return rgb


if __name__ == "__main__":
    main()
