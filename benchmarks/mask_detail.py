"""Fine detail of plain masks against real ones (issue 8, items 3 and 4): how much small-scale
structure (creases, pleats, seams, the photo's own grain) a worn mask shows, relative to the
same photo's skin.

Both sides are measured the same way on aligned 112x112 (ArcFace template) crops: the mean
absolute difference between the crop's luma and its Gaussian blur (sigma 2 px) over a patch
of the mask over the mouth (rows 80-99, columns 42-69), divided by the same over
the forehead (rows 14-29, columns 38-73), which no mask covers. The ratio leaves out what the
photo itself adds everywhere (its sharpness, noise and JPEG softness), so LFW's soft photos
and MFR2's sharper web photos can be compared; a bare face scores about 3.4 (MFR2-dev's 48
unmasked photos), a perfectly smooth mask 0 plus the photo's grain.

- Real: MFR2-dev's masked photos (``../shared/data/real-masks``) by ``labels.csv``'s
  mask_type, grouped as maskgen's template families (surgical: surgical_*; kn95: KN95; n95:
  N95 and N99; cloth: cloth_* but cloth_textured, which is the texture half).
- Twin: colour-mode masks (``MaskSpec(color_prob=1, texture_prob=0)``, each family's
  templates, the policy's own draws) on aligned LFW crops (the MXNet-written
  ``rec/lfw-mini`` fixture, landmarks found on each crop), rendered as ``maskgen augment``
  renders them, and the same draws with the creases turned off
  (:func:`maskgen.masks.creases.flat_seed`: on a 112x112 crop the same mask and grain).

    python benchmarks/mask_detail.py [--renders 300] [--out benchmarks/results/mask_detail]

Prints and writes a table of medians and quartiles per family. CPU only, about 10 s.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paper_miniature import machine, write_results  # the benchmarks folder is not a package

from maskgen.faces import load_face_finder
from maskgen.masks import MaskSpec, apply_mask, load_templates, sample_mask_params
from maskgen.masks.creases import flat_seed

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results" / "mask_detail"
MASK_PATCH = (slice(80, 100), slice(42, 70))
FOREHEAD = (slice(14, 30), slice(38, 74))
REAL_FAMILIES = {
    "surgical": ("surgical_blue", "surgical_white", "surgical_green", "surgical_black"),
    "kn95": ("KN95",),
    "n95": ("N95", "N99"),
    "cloth": ("cloth_black", "cloth_purple", "cloth_red", "cloth_white"),
}
"""MFR2-dev mask_type labels of each template family (plain masks only)."""


def detail_ratio(rgb: np.ndarray) -> float:
    """Fine detail over the mask patch over that of the forehead, of an aligned (112, 112, 3)
    uint8 RGB crop (see the module doc)."""
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    fine = np.abs(luma - cv2.GaussianBlur(luma, (0, 0), 2.0))
    return float(fine[MASK_PATCH].mean() / max(float(fine[FOREHEAD].mean()), 1e-3))


def real_ratios(shared: Path) -> dict[str, list[float]]:
    """Detail ratios of MFR2-dev's photos by family, plus ``bare`` (its unmasked photos)."""
    root = shared / "real-masks" / "mfr2-dev"
    family_of = {label: family for family, labels in REAL_FAMILIES.items() for label in labels}
    out: dict[str, list[float]] = {}
    with open(root / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            family = "bare" if row["masked"] != "1" else family_of.get(row["mask_type"])
            if family is not None:
                bgr = cv2.imread(str(root / "images" / row["file"]))
                if bgr is None:
                    raise SystemExit(f"{root / 'images' / row['file']}: cannot be read")
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                out.setdefault(family, []).append(detail_ratio(rgb))
    return out


def lfw_crops(shared: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """The aligned crops of ``rec/lfw-mini`` with the landmarks found on each (crops without a
    face found are left out)."""
    from maskgen.formats.recordio import RecordIOReader
    from maskgen.images import decode_rgb

    finder = load_face_finder()
    crops = []
    with RecordIOReader(shared / "rec" / "lfw-mini" / "train.rec") as reader:
        for key in reader.image_keys():
            rgb = decode_rgb(reader.read(key).data)
            found = finder.find_faces(rgb, "aligned") if rgb is not None else []
            if found:
                crops.append((rgb, found[0].landmarks))
    return crops


def twin_ratios(
    crops: list[tuple[np.ndarray, np.ndarray]], renders: int
) -> dict[str, dict[str, list[float]]]:
    """Detail ratios of ``renders`` colour-mode masks per family, with creases (``worn``) and
    the same draws flat (``flat``)."""
    templates = load_templates()
    out: dict[str, dict[str, list[float]]] = {}
    for family in REAL_FAMILIES:
        names = tuple(n for n, t in templates.items() if t.family == family)
        spec = MaskSpec(mask_types=names, color_prob=1.0, texture_prob=0.0)
        worn, flat = [], []
        for index in range(renders):
            crop, landmarks = crops[index % len(crops)]
            params = sample_mask_params(np.random.default_rng([index, 0x64]), spec, templates)
            template = templates[params.mask_type]
            worn.append(detail_ratio(apply_mask(crop, landmarks, template, params)[0]))
            smooth = dataclasses.replace(params, grain_seed=flat_seed(params.grain_seed))
            flat.append(detail_ratio(apply_mask(crop, landmarks, template, smooth)[0]))
        out[family] = {"worn": worn, "flat": flat}
    return out


def quartiles(values: list[float]) -> dict[str, float]:
    q1, median, q3 = np.percentile(values, [25, 50, 75]) if values else (np.nan,) * 3
    return {"n": len(values), "q1": float(q1), "median": float(median), "q3": float(q3)}


def markdown(result: dict[str, Any]) -> str:
    def cell(q: dict[str, float]) -> str:
        if not q["n"]:
            return "-"
        return f"{q['median']:.2f} [{q['q1']:.2f}, {q['q3']:.2f}] (n={q['n']})"

    lines = [
        "# Fine detail of plain masks, mask patch over forehead (issue #8)",
        "",
        "Median [quartiles]. Real: MFR2-dev's masked photos by label; twin: colour-mode masks "
        f"on {result['crops']} aligned LFW crops (`rec/lfw-mini`), {result['renders']} per "
        "family.",
        "",
        "| family | real (MFR2-dev) | twin | twin, creases off |",
        "|---|---|---|---|",
    ]
    for family in REAL_FAMILIES:
        twin = result["twin"][family]
        lines.append(
            f"| {family} | {cell(result['real'][family])} | {cell(twin['worn'])} | "
            f"{cell(twin['flat'])} |"
        )
    lines += [
        f"| bare face | {cell(result['real']['bare'])} | | |",
        "",
        f"Machine: {result['machine']}",
        "",
        "Command: `python benchmarks/mask_detail.py " + " ".join(result["argv"]) + "`",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED, help="../shared/data")
    parser.add_argument("--renders", type=int, default=300, help="masks drawn per family")
    parser.add_argument("--out", type=Path, default=RESULTS, help="OUT.json and OUT.md")
    args = parser.parse_args(argv)
    needed = [args.shared / "real-masks" / "mfr2-dev", args.shared / "rec" / "lfw-mini"]
    if not all(path.is_dir() for path in needed):
        print(f"{args.shared}: needs real-masks/mfr2-dev and rec/lfw-mini", file=sys.stderr)
        return 2
    crops = lfw_crops(args.shared)
    if not crops:
        print(f"{needed[1]}: no face found on any crop", file=sys.stderr)
        return 2
    twin = twin_ratios(crops, args.renders)
    result = {
        "issue": 8,
        "crops": len(crops),
        "renders": args.renders,
        "real": {k: quartiles(v) for k, v in real_ratios(args.shared).items()},
        "twin": {f: {k: quartiles(v) for k, v in d.items()} for f, d in twin.items()},
        "machine": machine(),
        "argv": sys.argv[1:] if argv is None else argv,
    }
    write_results(args.out, result, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
