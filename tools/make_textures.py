"""Regenerate the built-in fabric textures in textures/, and optionally a contact sheet of them
(`python -m maskgen.assets` redraws the templates too, or checks both against the drawing code).

Example: python tools/make_textures.py --contact-sheet /tmp/textures.png
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import cv2
import numpy as np

from maskgen.assets.texture_art import generate_textures

REPO = Path(__file__).resolve().parents[1]


def contact_sheet(folder: Path, cell: int = 256, columns: int = 8) -> np.ndarray:
    """Every texture that ``folder/index.json`` lists, labelled: ``(H, W, 3) uint8 BGR``."""
    entries = json.loads((folder / "index.json").read_text())["textures"]
    rows = math.ceil(len(entries) / columns)
    sheet = np.full((rows * (cell + 20), columns * cell, 3), 255, np.uint8)
    for k, entry in enumerate(entries):
        y, x = (k // columns) * (cell + 20), (k % columns) * cell
        tile = cv2.imread(str(folder / entry["file"]), cv2.IMREAD_COLOR)
        sheet[y : y + cell, x : x + cell] = cv2.resize(
            tile, (cell, cell), interpolation=cv2.INTER_AREA
        )
        label = f"{entry['name']} x{entry['scale_hint']:g}"
        font = cv2.FONT_HERSHEY_SIMPLEX
        cv2.putText(sheet, label, (x + 4, y + cell + 15), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "textures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--contact-sheet", type=Path, help="also write a PNG of every texture")
    args = parser.parse_args()
    paths = generate_textures(args.out, seed=args.seed)
    print(f"wrote {len(paths) - 1} textures and {paths[-1]}")
    if args.contact_sheet is not None:
        if not cv2.imwrite(str(args.contact_sheet), contact_sheet(args.out)):
            raise SystemExit(f"could not write {args.contact_sheet}")
        print(f"wrote {args.contact_sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
