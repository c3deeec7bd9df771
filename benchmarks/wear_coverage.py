r"""Do placements cover what they should? Judged with FaceMesh, not the landmarks masks use.

Every mask is warped onto dlib's 68 landmarks; this benchmark finds the face again with
MediaPipe FaceMesh (an independent model, see ``facemesh.py``) on the *original* image and
reads the mask's coverage (> 0.5 = covered) at its points:

    placement        covered                            visible
    correct          nose tip, mouth, chin (lip-chin)   eyes
    nose_uncovered   mouth, chin (lip-chin)             eyes, nose tip, nostrils
    mouth_uncovered  chin (lip-chin), chin bottom       eyes, nose tip, nostrils, mouth
    chin_uncovered   nose tip, mouth                    eyes, chin bottom

"chin (lip-chin)" is the point three quarters of the way from the lower lip's centre to the
chin outline's lowest point. A placement is right when every rule holds. The same renders also
give issue #8's "fit, judged independently" figure for the correct placement: lower nose
bridge, nose tip, mouth and the three lip-to-chin midpoints covered, eyes not (``fit`` below);
how often the correct fit misses each FaceMesh part on its own, the chin's lowest point
included (does the mask reach under the chin?); and on three-quarter views whether the far
cheek is covered. Points outside the image are not judged (a face cut by the frame can neither
show nor hide them).

Whether the mask stays inside the face's outline is judged by a third model: MediaPipe's
selfie segmentation (person against background, same wheel, see ``facemesh.py``). A mask that
reaches past the cheek or the chin into the background puts coverage on pixels the segmenter
calls background (probability of person under 0.5): the share of the correct placement's
coverage there is the mask's *spill*, read on photos and on the crops made from them, split
into frontal and three-quarter views. A control renders the same masks with dlib's landmarks
moved sideways by :data:`CONTROL_SHIFT` of the face's width, a fit that does leave the face,
to show what the measure sees. (The segmenter's edge is soft, about a pixel or two at 250x250,
and hair, neck and shoulders count as person: spill onto them is not seen.)

Sources, each image with one draw of the default policy (type, colour, texture, jitter) rendered
in every placement:

- LFW photos: the first photo of evenly spread people, or every photo (``--photos 0``). dlib's
  detector finds the face, FaceMesh runs on a square around it.
- Crops aligned by another aligner: each of those photos aligned to the ArcFace 112x112
  template by FaceMesh's five points (pupils, nose tip, mouth corners) with random errors as
  other aligners make (:data:`CROP_JITTER`); maskgen finds the landmarks in its aligned mode,
  and the photo's FaceMesh landmarks, carried into the crop, judge it.
- insightface's aligned 112x112 LFW crops (``lfw-fold1.bin``, aligned by insightface, not by
  maskgen; FaceMesh gets a padded copy).

    python benchmarks/wear_coverage.py [--photos 300] [--crops 300] [--failures DIR]
    python benchmarks/wear_coverage.py --photos 0 --crops 1200 \
        --out benchmarks/results/wear_coverage_lfw.json

The first run creates FaceMesh's environment (``facemesh.py``). Faces found on photos are kept
in ``~/.cache/maskgen-bench/wear_coverage_faces.npz`` (``--no-cache`` finds them again). Results
go to ``benchmarks/results/wear_coverage.json`` unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import facemesh

from maskgen.faces import ARCFACE_TEMPLATE_112, Face
from maskgen.faces.align import estimate_similarity
from maskgen.formats import open_reader
from maskgen.images import decode_rgb
from maskgen.masks import Masker, MaskSpec, fit
from maskgen.masks import wear as wear_module
from maskgen.masks.policy import MaskParams, sample_mask_params
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
PARTS = (
    ("lower_bridge", "nose_tip", "nostrils", "mouth", "lip_to_chin", "chin", "chin_bottom"),
    ("eyes",),
)
"""Every part the correct fit should cover (and the eyes it should not), counted one by one
to show where fits fail; ``chin_bottom`` (the lowest point of the face outline) is not part
of the fit criterion but shows whether the mask reaches under the chin."""


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


CHUNK = 500
"""Images read, found and judged at a time (memory stays small on all of LFW)."""
CROP_JITTER = {"point_px": 1.5, "shift_px": 3.0, "degrees": 3.0, "scale": 0.04}
"""The other aligner's error, in 112x112 crop units: each of its five points off by a normal
``point_px`` pixels (its landmark noise), then the whole crop shifted by up to ``shift_px``,
turned by up to ``degrees`` and scaled by up to ``scale`` (uniform), as crops from
another detector and aligner (RetinaFace, MTCNN, insightface's own) differ from one another."""


@dataclass
class Item:
    """One image to judge: ``face`` from maskgen's pipeline, ``mesh`` (478, 2) FaceMesh
    landmarks on the same image (NaN where FaceMesh found none)."""

    key: str
    rgb: np.ndarray
    face: Face | None
    mesh: np.ndarray
    person: np.ndarray | None = None
    """(H, W) float32: the selfie segmenter's probability of person (None: not judged)."""


SPILL_LIMITS = (0.02, 0.05)
"""Spill shares counted: a mask with more of its coverage than this on background."""
CONTROL_SHIFT = 0.1
"""The control's sideways move of the landmarks, in face widths (landmark 0 to 16)."""


def spill(coverage: np.ndarray, person: np.ndarray) -> float:
    """Share of the mask's coverage (H, W, [0, 1]) on pixels ``person`` (H, W probability)
    calls background (< 0.5); 0 for an empty mask."""
    total = float(coverage.sum())
    return float(coverage[person < 0.5].sum()) / total if total > 0 else 0.0


def shifted_sideways(landmarks: np.ndarray, fraction: float) -> np.ndarray:
    """The control's landmarks: moved by ``fraction`` of the face's width (landmark 0 to 16)
    along that line, toward the side the nose tip (30) points to (a turned face's far side)."""
    across = landmarks[16] - landmarks[0]
    toward = (
        1.0
        if float(np.dot(landmarks[30] - (landmarks[0] + landmarks[16]) / 2, across)) >= 0
        else -1.0
    )
    return landmarks + toward * fraction * across


TURNED = 0.3
"""A face counts as a three-quarter view when its nose tip sits this far off the middle of the
face outline: (a - b) / (a + b) of its distances to the outline's sides (FaceMesh 234, 454)."""


def pose_check(mesh: np.ndarray, coverage: np.ndarray) -> tuple[bool, bool] | None:
    """(turned, far cheek covered): on a three-quarter view, does the mask wrap round the far
    cheek (FaceMesh's cheek point below the far cheekbone covered)? None where the face is
    cut by the frame.

    FaceMesh's face outline is not used to judge whether the mask stays inside the face: on a
    turned face it is the fitted 3-D mesh's rim, which runs across the far cheek, inside the
    silhouette the camera sees."""
    height, width = coverage.shape
    if not np.all((mesh >= 0) & (mesh < [width, height])):
        return None
    tip = mesh[1]
    left, right = (mesh[i] for i in facemesh.OUTLINE_SIDES)
    to_left, to_right = np.hypot(*(tip - left)), np.hypot(*(tip - right))
    if abs(to_left - to_right) < TURNED * (to_left + to_right):
        return (False, True)
    far = 0 if to_left < to_right else 1  # the nose turns toward the far side
    cheek = mesh[[facemesh.FAR_CHEEKS[far]]]
    return (True, bool(facemesh.coverage_at(coverage, cheek)[0] > 0.5))


def lfw_photos(n: int, offset: int = 0) -> list[Path]:
    """The first photo of ``n`` evenly spread people (sorted names), from the ``offset``-th;
    every LFW photo (sorted) when ``n`` is 0."""
    lfw = SHARED / "lfw" / "lfw-deepfunneled"
    if n == 0:
        return sorted(lfw.glob("*/*.jpg"))
    people = sorted(p for p in lfw.iterdir() if p.is_dir())
    step = max(1, len(people) // n)
    return [sorted(p.glob("*.jpg"))[0] for p in people[offset::step][:n]]


class FaceCache:
    """dlib faces and FaceMesh landmarks of photos, kept in an .npz between runs (finding
    faces on all of LFW takes most of a run; rendering is what changes). Delete the file, or
    pass ``--no-cache``, after changing the face finder."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.rows: dict[str, np.ndarray] = {}
        if path is not None and path.is_file():
            with np.load(path) as data:
                self.rows = dict(zip(data["keys"].tolist(), data["rows"], strict=True))

    def get(self, key: str) -> np.ndarray | None:
        """(4 + 136 + 956,) float32: box, dlib landmarks, FaceMesh landmarks (NaN = none)."""
        return self.rows.get(key)

    def put(self, key: str, face: Face | None, mesh: np.ndarray) -> None:
        box = np.array(face.box if face else [np.nan] * 4, dtype=np.float32)
        marks = face.landmarks if face else np.full((68, 2), np.nan)
        self.rows[key] = np.concatenate([box, np.ravel(marks), np.ravel(mesh)]).astype(np.float32)

    def save(self) -> None:
        if self.path is None or not self.rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial.npz")
        keys = list(self.rows)
        np.savez(partial, keys=np.array(keys), rows=np.stack([self.rows[k] for k in keys]))
        os.replace(partial, self.path)


def _unpack(row: np.ndarray) -> tuple[Face | None, np.ndarray]:
    box, marks, mesh = row[:4], row[4:140].reshape(68, 2), row[140:].reshape(478, 2)
    face = None if np.isnan(box[0]) else Face(tuple(box.tolist()), marks.copy(), True)
    return face, mesh


def photo_chunks(paths: list[Path], masker: Masker, cache: FaceCache) -> Iterator[list[Item]]:
    """LFW photos in chunks of :data:`CHUNK`, each with its largest dlib face (or None) and
    FaceMesh's landmarks on a square around that face."""
    for start in range(0, len(paths), CHUNK):
        chunk = paths[start : start + CHUNK]
        rgbs = [cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB) for path in chunk]
        keys = [f"{path.parent.name}/{path.name}" for path in chunk]
        todo = [i for i, key in enumerate(keys) if cache.get(key) is None]
        faces = {i: (masker.finder.find_faces(rgbs[i], "detect") or [None])[0] for i in todo}
        if todo:
            meshes = meshes_around([rgbs[i] for i in todo], [faces[i] for i in todo])
            for i, mesh in zip(todo, meshes, strict=True):
                cache.put(keys[i], faces[i], mesh)
            cache.save()
        people = facemesh.person_probability(rgbs)
        yield [
            Item(path.stem, rgb, *_unpack(cache.get(key)), person=person)
            for path, rgb, key, person in zip(chunk, rgbs, keys, people, strict=True)
        ]


def meshes_around(rgbs: list[np.ndarray], faces: list[Face | None]) -> np.ndarray:
    """FaceMesh landmarks (N, 478, 2) on each photo, found on a square around dlib's face (so
    FaceMesh judges the same face); NaN where there is no dlib face."""
    cuts, offsets = [], []
    for rgb, face in zip(rgbs, faces, strict=True):
        x0, y0, x1, y1 = _square_around(face, rgb.shape[:2]) if face else (0, 0, 8, 8)
        cuts.append(rgb[y0:y1, x0:x1])
        offsets.append((x0, y0))
    meshes = facemesh.facemesh_landmarks(cuts)
    return meshes + np.array(offsets, dtype=np.float32)[:, None, :]


def bin_crops(n: int, masker: Masker, offset: int = 0) -> list[Item]:
    """``n`` evenly spread crops of insightface's aligned LFW fold, from the ``offset``-th,
    found in maskgen's aligned mode; FaceMesh runs on a padded copy of each crop."""
    reader = open_reader(SHARED / "bin" / "lfw-fold1.bin")
    keys = list(reader.keys())
    keys = keys[offset :: max(1, len(keys) // n)][:n]
    rgbs = [decode_rgb(reader.read(key).data) for key in keys]
    faces = masker.finder.find_faces_batch(rgbs, "aligned")
    meshes = facemesh.facemesh_landmarks(rgbs, pad=56)
    return [
        Item(f"bin{key}", rgb, found[0] if found else None, mesh)
        for key, rgb, found, mesh in zip(keys, rgbs, faces, meshes, strict=True)
    ]


def facemesh_five(mesh: np.ndarray) -> np.ndarray:
    """The five alignment points from a FaceMesh (478, 2), template order: pupils (iris
    centres 468, 473, image left first), nose tip (1), mouth corners (61, 291, image left
    first). (5, 2) float64."""
    eyes = sorted((mesh[468], mesh[473]), key=lambda p: p[0])
    mouth = sorted((mesh[61], mesh[291]), key=lambda p: p[0])
    return np.array([*eyes, mesh[1], *mouth], dtype=np.float64)


def other_aligner_matrix(mesh: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """2x3 float32: photo -> 112x112 crop, by FaceMesh's five points with
    :data:`CROP_JITTER`'s errors drawn from ``rng``."""
    five = facemesh_five(mesh)
    exact = estimate_similarity(five, ARCFACE_TEMPLATE_112).astype(np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(exact[:, :2]))))
    noisy = five + rng.normal(0.0, CROP_JITTER["point_px"] / scale, five.shape)
    matrix = np.vstack([estimate_similarity(noisy, ARCFACE_TEMPLATE_112), [0.0, 0.0, 1.0]])
    angle = np.radians(rng.uniform(-1, 1) * CROP_JITTER["degrees"])
    zoom = 1.0 + rng.uniform(-1, 1) * CROP_JITTER["scale"]
    shift = rng.uniform(-1, 1, 2) * CROP_JITTER["shift_px"]
    jitter = cv2.getRotationMatrix2D((55.5, 55.5), float(np.degrees(angle)), zoom)
    jitter[:, 2] += shift
    return (jitter @ matrix).astype(np.float32)


def other_aligner_crops(photos: list[Item], masker: Masker) -> list[Item]:
    """112x112 crops of the photos aligned by FaceMesh's five points (another aligner than
    maskgen's and insightface's), found by maskgen in its aligned mode; the photo's FaceMesh
    landmarks carried into the crop judge them. Photos without a FaceMesh face are left out."""
    crops, meshes, keys, people = [], [], [], []
    for item in photos:
        if not np.all(np.isfinite(item.mesh)):
            continue
        matrix = other_aligner_matrix(item.mesh, item_rng(1, item.key))
        crops.append(cv2.warpAffine(item.rgb, matrix, (112, 112), borderValue=0))
        meshes.append(item.mesh @ matrix[:, :2].T + matrix[:, 2])
        keys.append(f"{item.key}_fm")
        people.append(  # beyond the photo: not background anyone saw, so not judged
            None
            if item.person is None
            else cv2.warpAffine(item.person, matrix, (112, 112), borderValue=1.0)
        )
    faces = masker.finder.find_faces_batch(crops, "aligned") if crops else []
    return [
        Item(key, rgb, found[0] if found else None, mesh.astype(np.float32), person)
        for key, rgb, found, mesh, person in zip(keys, crops, faces, meshes, people, strict=True)
    ]


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


class Tally:
    """Counts for one source: per placement judged / right / broken parts, per mask type,
    how often each FaceMesh part is missed by the correct fit, skipped images, failed keys."""

    def __init__(self) -> None:
        self.images = 0
        self.counts = {name: Counter() for name in (*WEAR_PLACEMENTS, "fit_independent")}
        self.by_type: dict[str, Counter] = {}
        self.parts = Counter()
        self.pose = Counter()
        self.spills: dict[str, list[float]] = {}
        self.skipped = Counter()
        self.failed: dict[str, list[str]] = {}

    def add(self, source: str, items: list[Item], masker: Masker, failures_dir: Path | None):
        """Render every placement on each item and count what FaceMesh says."""
        self.images += len(items)
        for item in items:
            if item.face is None:
                self.skipped["no dlib face"] += 1
                continue
            if not same_face(item.face, item.mesh):
                self.skipped["no FaceMesh face (or another face)"] += 1
                continue
            params = sample_mask_params(
                item_rng(0, item.key), masker.spec, masker.templates, masker.textures
            )
            for wear in WEAR_PLACEMENTS:
                image, coverage = masker.render(
                    item.rgb, item.face.landmarks, replace(params, wear=wear)
                )
                if wear == "correct":
                    self.parts.update(failures(item.mesh, coverage, PARTS))
                    self.parts["judged"] += 1
                    pose = pose_check(item.mesh, coverage)
                    self._count_pose(pose)
                    self._count_spill(item, params, masker, coverage, pose)
                rules = [(wear, RULES[wear])] + (
                    [("fit_independent", FIT_RULE)] if wear == "correct" else []
                )
                for name, rule in rules:
                    broken = failures(item.mesh, coverage, rule)
                    self._count(name, wear, params.mask_type, broken, item.key)
                    if broken and failures_dir is not None:
                        _save_failure(
                            failures_dir, f"{source}_{name}_{item.key}", image, item.mesh, broken
                        )

    def _count_spill(
        self,
        item: Item,
        params: MaskParams,
        masker: Masker,
        coverage: np.ndarray,
        pose: tuple[bool, bool] | None,
    ) -> None:
        """The correct placement's spill past the face, and the control's (the same mask on
        landmarks moved sideways), by view; faces cut by the frame are not judged."""
        if item.person is None or pose is None:
            return
        view = "three_quarter" if pose[0] else "frontal"
        assert item.face is not None
        _, moved = masker.render(
            item.rgb, shifted_sideways(item.face.landmarks, CONTROL_SHIFT), params
        )
        self.spills.setdefault(view, []).append(spill(coverage, item.person))
        self.spills.setdefault(f"{view}_control", []).append(spill(moved, item.person))

    def _count_pose(self, pose: tuple[bool, bool] | None) -> None:
        if pose is not None and pose[0]:
            self.pose["turned"] += 1
            self.pose["far_cheek_covered"] += pose[1]

    def _count(self, name: str, wear: str, mask_type: str, broken: list[str], key: str):
        count = self.counts[name]
        count["judged"] += 1
        count["right"] += not broken
        count.update(broken)
        if broken:
            self.failed.setdefault(name, []).append(f"{key}: {', '.join(broken)}")
        if name == wear:
            typed = self.by_type.setdefault(f"{wear}/{mask_type}", Counter())
            typed["judged"] += 1
            typed["right"] += not broken

    def report(self) -> dict:
        judged = self.parts.pop("judged", 0)
        return {
            "images": self.images,
            "skipped": dict(self.skipped),
            "placements": {name: _summary(count) for name, count in self.counts.items()},
            "correct_fit_parts": {
                "judged": judged,
                "missed_pct": {
                    part: round(100.0 * self.parts[part] / judged, 2) if judged else None
                    for part in (*(f"{g} visible" for g in PARTS[0]), "eyes covered")
                },
            },
            "three_quarter_views": {
                "judged": self.pose["turned"],
                "far_cheek_covered_pct": _pct(self.pose["far_cheek_covered"], self.pose["turned"]),
            },
            "spill_past_the_face": {name: _spill_summary(v) for name, v in self.spills.items()},
            "by_mask_type": {name: _summary(count) for name, count in sorted(self.by_type.items())},
            "failed": {name: keys[:300] for name, keys in self.failed.items()},
        }


def _spill_summary(spills: list[float]) -> dict:
    """How many masks were judged, the spill's median and 95th percentile (% of the mask's
    coverage) and the share of masks spilling more than each of :data:`SPILL_LIMITS`."""
    values = np.array(spills)
    return {
        "judged": len(values),
        "median_pct": round(100.0 * float(np.median(values)), 2),
        "p95_pct": round(100.0 * float(np.percentile(values, 95)), 2),
        **{
            f"over_{round(100 * limit)}pct_share": round(100.0 * float(np.mean(values > limit)), 2)
            for limit in SPILL_LIMITS
        },
    }


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


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
    parser.add_argument(
        "--photos", type=int, default=300, help="LFW photos, one per person (0: every photo)"
    )
    parser.add_argument("--crops", type=int, default=300, help="insightface's aligned crops")
    parser.add_argument("--failures", type=Path, default=None, help="save failed renders here")
    parser.add_argument(
        "--offset", type=int, default=0, help="start the even spread this many people/crops in"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=facemesh.env_dir().parent / "wear_coverage_faces.npz",
        help="where found faces are kept between runs",
    )
    parser.add_argument("--no-cache", action="store_true", help="find every face again")
    parser.add_argument(
        "--wrap-margin",
        type=float,
        default=None,
        help="what if: render with maskgen.masks.fit.WRAP_MARGIN set to this (the far cheek's "
        f"wrap, default {fit.WRAP_MARGIN})",
    )
    parser.add_argument(
        "--chin-top",
        type=float,
        default=None,
        help="what if: render with maskgen.masks.wear.CHIN_TOP set to this (where "
        "mouth_uncovered's top edge sits between the lower lip and the chin, default "
        f"{wear_module.CHIN_TOP})",
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "wear_coverage.json"
    )
    args = parser.parse_args()
    if args.failures:
        args.failures.mkdir(parents=True, exist_ok=True)
    if args.wrap_margin is not None:
        fit.WRAP_MARGIN = args.wrap_margin  # a what-if for this process only, read per render
    if args.chin_top is not None:
        wear_module.CHIN_TOP = args.chin_top  # likewise
    start, cpu = time.perf_counter(), time.process_time()
    photo_masker = Masker(MaskSpec(), face_mode="detect")
    crop_masker = Masker(MaskSpec(), face_mode="aligned")
    cache = FaceCache(None if args.no_cache else args.cache)
    tallies = {name: Tally() for name in ("lfw_photos", "other_aligner_crops", "insightface_crops")}
    photos = lfw_photos(args.photos, args.offset)
    for done, items in enumerate(photo_chunks(photos, photo_masker, cache)):
        tallies["lfw_photos"].add("photo", items, photo_masker, args.failures)
        crops = other_aligner_crops(items, crop_masker)
        tallies["other_aligner_crops"].add("fmcrop", crops, crop_masker, args.failures)
        print(f"{min((done + 1) * CHUNK, len(photos))}/{len(photos)} photos", file=sys.stderr)
    if args.crops:
        crops = bin_crops(args.crops, crop_masker, args.offset)
        tallies["insightface_crops"].add("crop", crops, crop_masker, args.failures)
    results = {name: tally.report() for name, tally in tallies.items()}
    report = {
        "benchmark": "wear_coverage",
        "command": " ".join(["python benchmarks/wear_coverage.py", *sys.argv[1:]]),
        "machine": _machine(),
        "landmarks": f"MediaPipe FaceMesh ({facemesh.MEDIAPIPE}, refined, static images)",
        "other_aligner_jitter": CROP_JITTER,
        "wrap_margin": fit.WRAP_MARGIN,
        "chin_top": wear_module.CHIN_TOP,
        "target_pct": {"placements": 95.0, "fit_independent": 99.5},
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
        print(f"{source:14s} three-quarter views: {result['three_quarter_views']}")
        for view, figures in result["spill_past_the_face"].items():
            print(f"{source:14s} spill past the face, {view}: {figures}")
        parts = result["correct_fit_parts"]["missed_pct"]
        print(
            f"{source:14s} correct fit misses %: " + ", ".join(f"{k} {v}" for k, v in parts.items())
        )
        if result["skipped"]:
            print(f"{source:14s} skipped: {result['skipped']}")


if __name__ == "__main__":
    main()
