"""Does the mask follow the photo's sharpness, noise and colour? Measured on degraded LFW faces.

Faces the renderer's constants were not calibrated on (LFW photos of other people than the
calibration's, and other ``lfw-fold1.bin`` crops) are degraded by known amounts: Gaussian blur
(1, 2, 3 px), Gaussian luma noise (3, 6, 10 levels), a small photo (shrunk to 35% and enlarged
back), JPEG (quality 50, 30 and 10), a yellow cast and a faded (greyish) photo. Each is masked with
one draw of the default policy, with the photographic match (``match``) and without it
(``plain``), and the *output* is measured:

- sharpness: edge spread (``photometry.measure_edge_spread``) over the mask's coverage box
  against the eye band's (brows to nose bridge, landmarks 17-29 and 36-47), the same measure
  that says real masked photos (MFR2, RMFD) read 0.94-1.02;
- noise: Immerkær's estimate (``photometry.measure_noise``) inside the mask (coverage 1,
  eroded) against the eye band's;
- JPEG: how often the JPEG quality read from the mask's own 8x8 blocks
  (``photometry.measure_jpeg_quality``) is the photo's (within 4);
- colour: the mask's mean R/B and G/B ratios (faded: its saturation) against those of the
  same mask on the clean photo, as a fraction of the shift the cast made to the face's skin
  (1 = the mask's white balance moves as much as the face's).

Prints, per condition, the median ratio mask/face and, over all images and conditions, the
Pearson correlation of mask against face; writes ``benchmarks/results/photo_match.json``.

    python benchmarks/photo_match.py [--photos 60] [--crops 60]
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path

import cv2
import numpy as np
from augment_speed import machine

from maskgen.faces import load_face_finder
from maskgen.masks import MaskSpec, apply_mask, load_templates, load_textures, sample_mask_params
from maskgen.masks.photometry import (
    NO_MATCH,
    measure_edge_spread,
    measure_jpeg_quality,
    measure_noise,
)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
EYE_BAND = np.r_[17:30, 36:48]
YELLOW = np.array([1.10, 1.0, 0.75], dtype=np.float32)


def _degrade(rgb: np.ndarray, kind: str, amount: float) -> np.ndarray:
    """The photo degraded by ``kind`` ("blur", "noise", "small", "jpeg", "yellow", "faded")."""
    if kind == "blur":
        return cv2.GaussianBlur(rgb, (0, 0), amount)
    if kind == "noise":
        noise = np.random.default_rng(7).normal(0.0, amount, rgb.shape[:2])[..., None]
        return np.clip(rgb + noise, 0, 255).astype(np.uint8)
    if kind == "small":
        height, width = rgb.shape[:2]
        small = cv2.resize(rgb, (round(width * amount), round(height * amount)), cv2.INTER_AREA)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    if kind == "jpeg":
        _, data = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, int(amount)])
        return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if kind == "yellow":
        return np.clip(rgb * YELLOW, 0, 255).astype(np.uint8)
    if kind == "faded":
        grey = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        return cv2.addWeighted(rgb, 1 - amount, grey, amount, 0)
    return rgb


CONDITIONS = (
    ("clean", 0),
    ("blur", 1.0),
    ("blur", 2.0),
    ("blur", 3.0),
    ("noise", 3.0),
    ("noise", 6.0),
    ("noise", 10.0),
    ("small", 0.35),
    ("jpeg", 50),
    ("jpeg", 30),
    ("jpeg", 10),
    ("yellow", 1),
    ("faded", 0.7),
)


def _box_luma(rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    x, y, w, h = cv2.boundingRect(points.astype(np.float32))
    x0, y0 = max(x, 0), max(y, 0)
    return cv2.cvtColor(rgb[y0 : y + h, x0 : x + w], cv2.COLOR_RGB2GRAY)


def _measure(
    out: np.ndarray, coverage: np.ndarray, landmarks: np.ndarray, plain: np.ndarray
) -> dict:
    """Sharpness and noise of the mask and of the eye band, and the mask's mean colour; the
    mask's noise where ``plain`` (the render without grain) is not clipped to 0 or 255."""
    ys, xs = np.nonzero(coverage > 0.5)
    mask_box = _box_luma(out, np.stack([xs, ys], axis=1))
    eyes = _box_luma(out, landmarks[EYE_BAND])
    unclipped = ((plain > 12) & (plain < 243)).all(axis=2)
    solid = ((coverage >= 0.999) & unclipped).astype(np.uint8)
    inside = cv2.erode(solid, np.ones((5, 5), np.uint8)) > 0
    if not inside.any():
        inside = coverage >= 0.999
    grey = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    response = cv2.filter2D(grey[y0:y1, x0:x1], cv2.CV_32F, _KERNEL)
    mask_noise = float(np.median(np.abs(response[inside[y0:y1, x0:x1]]))) / (6 * 0.6745)
    full_ys, full_xs = np.nonzero(coverage >= 0.999)
    by0, by1 = -(-full_ys.min() // 8) * 8, full_ys.max() // 8 * 8
    bx0, bx1 = -(-full_xs.min() // 8) * 8, full_xs.max() // 8 * 8
    blocks = grey[by0:by1, bx0:bx1].astype(np.float32)
    return {
        "mask_jpeg": measure_jpeg_quality(blocks) if blocks.size else None,
        "mask_spread": measure_edge_spread(mask_box),
        "face_spread": measure_edge_spread(eyes),
        "mask_noise": mask_noise,
        "face_noise": measure_noise(eyes),
        "mask_rgb": out[inside].reshape(-1, 3).mean(axis=0).tolist(),
    }


_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)


def _skin_rgb(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Mean colour of the cheeks (between eye corners and jaw): the face's white balance."""
    values = []
    for a, b in ((2, 40), (14, 47), (3, 31), (13, 35)):
        x, y = ((landmarks[a] + landmarks[b]) / 2).astype(int)
        values.append(rgb[max(y - 2, 0) : y + 3, max(x - 2, 0) : x + 3].reshape(-1, 3).mean(0))
    return np.mean(values, axis=0)


def _faces(photos: int, crops: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Held-out faces: LFW people[50::113] (the blur table was calibrated on people[7::97],
    the colour weights on people[3::19] less these) and .bin images 11, 31, ... (the blur
    table used 3, 23, ...)."""
    finder = load_face_finder()
    lfw = DATA / "lfw" / "lfw-deepfunneled"
    faces = []
    people = sorted(p for p in lfw.iterdir() if p.is_dir())
    for person in people[50::113][:photos]:
        path = sorted(person.glob("*.jpg"))[0]
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        found = finder.find_faces(rgb, "detect")
        if found:
            faces.append((person.name, rgb, found[0].landmarks))
    with open(DATA / "bin" / "lfw-fold1.bin", "rb") as handle:
        images, _ = pickle.load(handle, encoding="bytes")
    picked = [
        cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), 1), cv2.COLOR_BGR2RGB)
        for data in images[11::20][:crops]
    ]
    for index, (rgb, found) in enumerate(
        zip(picked, finder.find_faces_batch(picked, "aligned"), strict=True)
    ):
        if found:
            faces.append((f"bin/{11 + 20 * index}", rgb, found[0].landmarks))
    return faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--crops", type=int, default=60)
    args = parser.parse_args()
    print(machine())
    start = time.process_time()
    templates, textures = load_templates(), load_textures()
    faces = _faces(args.photos, args.crops)
    rows = []
    for index, (name, rgb, landmarks) in enumerate(faces):
        params = sample_mask_params(np.random.default_rng(index), MaskSpec(), templates, textures)
        texture = textures[params.texture] if params.texture else None
        template = templates[params.mask_type]
        clean: dict[str, dict] = {}
        for kind, amount in CONDITIONS:
            photo = _degrade(rgb, kind, amount)
            plain = None
            for mode in ("plain", "match"):
                match = NO_MATCH if mode == "plain" else None
                out, coverage = apply_mask(photo, landmarks, template, params, texture, match)
                plain = out if plain is None else plain
                if coverage.max() < 1.0:
                    continue
                row = _measure(out, coverage, landmarks, plain)
                row.update(name=name, kind=kind, amount=amount, mode=mode)
                row["skin_rgb"] = _skin_rgb(photo, landmarks).tolist()
                if kind == "clean":
                    clean[mode] = {k: row[k] for k in ("mask_rgb", "skin_rgb")}
                row["clean"] = clean.get(mode)
                rows.append(row)
    summary = _summarise(rows)
    summary["real_vs_twin_bands"] = _real_vs_twin(faces, templates, textures)
    summary["faces"] = len(faces)
    summary["crops"] = sum(name.startswith("bin/") for name, _, _ in faces)
    summary["cpu_s"] = round(time.process_time() - start, 1)
    summary["machine"] = machine()
    out = REPO / "benchmarks" / "results" / "photo_match.json"
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {out}")


def _colour_transfer(row: dict) -> float | None:
    """How far the mask's colour moved, as a fraction of how far the skin's moved: for a
    cast, log R/B and log G/B, the mask's shift projected on the skin's; for a faded photo,
    log saturation ((max - min) / max). None without a shift."""
    clean = row.get("clean")
    if not clean:
        return None
    if row["kind"] == "faded":

        def saturation(rgb):
            rgb = np.asarray(rgb, dtype=float)
            return max((rgb.max() - rgb.min()) / max(rgb.max(), 1.0), 1e-3)

        face = np.log(saturation(row["skin_rgb"]) / saturation(clean["skin_rgb"]))
        mask = np.log(saturation(row["mask_rgb"]) / saturation(clean["mask_rgb"]))
        return None if abs(face) < 1e-2 else float(mask / face)

    def chroma(rgb):
        r, g, b = np.maximum(np.asarray(rgb, dtype=float), 1.0)
        return np.log([r / b, g / b])

    face = chroma(row["skin_rgb"]) - chroma(clean["skin_rgb"])
    mask = chroma(row["mask_rgb"]) - chroma(clean["mask_rgb"])
    norm = float(face @ face)
    return None if norm < 1e-4 else float(mask @ face) / norm


def _summarise(rows: list[dict]) -> dict:
    result: dict = {"conditions": {}}
    print(f"{len(rows) // 2} renders per mode")
    header = (
        "condition        mode   spread mask/face   noise mask  face   colour transfer"
        "   mask reads JPEG q"
    )
    print(header)
    for kind, amount in CONDITIONS:
        for mode in ("plain", "match"):
            some = [r for r in rows if r["kind"] == kind and r["amount"] == amount]
            some = [r for r in some if r["mode"] == mode]
            spread = np.median([r["mask_spread"] / r["face_spread"] for r in some])
            mask_noise = np.median([r["mask_noise"] for r in some])
            face_noise = np.median([r["face_noise"] for r in some])
            transfers = [t for t in map(_colour_transfer, some) if t is not None]
            transfer = float(np.median(transfers)) if transfers and kind in _CAST else None
            label = f"{kind} {amount:g}"
            reads = None
            if kind == "jpeg":
                hits = [
                    r["mask_jpeg"] is not None and abs(r["mask_jpeg"] - amount) <= 4 for r in some
                ]
                reads = float(np.mean(hits))
            print(
                f"{label:16s} {mode:6s} {spread:10.2f} {mask_noise:14.2f} {face_noise:5.2f}   "
                + (f"{transfer:15.2f}" if transfer is not None else f"{'-':>15s}")
                + (f"   {reads:.0%}" if reads is not None else "")
            )
            result["conditions"][f"{label} {mode}"] = {
                "spread_ratio_median": round(float(spread), 3),
                "mask_noise_median": round(float(mask_noise), 2),
                "face_noise_median": round(float(face_noise), 2),
                "colour_transfer_median": None if transfer is None else round(transfer, 3),
                "mask_reads_photo_jpeg_quality": reads,
            }
    for mode in ("plain", "match"):
        some = [r for r in rows if r["mode"] == mode]
        spread_r = np.corrcoef([r["face_spread"] for r in some], [r["mask_spread"] for r in some])
        noise_r = np.corrcoef([r["face_noise"] for r in some], [r["mask_noise"] for r in some])
        result[f"{mode}_spread_correlation"] = round(float(spread_r[0, 1]), 3)
        result[f"{mode}_noise_correlation"] = round(float(noise_r[0, 1]), 3)
        print(
            f"{mode}: Pearson r, mask vs face, over every render: edge spread "
            f"{spread_r[0, 1]:.2f}, noise {noise_r[0, 1]:.2f}"
        )
    return result


_CAST = ("yellow", "faded")
EYES_BAND = np.array([[22, 34], [90, 34], [22, 58], [90, 58]], dtype=np.float32)
MASK_BAND = np.array([[24, 66], [88, 66], [24, 104], [88, 104]], dtype=np.float32)
"""Fixed bands of an ArcFace-aligned 112x112 crop: the eyes, and where a worn mask lies."""


def _band_ratio(rgb: np.ndarray) -> float:
    return measure_edge_spread(_box_luma(rgb, MASK_BAND)) / measure_edge_spread(
        _box_luma(rgb, EYES_BAND)
    )


def _real_vs_twin(faces: list, templates: dict, textures: dict) -> dict:
    """Edge spread of the mask band over the eye band on real masked aligned crops (MFR2's
    masked photos, RMFD) and on the held-out ``.bin`` crops' twins, with and without the
    match: real masks are about as soft as the eyes above them."""
    real = DATA / "real-masks"
    sets: dict[str, list[float]] = {"mfr2 masked": [], "rmfd": [], "twin plain": []}
    sets["twin match"] = []
    labels = (real / "mfr2-dev" / "labels.csv").read_text().splitlines()[1:]
    for line in labels:
        file, _, masked, _ = line.split(",")
        if masked == "1":
            rgb = cv2.cvtColor(
                cv2.imread(str(real / "mfr2-dev" / "images" / file)), cv2.COLOR_BGR2RGB
            )
            sets["mfr2 masked"].append(_band_ratio(rgb))
    for path in sorted((real / "rwmfd-aligned").glob("*.jpg")):
        sets["rmfd"].append(_band_ratio(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)))
    for index, (name, rgb, landmarks) in enumerate(faces):
        if not name.startswith("bin/"):
            continue
        params = sample_mask_params(np.random.default_rng(index), MaskSpec(), templates, textures)
        texture = textures[params.texture] if params.texture else None
        template = templates[params.mask_type]
        for mode, match in (("twin plain", NO_MATCH), ("twin match", None)):
            out, _ = apply_mask(rgb, landmarks, template, params, texture, match)
            sets[mode].append(_band_ratio(out))
    result = {}
    print("mask band / eye band edge spread on aligned crops (median [quartiles]):")
    for name, values in sets.items():
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        print(f"  {name:12s} n={len(values):3d}  {median:.2f} [{q1:.2f}, {q3:.2f}]")
        result[name] = {"n": len(values), "median": round(float(median), 3)}
    return result


if __name__ == "__main__":
    main()
