"""How much of each placement's mask lies inside an aligned 112x112 crop? (#13)

A mask pulled onto the chin (``mouth_uncovered``) falls mostly below an ArcFace-aligned crop,
whose bottom edge runs about the chin; what stays inside is all a model trained on such crops
can see of it. For every crop of an aligned ``.rec`` (default: ``lfw-mini``, aligned by
insightface), one draw of the default policy (seed 0, the record's key) is rendered in each
placement and the share of the crop's pixels the mask covers (coverage > 0.5) is counted.

    python benchmarks/wear_crop_band.py [--rec PATH] [--corner-rise R] [--out FILE]

``--corner-rise`` is a what-if for this process only: it sets
``maskgen.masks.wear.CORNER_RISE`` (0: the mask's top corners are not pulled up beside the
mouth). Results go to ``benchmarks/results/wear_crop_band.json`` unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from maskgen.formats import open_reader
from maskgen.images import decode_rgb
from maskgen.masks import WEAR_PLACEMENTS, Masker, MaskSpec
from maskgen.masks import wear as wear_module
from maskgen.seeding import item_rng

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REC = REPO.parent / "shared" / "data" / "rec" / "lfw-mini" / "train.rec"
LIMITS = (0.01, 0.02, 0.03)
"""Crop shares a mask may fall under; the share of crops below each is reported."""


def crop_shares(rec: Path) -> dict[str, list[float]]:
    """Per placement, the share of each crop's pixels the mask covers (crops where no face is
    found are left out)."""
    reader = open_reader(rec)
    masker = Masker(MaskSpec(), face_mode="aligned")
    shares: dict[str, list[float]] = {wear: [] for wear in WEAR_PLACEMENTS}
    for key in reader.image_keys():
        rgb = decode_rgb(reader.read(key).data)
        faces = masker.finder.find_faces(rgb, "aligned")
        if not faces:
            continue
        result = masker.mask_faces(rgb, faces[:1], item_rng(0, str(key)))
        params = result.applied[0].params
        for wear in WEAR_PLACEMENTS:
            _, coverage = masker.render(rgb, faces[0].landmarks, replace(params, wear=wear))
            shares[wear].append(float(np.mean(coverage > 0.5)))
    return shares


def summary(values: list[float]) -> dict:
    """Mean, median and 10th percentile (% of the crop), and the share of crops under each of
    :data:`LIMITS`."""
    pct = 100.0 * np.array(values)
    under = {
        f"under_{round(100 * limit)}pct_share": round(100.0 * float(np.mean(pct < 100 * limit)), 2)
        for limit in LIMITS
    }
    return {
        "crops": len(pct),
        "mean_pct": round(float(pct.mean()), 2),
        "median_pct": round(float(np.median(pct)), 2),
        "p10_pct": round(float(np.percentile(pct, 10)), 2),
        **under,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rec", type=Path, default=DEFAULT_REC, help="aligned 112x112 .rec")
    parser.add_argument("--corner-rise", type=float, default=None, help="what-if CORNER_RISE")
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "wear_crop_band.json"
    )
    args = parser.parse_args()
    if args.corner_rise is not None:
        wear_module.CORNER_RISE = args.corner_rise  # a what-if for this process, read per render
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    report = {
        "benchmark": "wear_crop_band",
        "command": " ".join(["python benchmarks/wear_crop_band.py", *sys.argv[1:]]),
        "commit": commit or None,
        "rec": str(args.rec),
        "corner_rise": getattr(wear_module, "CORNER_RISE", None),  # None: before it existed
        "mask_share_of_crop": {
            wear: summary(values) for wear, values in crop_shares(args.rec).items()
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report["mask_share_of_crop"], indent=1))


if __name__ == "__main__":
    main()
