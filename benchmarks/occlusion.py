"""How many faces the face checks leave unmasked (``occluded``, ``too_turned``,
``out_of_frame``, ``doubtful_face``), on LFW photos, on the aligned crops of ``lfw-fold1.bin``
and on all of LFW aligned: what the twin loses to them.

A fixed random sample of LFW photos (``-n``, seed 0; more than 13,233 takes them all) goes
through :class:`maskgen.masks.Masker` as ``maskgen augment`` would; ``--sheet DIR`` writes
contact sheets of the flagged faces and of as many unflagged ones, to judge precision and
recall by eye. ``crops`` aligns every LFW photo's first face as ``maskgen align`` does and
counts the crops left ``occluded`` in aligned mode, with the crops' rule that crossing edges
reach into the face (``JAW_CROSSING_INSIDE_MIN_ALIGNED``) and without it; ``--sheet`` adds the
crops the rule passes, to check by eye that none has anything in front of its face. ``speed``
times the checks (CPU time, one OpenCV thread) on lfw-mini's aligned crops (batches of 128) and
on 300 LFW photos (one at a time): ``Masker.mask_images`` per image with and without them, and
the checks alone. Results are merged into ``benchmarks/results/occlusion.json``.

``rotated`` (not run by default) counts the faces left ``occluded`` on LFW photos turned in
the image plane, with and without black corners, and dlib's jaw-point error on them.

    python benchmarks/occlusion.py [-n 2000] [--sheet DIR] [--parts photos,bin,crops,speed]
    python benchmarks/occlusion.py --parts rotated [--rotated-n 200] [--rotated-angles 15,35]
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from maskgen.masks import Masker, MaskSpec
from maskgen.seeding import item_rng

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def photo_rates(n: int, sheet: Path | None) -> dict:
    photos = sorted((DATA / "lfw" / "lfw-deepfunneled").glob("*/*.jpg"))
    chosen = sorted(np.random.default_rng(0).permutation(len(photos))[:n])
    counts: Counter[str] = Counter({"sample": min(n, len(photos))})
    masker = Masker(MaskSpec())
    flagged: list[tuple[str, np.ndarray]] = []
    clear: list[tuple[str, np.ndarray]] = []
    started = time.process_time()
    for index in chosen:
        path = photos[index]
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        outcome = masker.mask_image(rgb, item_rng(0, path.name))
        counts["photos"] += 1
        counts[outcome.reason or "masked"] += 1
        counts["faces_not_masked"] += len(outcome.skipped)
        for face in outcome.skipped:
            counts[f"faces_{face.reason}"] += 1
        if outcome.skipped:
            flagged.append((f"{outcome.skipped[0].reason[:4]} {path.stem}", rgb))
        elif outcome.masked:
            clear.append((path.stem, rgb))
    counts["cpu_seconds"] = round(time.process_time() - started)
    if sheet is not None:
        pick = np.random.default_rng(1).permutation(len(clear))[: len(flagged)]
        _write_sheet(sheet / "flagged.png", flagged)
        _write_sheet(sheet / "unflagged_sample.png", [clear[i] for i in pick])
    return dict(counts)


def bin_rates() -> dict:
    with open(DATA / "bin" / "lfw-fold1.bin", "rb") as file:
        images, _ = pickle.load(file, encoding="bytes")
    crops = [
        cv2.cvtColor(cv2.imdecode(np.frombuffer(b, np.uint8), 1), cv2.COLOR_BGR2RGB) for b in images
    ]
    masker = Masker(MaskSpec(), face_mode="aligned")
    counts: Counter[str] = Counter()
    for start in range(0, len(crops), masker.batch_size):
        batch = crops[start : start + masker.batch_size]
        rngs = [item_rng(0, start + i) for i in range(len(batch))]
        for outcome in masker.mask_images(batch, rngs):
            counts["crops"] += 1
            counts[outcome.reason or "masked"] += 1
    return dict(counts)


def crop_rates(sheet: Path | None) -> dict:
    """Aligned crops of every LFW photo's first detected face, in aligned mode: how many are
    left ``occluded`` with the inside rule and without it (the bound set below any share)."""
    from maskgen.faces import align_face, five_points, visibility

    photos = sorted((DATA / "lfw" / "lfw-deepfunneled").glob("*/*.jpg"))
    finder = Masker(MaskSpec()).finder
    masker = Masker(MaskSpec(), face_mode="aligned")
    bound = visibility.JAW_CROSSING_INSIDE_MIN_ALIGNED
    counts: Counter[str] = Counter()
    passed: list[tuple[str, np.ndarray]] = []
    started = time.process_time()
    for start in range(0, len(photos), masker.batch_size):
        paths = photos[start : start + masker.batch_size]
        images = [cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB) for path in paths]
        found = finder.find_faces_batch(images, "detect")
        named = [
            (path.stem, align_face(rgb, five_points(faces[0].landmarks)))
            for path, rgb, faces in zip(paths, images, found, strict=True)
            if faces
        ]
        crops = [crop for _, crop in named]
        faces = masker.finder.find_faces_batch(crops, "aligned")
        try:
            visibility.JAW_CROSSING_INSIDE_MIN_ALIGNED = -1.0
            without = masker.face_problems(crops, faces)
        finally:
            visibility.JAW_CROSSING_INSIDE_MIN_ALIGNED = bound
        with_rule = masker.face_problems(crops, faces)
        for (name, crop), old, new in zip(named, without, with_rule, strict=True):
            counts["crops"] += 1
            counts["occluded"] += new[:1] == ["occluded"]
            counts["occluded_without_inside_rule"] += old[:1] == ["occluded"]
            if old != new:
                passed.append((name, crop))
    counts["cpu_seconds"] = round(time.process_time() - started)
    if sheet is not None:
        _write_sheet(sheet / "crops_the_inside_rule_passes.png", passed)
    return dict(counts)


def rotated_rates(n: int = 200, low: float = 15.0, high: float = 35.0) -> dict:
    """LFW photos turned in the image plane (``n`` of them, seed 0; each by an angle drawn from
    +-[``low``, ``high``] degrees, about the centre, black corners as ``cv2.warpAffine`` leaves
    them): faces left ``occluded`` on the photo as it is, turned, and turned with the corners
    filled from the border (``BORDER_REPLICATE``), which tells whether the black corners
    decide a flag; and turned, each face checked on the photo turned back upright about it
    (its eye line made level) with its landmarks fitted there. And the median error of dlib's
    jaw points (2-14, in inter-ocular distances) on the turned photo against the upright
    photo's fit turned likewise, as fitted and refitted upright."""
    from maskgen.faces import visibility

    photos = sorted((DATA / "lfw" / "lfw-deepfunneled").glob("*/*.jpg"))
    rng = np.random.default_rng(0)
    chosen = sorted(rng.permutation(len(photos))[:n])
    angles = rng.uniform(low, high, n) * rng.choice([-1, 1], n)
    masker = Masker(MaskSpec())
    finder = masker.finder
    counts: Counter[str] = Counter({"photos": n})
    errors: dict[str, list[float]] = {"as_fitted": [], "refitted_upright": []}
    for index, angle in zip(chosen, angles, strict=True):
        rgb = cv2.cvtColor(cv2.imread(str(photos[index])), cv2.COLOR_BGR2RGB)
        size = (rgb.shape[1], rgb.shape[0])
        turn = cv2.getRotationMatrix2D((size[0] / 2, size[1] / 2), angle, 1.0)
        views = {
            "upright": rgb,
            "turned": cv2.warpAffine(rgb, turn, size, borderValue=0),
            "turned_border_replicated": cv2.warpAffine(
                rgb, turn, size, borderMode=cv2.BORDER_REPLICATE
            ),
        }
        found = {name: finder.find_faces_batch([view], "detect")[0] for name, view in views.items()}
        for name, view in views.items():
            problems = masker.face_problems([view], [found[name]])[0]
            counts[f"faces_{name}"] += len(problems)
            counts[f"occluded_{name}"] += problems.count("occluded")
        refits = [_Refit(finder, views["turned"], face) for face in found["turned"]]
        problems = visibility.face_problems(
            finder, [r.view for r in refits], [(r.face.box, r.landmarks) for r in refits]
        )
        counts["occluded_turned_refitted_upright"] += problems.count("occluded")
        if found["upright"] and found["turned"]:  # LFW's subject: the face nearest the centre
            centre = np.array(size) / 2
            subject = min(found["upright"], key=lambda f: np.hypot(*(f.landmarks.mean(0) - centre)))
            _jaw_errors(subject, refits, turn, errors)
    result: dict = {"angles_degrees": [low, high], **counts}
    result["faces_compared"] = len(errors["as_fitted"])
    for name, values in errors.items():
        result[f"jaw_error_iod_median_{name}"] = round(float(np.median(values)), 3)
    return result


