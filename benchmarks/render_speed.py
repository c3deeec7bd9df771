"""Time ``apply_mask`` alone (no detection, no codec) per template, single-threaded.

Budget: <= 1 ms for an aligned 112x112 crop (issue 8; CPU time, one core, OpenCV on one
thread). ``--compare-match`` also times every render without the photographic match (the
face's blur and noise measured, the mask blurred and grained to match), in the same rounds, so
the match's cost is read under the same load. Landmarks are found once per photo beforehand;
each round renders every face once, in sequence (different images, not one image repeated),
each with its own colour / texture drawn from the policy, so the figures include recolouring
and texturing at their usual rates. Prints the machine (CPU model, cores, caches, load), then
the best of several rounds, as wall-clock and as CPU time (the latter is steadier on a busy
machine). The warp map runs as numba's kernel (``--kernels numba``, the default: what a run of
more than a few hundred faces uses, see ``maskgen/compiled.py``) or in numpy (``--kernels
numpy``: a small run's).

    python benchmarks/render_speed.py [--lfw ../shared/data/lfw/lfw-deepfunneled] [-n 100]
        [--compare-match] [--kernels numba|numpy]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np
from augment_speed import machine

from maskgen import compiled
from maskgen.faces import align_face, five_points, load_face_finder
from maskgen.masks import MaskSpec, apply_mask, load_templates, load_textures, sample_mask_params
from maskgen.masks.photometry import NO_MATCH
from maskgen.masks.render import prepare_render

REPO = Path(__file__).resolve().parents[1]


def _faces(lfw: Path, n: int) -> tuple[list, list]:
    """(photo, landmarks) pairs at 250x250 and their aligned 112x112 crops."""
    finder = load_face_finder()
    people = sorted(p for p in lfw.iterdir() if p.is_dir())
    photos, crops = [], []
    for person in people[:: max(1, len(people) // n)][:n]:
        rgb = cv2.cvtColor(cv2.imread(str(sorted(person.glob("*.jpg"))[0])), cv2.COLOR_BGR2RGB)
        faces = finder.find_faces(rgb, "detect")
        if not faces:
            continue
        photos.append((rgb, faces[0].landmarks))
        crop = align_face(rgb, five_points(faces[0].landmarks))
        crops.append((crop, finder.find_faces(crop, "aligned")[0].landmarks))
    return photos, crops


def _time(
    items: list, mask_type: str | None, repeats: int, match: object = None
) -> tuple[float, float]:
    """Best-of-``repeats`` mean (wall ms, CPU ms) per apply_mask over the items; each round
    draws fresh params. CPU time is reported too: it is what a loaded machine distorts least.
    ``match`` is passed to apply_mask (None: measured on each face; NO_MATCH: none)."""
    templates = load_templates()
    textures = load_textures()
    spec = MaskSpec(mask_types=(mask_type,) if mask_type else None)
    rng = np.random.default_rng(0)
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        jobs = []
        for rgb, landmarks in items:
            params = sample_mask_params(rng, spec, templates, textures)
            texture = textures[params.texture] if params.texture else None
            jobs.append((rgb, landmarks, templates[params.mask_type], params, texture, match))
        for job in jobs[:3]:  # warm the level caches
            apply_mask(*job)
        wall, cpu = time.perf_counter(), time.process_time()
        for job in jobs:
            apply_mask(*job)
        best_wall = min(best_wall, (time.perf_counter() - wall) / len(jobs) * 1000.0)
        best_cpu = min(best_cpu, (time.process_time() - cpu) / len(jobs) * 1000.0)
    return best_wall, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lfw", type=Path, default=REPO.parent / "shared/data/lfw/lfw-deepfunneled"
    )
    parser.add_argument("-n", type=int, default=100, help="photos")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--compare-match", action="store_true", help="also time renders without the match"
    )
    parser.add_argument(
        "--kernels",
        choices=("numba", "numpy"),
        default="numba",
        help="the warp map's form (default numba: a long run's)",
    )
    args = parser.parse_args()
    os.environ[compiled.KERNELS_ENV] = args.kernels  # fixes the choice for this process
    cv2.setNumThreads(1)
    print(machine())
    print(f"kernels: {args.kernels}")
    photos, crops = _faces(args.lfw, args.n)
    prepare_render()  # numba's start is not a render's cost
    print(f"{len(crops)} faces; ms per render, best of {args.repeats} rounds (wall / CPU)")
    print(f"{'template':24s} {'112x112 wall':>13s} {'CPU':>7s} {'250x250 wall':>13s} {'CPU':>7s}")
    for mask_type in [*load_templates(), None]:
        modes = [("", None), (" no match", NO_MATCH)] if args.compare_match else [("", None)]
        for label, match in modes:
            small = _time(crops, mask_type, args.repeats, match)
            large = _time(photos, mask_type, args.repeats, match)
            name = (mask_type or "random mix") + label
            print(f"{name:24s} {small[0]:13.3f} {small[1]:7.3f} {large[0]:13.3f} {large[1]:7.3f}")


if __name__ == "__main__":
    main()
