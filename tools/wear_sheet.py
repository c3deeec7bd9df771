"""Contact sheet of the four placements (how a mask is worn): one row per face and mask type.

By default it uses scikit-image's bundled astronaut portrait (public domain), so the sheet in
docs/ can be committed; pass photos to look at your own (written wherever you say, e.g. /tmp;
do not commit other people's photos).

    python tools/wear_sheet.py                                   # -> docs/wear_placements.png
    python tools/wear_sheet.py -o /tmp/sheet.png ../shared/data/lfw/lfw-deepfunneled/A*/*_0001.jpg
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from maskgen.masks import WEAR_PLACEMENTS, Masker, MaskSpec, available_mask_types
from maskgen.preview import Tile, demo_portrait, face_crop, render_sheet, write_image
from maskgen.seeding import item_rng

REPO = Path(__file__).resolve().parents[1]


def placement_tiles(rgb: np.ndarray, name: str, masker: Masker, key: str) -> list[Tile]:
    """The face cut out, then the same drawn mask in every placement (empty: no face)."""
    faces = masker.finder.find_faces(rgb, "auto")
    if not faces:
        return []
    params = masker.mask_faces(rgb, faces[:1], item_rng(0, key)).applied[0].params
    crop = face_crop(faces[0].box, rgb.shape)
    tiles = [Tile(rgb[crop], name)]
    for wear in WEAR_PLACEMENTS:
        image, _ = masker.render(rgb, faces[0].landmarks, replace(params, wear=wear))
        tiles.append(Tile(image[crop], f"{wear} ({params.mask_type})"))
    return tiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", type=Path, help="default: the astronaut portrait")
    parser.add_argument("-o", "--out", type=Path, default=REPO / "docs" / "wear_placements.png")
    parser.add_argument("--tile", type=int, default=160, help="tile size in pixels")
    args = parser.parse_args()
    tiles: list[Tile] = []
    if args.photos:
        masker = Masker(MaskSpec())
        for path in args.photos:
            rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            tiles += placement_tiles(rgb, path.stem[:24], masker, path.name)
    else:
        portrait = demo_portrait()
        for mask_type in ("surgical", "kn95", "n95", "cloth"):
            if mask_type in available_mask_types():
                masker = Masker(MaskSpec(mask_types=(mask_type,), texture_prob=0.0))
                tiles += placement_tiles(portrait, "original", masker, f"wear/{mask_type}")
    sheet = render_sheet(tiles, columns=1 + len(WEAR_PLACEMENTS), tile_size=args.tile)
    print(write_image(args.out, sheet))


if __name__ == "__main__":
    main()
