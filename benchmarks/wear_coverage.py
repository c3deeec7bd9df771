"""Do placements cover what they should? Judged with FaceMesh, not the landmarks masks use.

Every mask is warped onto dlib's 68 landmarks; this benchmark finds the face again with
MediaPipe FaceMesh (an independent model, see ``facemesh.py``) on the *original* image and
reads the mask's coverage (> 0.5 = covered) at its points:

    placement        covered                            visible
    correct          nose tip, mouth, chin (lip-chin)   eyes
    nose_uncovered   mouth, chin (lip-chin)             eyes, nose tip, nostrils
    mouth_uncovered  chin (lip-chin), chin bottom       eyes, nose tip, nostrils, mouth
    chin_uncovered   nose tip, mouth                    eyes, chin bottom

"chin (lip-chin)" is the point halfway from the lower lip's centre to the chin outline's
lowest point. A placement is right when every rule holds. The same renders also give issue
#8's "fit, judged independently" figure for the correct placement: lower nose bridge, nose tip,
mouth and the three lip-to-chin midpoints covered, eyes not. Points outside the image are not
judged (a face cut by the frame can neither show nor hide them).

Sources: LFW photos (the first photo of evenly spread people; dlib's detector finds the face,
FaceMesh runs on a crop around it) and insightface's aligned 112x112 LFW crops
(``lfw-fold1.bin``, aligned by insightface, not by maskgen; FaceMesh gets a padded copy). Each
image gets one draw of the default policy (type, colour, texture, jitter), rendered in every
placement.

    python benchmarks/wear_coverage.py [--photos 300] [--crops 300] [--failures DIR]

The first run creates FaceMesh's environment (``facemesh.py``). Results go to
``benchmarks/results/wear_coverage.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import facemesh

from maskgen.faces import Face
from maskgen.formats import open_reader
from maskgen.images import decode_rgb
from maskgen.masks import Masker, MaskSpec
from maskgen.masks.wear import WEAR_PLACEMENTS
from maskgen.seeding import item_rng

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"

GROUPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "eyes": lambda mesh: mesh[list(facemesh.EYES)],
    "lower_bridge": lambda mesh: mesh[list(facemesh.LOWER_BRIDGE)],
    "nose_tip": lambda mesh: mesh[list(facemesh.NOSE_TIP)],
    "nostrils": lambda mesh: mesh[list(facemesh.NOSTRILS)],
    "mouth": lambda mesh: mesh[list(facemesh.MOUTH)],
    "chin": lambda mesh: facemesh.lip_to_chin(mesh, 0.75)[:1],
    "lip_to_chin": lambda mesh: facemesh.lip_to_chin(mesh),
    "chin_bottom": lambda mesh: mesh[list(facemesh.CHIN_BOTTOM)],
}
"""Named point sets on a FaceMesh (478, 2) -> (K, 2)."""

RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "correct": (("nose_tip", "mouth", "chin"), ("eyes",)),
    "nose_uncovered": (("mouth", "chin"), ("eyes", "nose_tip", "nostrils")),
    "mouth_uncovered": (("chin", "chin_bottom"), ("eyes", "nose_tip", "nostrils", "mouth")),
    "chin_uncovered": (("nose_tip", "mouth"), ("eyes", "chin", "chin_bottom")),
}
"""Per placement: (groups that must be covered, groups that must be visible)."""
FIT_RULE = (("lower_bridge", "nose_tip", "mouth", "lip_to_chin"), ("eyes",))
"""Issue #8's independent fit criterion, for the correct placement."""


def failures(mesh: np.ndarray, coverage: np.ndarray, rule: tuple[Sequence[str], ...]) -> list[str]:
    """The rule's broken parts, e.g. ``["mouth covered"]`` ([] = right); NaN (outside the
    image) is never a failure."""
    must_cover, must_show = rule
    broken = []
    for name in must_cover:
        if np.any(facemesh.coverage_at(coverage, GROUPS[name](mesh)) <= 0.5):
            broken.append(f"{name} visible")
    for name in must_show:
        if np.any(facemesh.coverage_at(coverage, GROUPS[name](mesh)) > 0.5):
            broken.append(f"{name} covered")
    return broken