class _Refit:
    """``face`` of ``rgb`` fitted again on ``view``, ``rgb`` turned about the face's box centre
    so that its eye line is level (``level``, 2x3): ``landmarks`` (68, 2) in ``view``'s pixels,
    ``in_photo`` the same mapped back into ``rgb``'s."""

    def __init__(self, finder, rgb: np.ndarray, face) -> None:
        dx, dy = face.landmarks[42:48].mean(0) - face.landmarks[36:42].mean(0)
        x0, y0, x1, y1 = face.box
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        level = cv2.getRotationMatrix2D(centre, float(np.degrees(np.arctan2(dy, dx))), 1.0)
        self.face = face
        self.view = cv2.warpAffine(rgb, level, (rgb.shape[1], rgb.shape[0]), borderValue=0)
        self.landmarks = finder.fit_landmarks_batch([self.view], [face.box])[0].astype(float)
        back = cv2.invertAffineTransform(level)
        self.in_photo = self.landmarks @ back[:, :2].T + back[:, 2]


def _jaw_errors(upright_face, refits: list[_Refit], turn: np.ndarray, errors: dict) -> None:
    """Append the jaw error of the turned face nearest ``upright_face`` turned likewise (the
    reference), as fitted and refitted upright; nothing where none is within an inter-ocular
    distance of it."""
    from maskgen.faces.visibility import inter_ocular

    reference = upright_face.landmarks @ turn[:, :2].T + turn[:, 2]
    iod = inter_ocular(reference)
    distance = [np.hypot(*(r.face.landmarks.mean(0) - reference.mean(0))) for r in refits]
    if min(distance) > iod:
        return
    refit = refits[int(np.argmin(distance))]
    for name, points in (("as_fitted", refit.face.landmarks), ("refitted_upright", refit.in_photo)):
        jaw = np.sqrt(((points - reference) ** 2).sum(1))[2:15]
        errors[name].append(float(jaw.mean() / iod))


