"""Colours of real masks against the colours colour mode draws (issue 8, item 6).

Both sides are measured the same way on aligned 112x112 (ArcFace template) crops:

1. Each crop's mask colour is the median RGB of a patch over the mouth and chin (rows 80-103,
   columns 34-77 of the crop), divided by the photo's exposure, estimated as
   ``apply_mask`` does (skin luma between the eyes over 0.55, the face's and the crop's
   95th-percentile luma over 0.67 and 0.79, weighted 0.35 / 0.35 / 0.30) and by
   :data:`MEAN_SHADE`, the mean of the templates' shading over that patch. What is left
   estimates the colour a mask would be drawn with.
2. Patterned masks are left out of the colour counts (they are the texture half): MFR2's
   ``cloth_textured`` label, and on RWMFD a patch whose fine detail (RMS of the patch minus
   its Gaussian blur, sigma 3 px) exceeds :data:`PATTERN_DETAIL` (no plain-labelled MFR2
   mask reaches it).
3. Every colour falls in one named class (:func:`colour_class`, CIE Lab lightness, chroma
   and hue); the real counts and each class's median colour are :data:`maskgen.masks.policy.
   PALETTE`'s weights and colours.

The drawn side renders colour-mode masks (``MaskSpec(color_prob=1, texture_prob=0)``, every
template, the policy's own draws) on aligned LFW crops and measures them with step 1, so the
comparison covers the palette, the jitter, the template shading and the light model.

    python benchmarks/mask_colours.py [--renders 600] [--derive]

``--derive`` prints the class table in PALETTE's form (what the palette was made from).
"""

from __future__ import annotations

import argparse
import collections
import csv
import dataclasses
import math
from pathlib import Path

import cv2
import numpy as np

from maskgen.faces import align_face, five_points, load_face_finder
from maskgen.masks import MaskSpec, apply_mask, load_templates, sample_mask_params
from maskgen.masks.policy import PALETTE

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
PATCH = (slice(80, 104), slice(34, 78))
"""Rows, columns of an aligned 112x112 crop that a worn mask covers (mouth and chin)."""
MEAN_SHADE = 0.93
"""Median of (measured patch colour / drawn colour), measured as :func:`measure` does but
without this factor, over 600 colour-mode renders of the built-in templates on 60 aligned LFW
crops (by template: n95 0.90, kn95 0.92, surgical 0.93, cloth 0.98): the templates' shading
and the light model over the patch."""
PATTERN_DETAIL = 0.095
"""Fine-detail RMS (0-1 scale) above which an unlabelled real mask counts as patterned."""
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
CLASSES = (
    "white", "light_blue", "grey", "black", "navy", "blue", "dark_grey",
    "green", "pink", "red", "beige", "brown",
)  # fmt: skip