def lfw_photos(n: int, offset: int = 0) -> list[Path]:
    """The first photo of ``n`` evenly spread people (sorted names), from the ``offset``-th."""
    lfw = SHARED / "lfw" / "lfw-deepfunneled"
    people = sorted(p for p in lfw.iterdir() if p.is_dir())
    step = max(1, len(people) // n)
    return [sorted(p.glob("*.jpg"))[0] for p in people[offset::step][:n]]


def read_photos(
    n: int, masker: Masker, offset: int = 0
) -> list[tuple[str, np.ndarray, Face | None]]:
    """(key, image, largest dlib face or None) for ``n`` LFW photos."""
    items = []
    for path in lfw_photos(n, offset):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        faces = masker.finder.find_faces(rgb, "detect")
        items.append((path.stem, rgb, faces[0] if faces else None))
    return items


def read_crops(
    n: int, masker: Masker, offset: int = 0
) -> list[tuple[str, np.ndarray, Face | None]]:
    """(key, image, face) for ``n`` evenly spread crops of insightface's aligned LFW fold,
    from the ``offset``-th."""
    reader = open_reader(SHARED / "bin" / "lfw-fold1.bin")
    keys = list(reader.keys())
    keys = keys[offset :: max(1, len(keys) // n)][:n]
    items = []
    for key in keys:
        rgb = decode_rgb(reader.read(key).data)
        items.append((f"bin{key}", rgb, masker.finder.find_faces(rgb, "aligned")[0]))
    return items


def meshes_for(items: list[tuple[str, np.ndarray, Face | None]], aligned: bool) -> np.ndarray:
    """FaceMesh landmarks (N, 478, 2) on each original image: crops padded whole, photos
    cut to a square around dlib's face (so FaceMesh judges the same face)."""
    if aligned:
        return facemesh.facemesh_landmarks([rgb for _, rgb, _ in items], pad=56)
    cuts, offsets = [], []
    for _, rgb, face in items:
        x0, y0, x1, y1 = _square_around(face, rgb.shape[:2]) if face else (0, 0, 8, 8)
        cuts.append(rgb[y0:y1, x0:x1])
        offsets.append((x0, y0))
    meshes = facemesh.facemesh_landmarks(cuts)
    return meshes + np.array(offsets, dtype=np.float32)[:, None, :]


def _square_around(face: Face, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """A square twice the size of the landmarks' box, about its centre, inside the image."""
    low, high = face.landmarks.min(axis=0), face.landmarks.max(axis=0)
    centre, half = (low + high) / 2, (high - low).max()
    height, width = shape
    x0, y0 = np.maximum(np.floor(centre - half), 0).astype(int)
    x1 = min(int(np.ceil(centre[0] + half)), width)
    y1 = min(int(np.ceil(centre[1] + half)), height)
    return int(x0), int(y0), x1, y1


def same_face(face: Face, mesh: np.ndarray) -> bool:
    """FaceMesh found the face dlib found: its nose tip lies inside dlib's landmark box."""
    if not np.all(np.isfinite(mesh)):
        return False
    low, high = face.landmarks.min(axis=0), face.landmarks.max(axis=0)
    return bool(np.all(mesh[1] >= low) and np.all(mesh[1] <= high))


def judge(source: str, items, masker: Masker, aligned: bool, failures_dir: Path | None) -> dict:
    """Counts for one source: per placement judged/right/broken parts, and the fit rule."""
    meshes = meshes_for(items, aligned)
    counts = {name: Counter() for name in (*WEAR_PLACEMENTS, "fit_independent")}
    by_type: dict[str, Counter] = {}
    skipped = Counter()
    for (key, rgb, face), mesh in zip(items, meshes, strict=True):
        if face is None:
            skipped["no dlib face"] += 1
            continue
        if not same_face(face, mesh):
            skipped["no FaceMesh face (or another face)"] += 1
            continue
        params = masker.mask_faces(rgb, [face], item_rng(0, key)).applied[0].params
        for wear in WEAR_PLACEMENTS:
            image, coverage = masker.render(rgb, face.landmarks, replace(params, wear=wear))
            rules = [(wear, RULES[wear])] + (
                [("fit_independent", FIT_RULE)] if wear == "correct" else []
            )
            for name, rule in rules:
                broken = failures(mesh, coverage, rule)
                count = counts[name]
                count["judged"] += 1
                count["right"] += not broken
                count.update(broken)
                if name == wear:
                    typed = by_type.setdefault(f"{wear}/{params.mask_type}", Counter())
                    typed["judged"] += 1
                    typed["right"] += not broken
                if broken and failures_dir is not None:
                    _save_failure(failures_dir, f"{source}_{name}_{key}", image, mesh, broken)
    return {
        "images": len(items),
        "skipped": dict(skipped),
        "placements": {name: _summary(count) for name, count in counts.items()},
        "by_mask_type": {name: _summary(count) for name, count in sorted(by_type.items())},
    }


def _summary(count: Counter) -> dict:
    judged = count.pop("judged", 0)
    right = count.pop("right", 0)
    return {
        "judged": judged,
        "right": right,
        "right_pct": round(100.0 * right / judged, 2) if judged else None,
        "broken": dict(count.most_common()),
    }


def _save_failure(folder: Path, name: str, image: np.ndarray, mesh: np.ndarray, broken) -> None:
    """The render with the judged FaceMesh points drawn on it."""
    out = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    scale = max(1, 300 // max(out.shape[:2]))
    out = cv2.resize(out, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    for group in GROUPS.values():
        for x, y in group(mesh):
            if np.isfinite(x) and np.isfinite(y):
                centre = (round(float(x) * scale), round(float(y) * scale))
                cv2.circle(out, centre, max(1, scale // 2), (0, 0, 255), -1)
    cv2.imwrite(str(folder / f"{name}_{'-'.join(b.replace(' ', '') for b in broken)}.png"), out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=300, help="LFW photos (one per person)")
    parser.add_argument("--crops", type=int, default=300, help="aligned 112x112 LFW crops")
    parser.add_argument("--failures", type=Path, default=None, help="save failed renders here")
    parser.add_argument(
        "--offset", type=int, default=0, help="start the even spread this many people/crops in"
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "wear_coverage.json"
    )
    args = parser.parse_args()
    if args.failures:
        args.failures.mkdir(parents=True, exist_ok=True)
    start, cpu = time.perf_counter(), time.process_time()
    photo_masker = Masker(MaskSpec(), face_mode="detect")
    crop_masker = Masker(MaskSpec(), face_mode="aligned")
    results = {
        "lfw_photos": judge(
            "photo",
            read_photos(args.photos, photo_masker, args.offset),
            photo_masker,
            False,
            args.failures,
        ),
        "aligned_crops": judge(
            "crop",
            read_crops(args.crops, crop_masker, args.offset),
            crop_masker,
            True,
            args.failures,
        ),
    }
    report = {
        "benchmark": "wear_coverage",
        "command": " ".join(["python benchmarks/wear_coverage.py", *sys.argv[1:]]),
        "machine": _machine(),
        "landmarks": f"MediaPipe FaceMesh ({facemesh.MEDIAPIPE}, refined, static images)",
        "target_pct": 95.0,
        "wall_s": round(time.perf_counter() - start, 1),
        "cpu_s_main_process": round(time.process_time() - cpu, 1),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    _print_table(results)
    print(f"written {args.out} ({report['wall_s']} s)")


def _machine() -> str:
    """CPU model and core count (Linux), else what ``platform`` knows."""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8")
        model = next(
            line.split(":", 1)[1].strip() for line in info.splitlines() if "model name" in line
        )
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"{model}, {os.cpu_count()} cores, {platform.system()}"


def _print_table(results: dict) -> None:
    print(f"{'source':14s} {'placement':16s} {'judged':>7s} {'right %':>8s}  most common faults")
    for source, result in results.items():
        for name, summary in result["placements"].items():
            faults = ", ".join(f"{k} {v}" for k, v in list(summary["broken"].items())[:3])
            pct = summary["right_pct"]
            print(
                f"{source:14s} {name:16s} {summary['judged']:7d} "
                f"{pct if pct is not None else float('nan'):8.2f}  {faults}"
            )
        if result["skipped"]:
            print(f"{source:14s} skipped: {result['skipped']}")


if __name__ == "__main__":
    main()