def check_speed(repeats: int = 3, photos: int = 300) -> dict:
    """CPU time of the checks, one OpenCV thread: ``Masker.mask_images`` per image with and
    without them (lfw-mini's aligned crops in batches of 128; LFW photos one at a time, as
    ``maskgen augment`` gives them), and ``Masker.face_problems`` alone on the faces found,
    the checks' own cost (steadier on a loaded machine than the difference of the two)."""
    from maskgen.compiled import prefer_compiled
    from maskgen.formats import open_reader
    from maskgen.images import decode_rgb

    cv2.setNumThreads(1)
    # numba loaded before any timing, as a long run loads it: else the first masker timed
    # (without the checks) paid the load when its 400th face moved it to numba
    prefer_compiled()
    reader = open_reader(DATA / "rec" / "lfw-mini" / "train.rec")
    crops = [decode_rgb(s.data) for s in map(reader.read, reader.keys()) if s.is_image]
    paths = sorted((DATA / "lfw" / "lfw-deepfunneled").glob("*/*.jpg"))
    chosen = sorted(np.random.default_rng(1).permutation(len(paths))[:photos])
    pictures = [cv2.cvtColor(cv2.imread(str(paths[i])), cv2.COLOR_BGR2RGB) for i in chosen]
    result: dict = {"crops": len(crops), "photos": len(pictures)}
    for mode, images, unit in (("aligned", crops, "crop"), ("detect", pictures, "photo")):
        for checks in (False, True):
            masker = Masker(MaskSpec(face_checks=checks), face_mode=mode)
            name = "with_checks" if checks else "without"
            result[f"cpu_ms_per_{unit}_{name}"] = round(
                1000 * _cpu_per_image(images, masker.batch_size, repeats, _masking(masker)), 2
            )
        result[f"cpu_ms_per_{unit}_checks_only"] = round(
            1000 * _cpu_per_image(images, masker.batch_size, repeats, _checking(masker, images)), 3
        )
    return result