def measure(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """(estimated drawn colour (3,) float RGB in [0, 1], fine detail RMS) of the mask in an
    aligned 112x112 uint8 RGB crop (see the module doc)."""
    image = rgb.astype(np.float32) / 255.0
    patch = image[PATCH]
    median = np.median(patch.reshape(-1, 3), axis=0)
    detail = float(np.sqrt(((patch - cv2.GaussianBlur(patch, (0, 0), 3)) ** 2).mean()))
    skin = float(np.median(image[40:56, 50:62].reshape(-1, 3) @ _LUMA))
    face_high = float(np.percentile(image[30:100, 20:92].reshape(-1, 3) @ _LUMA, 95))
    image_high = float(np.percentile(image.reshape(-1, 3) @ _LUMA, 95))
    exposure = (
        (max(skin, 1e-3) / 0.55) ** 0.35
        * (max(face_high, 1e-3) / 0.67) ** 0.35
        * (max(image_high, 1e-3) / 0.79) ** 0.30
    )
    exposure = min(max(exposure, 0.22), 1.08)  # the renderer's range
    return np.clip(median / (exposure * MEAN_SHADE), 0.0, 1.0), detail


def colour_class(rgb: np.ndarray) -> str:
    """One of :data:`CLASSES` for a (3,) float RGB colour in [0, 1]: achromatic colours by
    CIE L* (white >= 80, grey >= 55, dark grey >= 32, else black); blue hues (190-300 deg in
    Lab) by L* (light blue >= 65, blue >= 42, else navy), counted as chromatic from chroma 5
    when light (pale surgical blue is barely tinted in photos) and 10 otherwise; greens
    120-190 deg; pinks (L* >= 62) and reds 300-40 deg; beige (L* >= 55) and brown between."""
    lab = cv2.cvtColor(np.float32(rgb).reshape(1, 1, 3), cv2.COLOR_RGB2Lab)[0, 0]
    lightness, a, b = (float(v) for v in lab)
    chroma, hue = math.hypot(a, b), math.degrees(math.atan2(b, a)) % 360
    blueish = 190 <= hue <= 300
    threshold = 5 if blueish and lightness >= 55 else 10
    if chroma < threshold or (chroma < 16 and lightness > 85 and not blueish):
        if lightness >= 80:
            return "white"
        return "grey" if lightness >= 55 else "dark_grey" if lightness >= 32 else "black"
    if blueish:
        return "light_blue" if lightness >= 65 else "blue" if lightness >= 42 else "navy"
    if 120 <= hue < 190:
        return "green"
    if hue > 300 or hue < 40:
        return "pink" if lightness >= 62 else "red"
    return "beige" if lightness >= 55 else "brown"


def _read(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def real_colours(shared: Path) -> tuple[list[np.ndarray], int]:
    """Estimated colours of the plain real masks (MFR2 dev masked + RWMFD aligned), and how
    many patterned ones were left out."""
    colours, patterned = [], 0
    mfr2 = shared / "real-masks" / "mfr2-dev"
    with open(mfr2 / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["masked"] != "1":
                continue
            if row["mask_type"] == "cloth_textured":
                patterned += 1
                continue
            colours.append(measure(_read(mfr2 / "images" / row["file"]))[0])
    for path in sorted((shared / "real-masks" / "rwmfd-aligned").glob("*.jpg")):
        colour, detail = measure(_read(path))
        if detail > PATTERN_DETAIL:
            patterned += 1
        else:
            colours.append(colour)
    return colours, patterned


Crop = tuple[np.ndarray, np.ndarray]
"""An aligned 112x112 uint8 RGB crop and its 68 landmarks, (68, 2) float32."""


def lfw_crops(lfw: Path, faces: int = 60) -> list[Crop]:
    """The first photo of ``faces`` LFW people spread over the alphabet, aligned as a training
    crop, with its landmarks found on the crop."""
    finder = load_face_finder()
    people = sorted(p for p in lfw.iterdir() if p.is_dir())
    crops = []
    for person in people[:: max(1, len(people) // faces)][:faces]:
        rgb = _read(sorted(person.glob("*.jpg"))[0])
        found = finder.find_faces(rgb, "detect")
        if found:
            crop = align_face(rgb, five_points(found[0].landmarks))
            aligned = finder.find_faces(crop, "aligned")
            if aligned:
                crops.append((crop, aligned[0].landmarks))
    return crops


def drawn_colours(crops: list[Crop], renders: int, colour: str | None = None) -> list[np.ndarray]:
    """Estimated colours of ``renders`` colour-mode masks on ``crops`` (every mask ``colour``,
    "#rrggbb", when given: the renderer's response to one palette colour)."""
    templates = load_templates()
    spec = MaskSpec(color_prob=1.0, texture_prob=0.0)
    colours = []
    for index in range(renders):
        crop, landmarks = crops[index % len(crops)]
        params = sample_mask_params(np.random.default_rng([index, 8]), spec, templates)
        if colour is not None:
            params = dataclasses.replace(params, color=colour)
        out, _ = apply_mask(crop, landmarks, templates[params.mask_type], params)
        colours.append(measure(out)[0])
    return colours


def _table(colours: list[np.ndarray]) -> collections.Counter:
    return collections.Counter(colour_class(c) for c in colours)


def spread(colours: list[np.ndarray]) -> tuple[float, float]:
    """(luma, tint) spread of colours: the robust standard deviation (1.4826 x the median
    absolute deviation) of their log luma (mean of log R, G, B) and of each channel's log
    around it (averaged over R, G, B). What ``sample_color``'s brightness and tint draws
    spread, so a palette class's spread is measured in the units it is drawn with."""
    logs = np.log(np.clip(np.array(colours, dtype=np.float64), 1e-3, None))
    luma = logs.mean(axis=1)
    tint = logs - luma[:, None]

    def robust_sd(x: np.ndarray) -> np.ndarray:
        return 1.4826 * np.median(np.abs(x - np.median(x, axis=0)), axis=0)

    return float(robust_sd(luma)), float(robust_sd(tint).mean())


def calibrated_palette(
    real: list[np.ndarray], crops: list[Crop], renders: int, rounds: int = 2
) -> list[tuple[str, str, int]]:
    """(class, "#rrggbb", count) for each class the real masks fall in: the colour whose
    renders on LFW, measured as the real masks are, have the real masks' median colour.

    Starts from the real median and multiplies it, per channel, by real median / rendered
    median (``rounds`` times: clipping at 1 makes the response non-linear near white). This
    closes the loop that a fixed :data:`MEAN_SHADE` leaves open: the light model and photo
    match darken and warm light colours more than dark ones (a white drawn as the real median
    measured 0.795, 0.777, 0.757 against the real 0.875, 0.875, 0.863)."""
    rows = []
    for name in CLASSES:
        members = [c for c in real if colour_class(c) == name]
        if not members:
            continue
        target = np.median(members, axis=0)
        drawn = target.copy()
        for _ in range(rounds):
            measured = np.median(drawn_colours(crops, renders, colour=_hex(drawn)), axis=0)
            drawn = np.clip(drawn * target / np.maximum(measured, 1e-3), 0.0, 1.0)
        rows.append((name, _hex(drawn), len(members)))
    return rows


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{round(float(v) * 255):02x}" for v in rgb)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--renders", type=int, default=600)
    parser.add_argument("--derive", action="store_true", help="print PALETTE's table")
    args = parser.parse_args()
    real, patterned = real_colours(args.shared)
    real_table = _table(real)
    crops = lfw_crops(args.shared / "lfw" / "lfw-deepfunneled")
    if args.derive:
        for name, colour, count in calibrated_palette(real, crops, max(1, args.renders // 3)):
            print(f'    ("{name}", "{colour}", {count}.0),')
        return
    drawn = drawn_colours(crops, args.renders)
    drawn_table = _table(drawn)
    palette_total = sum(w for _, _, w in PALETTE)
    palette = dict.fromkeys(CLASSES, 0.0)
    for name, _, weight in PALETTE:
        palette[name] = palette.get(name, 0.0) + weight / palette_total
    n_real, n_drawn = sum(real_table.values()), sum(drawn_table.values())
    print(f"real plain masks: {n_real} ({patterned} patterned left out); drawn: {n_drawn}")
    print(
        f"{'class':12s} {'real %':>7s} {'palette %':>10s} {'drawn %':>8s}"
        "   spread (luma, tint): real / drawn"
    )
    distance = 0.0
    for name in [*CLASSES, *(k for k in palette if k not in CLASSES)]:
        real_share = real_table[name] / n_real
        drawn_share = drawn_table[name] / n_drawn
        distance += abs(real_share - drawn_share) / 2
        real_members = [c for c in real if colour_class(c) == name]
        drawn_members = [c for c in drawn if colour_class(c) == name]
        spreads = " / ".join(
            "{:.3f}, {:.3f}".format(*spread(members)) if len(members) >= 3 else "-"
            for members in (real_members, drawn_members)
        )
        print(
            f"{name:12s} {100 * real_share:7.1f} {100 * palette[name]:10.1f} "
            f"{100 * drawn_share:8.1f}   {spreads}"
        )
    print(f"total variation distance, real vs drawn (measured alike): {distance:.3f}")


if __name__ == "__main__":
    main()
