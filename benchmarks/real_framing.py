"""How the crops of each set are framed, against the ArcFace 112x112 template.

Real photos come aligned by other tools (MFR2-dev: one fixed transform of MFR2's own 160x160
alignment; RMFD: by the eyes), LFW's training crops by ``maskgen align``. A classifier trained on
the one framing meets the other on the real photos, whatever the masks look like. This reads
each crop's 68 landmarks as maskgen fits them on an aligned crop (``FaceFinder.find_faces(crop,
"aligned")``), takes the five alignment points and the least-squares similarity that maps them
onto the template (:func:`maskgen.faces.align.estimate_similarity`, Umeyama's), and prints, per
set, the spread of its scale (1: framed as the template) and angle (degrees). Under a mask the
mouth corners are the model's guess, so a masked set's spread holds fitting error too.

    python benchmarks/real_framing.py --work W [--every 10] [--out benchmarks/results/real_framing]

``W``: a ``benchmarks/realism.py --work`` folder (its aligned LFW set and real-photo .recs).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paper_miniature import machine  # the benchmarks folder is not a package
from realism import SHARED, load_real_faces, read_rec_faces

ROOT = Path(__file__).resolve().parents[1]


def framing(images: np.ndarray) -> np.ndarray:
    """(N, 2) float: each (112, 112, 3) uint8 crop's (scale, angle in degrees) of the
    similarity that maps its five fitted points onto the template (the angle in image axes,
    y down: a face turned counter-clockwise on screen reads positive); NaN where no face was
    fitted."""
    from maskgen.faces import five_points, load_face_finder
    from maskgen.faces.align import ARCFACE_TEMPLATE_112, estimate_similarity

    finder = load_face_finder()
    out = np.full((len(images), 2), np.nan)
    for i, crop in enumerate(images):
        faces = finder.find_faces(crop, "aligned")
        if faces:
            matrix = estimate_similarity(five_points(faces[0].landmarks), ARCFACE_TEMPLATE_112)
            out[i] = (
                np.hypot(matrix[0, 0], matrix[1, 0]),
                np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0])),
            )
    return out


def summary(values: np.ndarray) -> dict[str, float | int]:
    """Percentiles (10, 50, 90) of the scale, the angle's standard deviation, the count."""
    kept = values[~np.isnan(values[:, 0])]
    if not len(kept):  # no crop's landmarks fitted: nothing to spread
        return {"crops": len(values), "fitted": 0, "scale_p10": float("nan"),
                "scale_median": float("nan"), "scale_p90": float("nan"),
                "angle_std_deg": float("nan")}  # fmt: skip
    p10, p50, p90 = np.percentile(kept[:, 0], [10, 50, 90])
    return {"crops": len(values), "fitted": len(kept), "scale_p10": float(p10),
            "scale_median": float(p50), "scale_p90": float(p90),
            "angle_std_deg": float(kept[:, 1].std())}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="a realism.py --work folder")
    parser.add_argument("--shared", type=Path, default=SHARED, help="../shared/data")
    parser.add_argument("--every", type=int, default=10, help="LFW: every Nth training crop")
    parser.add_argument("--out", type=Path, default=None, help="OUT.json")
    args = parser.parse_args(argv)
    train = sorted(args.work.glob("train-*/train.rec"))
    loaded = load_real_faces(args.work, args.shared)
    if not train or loaded is None:
        print(f"{args.work}: run benchmarks/realism.py --work {args.work} first (and keep "
              f"{args.shared / 'real-masks'})", file=sys.stderr)  # fmt: skip
        return 2
    sets = {f"LFW ({train[0].parent.name}, every {args.every})":
            read_rec_faces(train[0])[1].images[:: args.every]}  # fmt: skip
    sets.update({name: faces.images for name, faces in loaded[1].items()})
    result = {"machine": machine(), "sets": {}}
    header = ("set", "crops", "scale p10", "median", "p90", "angle sd")
    print("{:36s} {:>6s} {:>9s} {:>7s} {:>6s} {:>8s}".format(*header))
    for name, images in sets.items():
        row = summary(framing(images))
        result["sets"][name] = row
        print(f"{name:36s} {row['crops']:6d} {row['scale_p10']:9.3f} {row['scale_median']:7.3f} "
              f"{row['scale_p90']:6.3f} {row['angle_std_deg']:8.1f}")  # fmt: skip
    if args.out is not None:
        args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
