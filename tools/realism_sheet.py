"""Contact sheets of maskgen's twin crops, at the 112x112 scale of aligned training sets.

Two sheets, because real masked photos belong to other people and are never committed:

- ``python tools/realism_sheet.py`` writes ``docs/twin_masks_112.png``: the twin half only,
  from scikit-image's public-domain astronaut portrait aligned to 112x112 like a training crop:
  one row per mask type (plain, coloured, textured; the same on a low-resolution and a dark
  copy of the photo), so it can live in the repository;
- ``python tools/realism_sheet.py --real -o /tmp/twin_vs_real.png`` writes the side-by-side
  for your eyes only: per row, four LFW twin crops of one mask type (the MXNet-written
  ``rec/lfw-mini`` fixture, masked now with the current renderer) next to four real crops
  wearing that kind of mask (MFR2-dev, by its ``labels.csv``), then rows of twins next to
  RMFD's real masked crops, all at 112x112 with no rescaling. It needs ``../shared/data`` and
  refuses to write inside the repository;
- ``python tools/realism_sheet.py --misses benchmarks/results/realism.json -o /tmp/misses.png``
  shows the real photos that ``benchmarks/realism.py``'s classifiers misjudged (one row per
  classifier and real set), read from the labelled .recs in its work folder; given a
  ``benchmarks/realism_seeds.py`` result, those several (b) models get wrong, most-missed
  first, each with how many models missed it.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from maskgen.evaluate.photos import align_photo
from maskgen.faces import load_face_finder
from maskgen.images import decode_rgb, read_rgb
from maskgen.masks import Masker, MaskSpec, available_mask_types
from maskgen.preview import Tile, demo_portrait, render_sheet, write_image
from maskgen.seeding import item_rng

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SIZE = 112
REAL_KINDS = {
    "surgical": ("surgical_white",),
    "surgical_blue": ("surgical_blue",),
    "surgical_green": ("surgical_green",),
    "n95": ("N95", "N99"),
    "kn95": ("KN95",),
    "cloth": ("cloth_textured", "cloth_black", "cloth_purple", "cloth_white", "cloth_red"),
}
"""maskgen mask type -> MFR2-dev ``mask_type`` labels of real masks of that kind."""


def blank() -> Tile:
    return Tile(np.full((SIZE, SIZE, 3), 245, np.uint8), "")


def masked(masker: Masker, crop: np.ndarray, key: str) -> np.ndarray:
    """``crop`` (112, 112, 3) uint8 RGB with one mask drawn from ``(0, key)``."""
    return masker.mask_image(crop, item_rng(0, key)).image


def low_resolution(crop: np.ndarray, side: int = 40) -> np.ndarray:
    """A copy as a ``side`` px photo would look once aligned to 112x112 (down and back up)."""
    small = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)


def dark(crop: np.ndarray, gamma: float = 2.2) -> np.ndarray:
    """A copy under dim light (gamma ``gamma``)."""
    return (255 * (crop / 255.0) ** gamma).astype(np.uint8)


def twin_tiles() -> list[Tile]:
    """The public-domain half: the astronaut's 112x112 crop, then per mask type a plain, a
    coloured and a textured draw, and the plain draw on a low-resolution and a dark copy."""
    crop = align_photo(demo_portrait(), load_face_finder(None))
    if crop is None:
        raise SystemExit("no face found on the astronaut portrait")
    tiles: list[Tile] = []
    for mask_type in available_mask_types():
        plain = Masker(MaskSpec((mask_type,), 0.0, 0.0), face_mode="aligned")
        colour = Masker(MaskSpec((mask_type,), 1.0, 0.0), face_mode="aligned")
        texture = Masker(MaskSpec((mask_type,), 0.0, 1.0), face_mode="aligned")
        key = f"sheet/{mask_type}"
        tiles += [
            Tile(crop, "original"),
            Tile(masked(plain, crop, key), f"{mask_type}"),
            Tile(masked(colour, crop, key), "colour"),
            Tile(masked(texture, crop, key), "texture"),
            Tile(masked(plain, low_resolution(crop), key), "40 px photo"),
            Tile(masked(plain, dark(crop), key), "dim light"),
        ]
    return tiles


def lfw_crops(shared: Path) -> list[np.ndarray]:
    """The 294 aligned crops of ``rec/lfw-mini/train.rec``."""
    from maskgen.formats.recordio import RecordIOReader

    with RecordIOReader(shared / "rec" / "lfw-mini" / "train.rec") as reader:
        return [decode_rgb(reader.read(k).data) for k in reader.image_keys()]


def mfr2_by_kind(shared: Path) -> dict[str, list[Path]]:
    """MFR2-dev's masked photos by ``mask_type`` label."""
    root = shared / "real-masks" / "mfr2-dev"
    kinds: dict[str, list[Path]] = {}
    with open(root / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["masked"] == "1":
                kinds.setdefault(row["mask_type"], []).append(root / "images" / row["file"])
    return kinds


def real_tiles(shared: Path, per_side: int, rmfd_rows: int) -> list[Tile]:
    """Rows of ``per_side`` twin crops next to ``per_side`` real ones (see the module doc)."""
    rng = np.random.default_rng(0)
    crops = lfw_crops(shared)
    kinds = mfr2_by_kind(shared)
    tiles: list[Tile] = []
    for mask_type in available_mask_types():
        masker = Masker(MaskSpec((mask_type,)), face_mode="aligned")
        picks = rng.choice(len(crops), per_side, replace=False)
        tiles += [Tile(masked(masker, crops[i], f"lfw/{i}"), f"twin {mask_type}") for i in picks]
        real = [p for kind in REAL_KINDS.get(mask_type, ()) for p in kinds.get(kind, [])]
        chosen = [real[i] for i in sorted(rng.permutation(len(real))[:per_side])]
        for path in chosen:
            label = next(k for k, v in kinds.items() if path in v)
            tiles.append(Tile(read_rgb(path), f"MFR2 {label}"))
        tiles += [blank() for _ in range(per_side - len(chosen))]
    rmfd = sorted((shared / "real-masks" / "rwmfd-aligned").glob("*.jpg"))
    masker = Masker(MaskSpec(), face_mode="aligned")
    for _ in range(rmfd_rows):
        for i in rng.choice(len(crops), per_side, replace=False):
            tiles.append(Tile(masked(masker, crops[i], f"lfw/{i}"), "twin (default mix)"))
        for i in sorted(rng.choice(len(rmfd), per_side, replace=False)):
            tiles.append(Tile(read_rgb(rmfd[i]), f"RMFD {rmfd[i].stem}"))
    return tiles


def misjudged(report: dict) -> tuple[dict[str, str], list[tuple[str, str, list[int]]]]:
    """(real set -> its .rec, rows of (caption prefix, real set, positions)) of the photos a
    result got wrong: each classifier's of a ``benchmarks/realism.py`` result, or those the
    models of a ``benchmarks/realism_seeds.py`` result get wrong, most-missed first."""
    if "sets" in report and "real_recs" in report:  # realism_seeds.py: several (b) models
        rows = []
        for real_set, figures in report["sets"].items():
            by_photo = {int(i): n for i, n in figures["wrong_by_photo"].items()}
            order = sorted(by_photo, key=lambda i: (-by_photo[i], i))
            rows.append((f"(b) {report['models']} models:", real_set, order))
        return report["real_recs"], rows
    rows = [
        (name, real_set, wrong)
        for name, figures in report.get("a", {}).items()
        for real_set, wrong in figures.get("wrong", {}).items()
    ]
    return report.get("data", {}).get("real_recs", {}), rows


def miss_tiles(results: Path, columns: int) -> list[Tile]:
    """Rows of the real photos a ``benchmarks/realism.py`` or ``realism_seeds.py`` result got
    wrong (:func:`misjudged`; up to ``columns`` a row, a blank-padded row per classifier and
    set)."""
    from maskgen.formats.recordio import RecordIOReader

    report = json.loads(results.read_text())
    recs, rows = misjudged(report)
    counts = {s: f["wrong_by_photo"] for s, f in report.get("sets", {}).items()}
    tiles: list[Tile] = []
    for prefix, real_set, wrong in rows:
        if not wrong:
            continue
        with RecordIOReader(recs[real_set]) as reader:
            keys = reader.image_keys()
            row = []
            for i in wrong[:columns]:
                times = counts.get(real_set, {}).get(str(i))
                caption = f"{prefix} {real_set} #{i}" + (f", {times} wrong" if times else "")
                row.append(Tile(decode_rgb(reader.read(keys[i]).data), caption))
        tiles += row + [blank() for _ in range(-len(row) % columns)]
    return tiles


def inside_repository(path: Path) -> bool:
    return path.resolve().is_relative_to(REPO)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", action="store_true", help="twins next to real masked crops")
    parser.add_argument("-o", "--out", type=Path, default=None,
                        help="default: docs/twin_masks_112.png; with --real, "
                        "/tmp/twin_vs_real.png")  # fmt: skip
    parser.add_argument("--shared", type=Path, default=SHARED, help="../shared/data")
    parser.add_argument("--per-side", type=int, default=4, help="crops per side of a row")
    parser.add_argument("--rmfd-rows", type=int, default=3)
    parser.add_argument("--misses", type=Path, default=None,
                        help="a realism.py or realism_seeds.py result JSON: its misjudged "
                        "real photos")  # fmt: skip
    args = parser.parse_args(argv)
    if args.misses is not None and (args.out is None or inside_repository(args.out)):
        print("--misses shows real photos: give -o outside the repository", file=sys.stderr)
        return 2
    if args.misses is not None:
        out = args.out
        if not args.misses.is_file():
            print(f"{args.misses}: no such result file", file=sys.stderr)
            return 2
        tiles = miss_tiles(args.misses, 8)
        if not tiles:
            why = "(b) alone records none: benchmarks/realism_seeds.py --out OUT.json does"
            print(f"{args.misses}: no misjudged photos recorded ({why})", file=sys.stderr)
            return 2
        sheet = render_sheet(tiles, columns=8, tile_size=SIZE)
    elif not args.real:
        out = args.out or REPO / "docs" / "twin_masks_112.png"
        sheet = render_sheet(twin_tiles(), columns=6, tile_size=SIZE)
    else:
        out = args.out or Path("/tmp/twin_vs_real.png")
        if inside_repository(out):
            print(f"{out}: real photos are third-party; write the sheet outside the repository",
                  file=sys.stderr)  # fmt: skip
            return 2
        if not (args.shared / "real-masks" / "mfr2-dev" / "labels.csv").is_file():
            print(f"{args.shared}: no real-masks/ (../shared/data)", file=sys.stderr)
            return 2
        tiles = real_tiles(args.shared, args.per_side, args.rmfd_rows)
        sheet = render_sheet(tiles, columns=2 * args.per_side, tile_size=SIZE)
    print(write_image(out, sheet))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