Work = Callable[[int, list], object]


def _masking(masker: Masker) -> Work:
    return lambda start, batch: masker.mask_images(
        batch, [item_rng(0, start + i) for i in range(len(batch))]
    )


def _checking(masker: Masker, images: list) -> Work:
    """The checks alone, on faces found beforehand."""
    size = masker.batch_size
    found = [
        face
        for start in range(0, len(images), size)
        for face in masker.finder.find_faces_batch(images[start : start + size], masker.face_mode)
    ]
    return lambda start, batch: masker.face_problems(batch, found[start : start + len(batch)])


def _cpu_per_image(images: list, size: int, repeats: int, work: Work) -> float:
    """CPU seconds per image of ``work(start, batch)`` over batches of ``size``, after one
    warm-up batch."""
    work(0, images[:size])
    started = time.process_time()
    for _ in range(repeats):
        for start in range(0, len(images), size):
            work(start, images[start : start + size])
    return (time.process_time() - started) / (repeats * len(images))


def _write_sheet(path: Path, tiles: list[tuple[str, np.ndarray]], size: int = 125) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cells = []
    for caption, rgb in tiles:
        cell = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (size, size))
        cv2.putText(cell, caption[-20:], (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (0, 255, 255), 1)
        cells.append(cell)
    while len(cells) % 10:
        cells.append(np.zeros((size, size, 3), np.uint8))
    rows = [np.hstack(cells[i : i + 10]) for i in range(0, len(cells), 10)]
    cv2.imwrite(str(path), np.vstack(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="LFW photos in the sample")
    parser.add_argument("--sheet", type=Path, help="write contact sheets here")
    parser.add_argument("--parts", default="photos,bin,crops,speed", help="measures to run")
    parser.add_argument("--rotated-n", type=int, default=200, help="photos turned (rotated)")
    parser.add_argument("--rotated-angles", default="15,35", help="LOW,HIGH: turned +-this")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    out = REPO / "benchmarks" / "results" / "occlusion.json"
    result = json.loads(out.read_text()) if out.is_file() else {}
    if "photos" in parts:
        result["lfw_photos"] = photo_rates(args.n, args.sheet)
    if "bin" in parts:
        result["lfw_fold1_bin"] = bin_rates()
    if "crops" in parts:
        result["lfw_aligned_crops"] = crop_rates(args.sheet)
    if "rotated" in parts:
        low, high = map(float, args.rotated_angles.split(","))
        result[f"lfw_photos_rotated_{low:g}_{high:g}"] = rotated_rates(args.rotated_n, low, high)
    if "speed" in parts:
        result.pop("aligned_speed", None)
        result["check_speed"] = check_speed()
    print(json.dumps(result, indent=2))
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
