"""Contact sheets: originals next to their masked versions, for a quick look at a run's output.

Used by ``maskgen preview`` (a sample of any dataset) and ``maskgen demo`` (scikit-image's
public-domain astronaut portrait with every mask type), so a user can judge the masks before
spending hours on a full dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from maskgen.atomic import write_bytes_atomic
from maskgen.errors import OutputError
from maskgen.images import decode_rgb
from maskgen.seeding import item_rng

TILE = 160
CAPTION_HEIGHT = 18
BACKGROUND = (245, 245, 245)


@dataclass(frozen=True)
class Tile:
    """One picture on a sheet with its caption. ``image``: (H, W, 3) uint8 RGB."""

    image: np.ndarray
    caption: str = ""


def _fit(image: np.ndarray, side: int) -> np.ndarray:
    """Resize to fit a ``side`` x ``side`` square, centred on the background colour."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image, size, interpolation=interpolation)
    canvas = np.full((side, side, 3), BACKGROUND, np.uint8)
    y, x = (side - size[1]) // 2, (side - size[0]) // 2
    canvas[y : y + size[1], x : x + size[0]] = resized
    return canvas


def render_sheet(tiles: Sequence[Tile], columns: int, tile_size: int = TILE) -> np.ndarray:
    """Lay tiles out in a grid with captions underneath. Returns (H, W, 3) uint8 RGB."""
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    cell_h = tile_size + CAPTION_HEIGHT
    sheet = np.full((rows * cell_h + 4, columns * (tile_size + 4) + 4, 3), BACKGROUND, np.uint8)
    for i, tile in enumerate(tiles):
        y = 4 + (i // columns) * cell_h
        x = 4 + (i % columns) * (tile_size + 4)
        sheet[y : y + tile_size, x : x + tile_size] = _fit(tile.image, tile_size)
        caption = tile.caption[: tile_size // 7]
        cv2.putText(
            sheet,
            caption,
            (x + 2, y + tile_size + 13),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (40, 40, 40),
            1,
            cv2.LINE_AA,
        )
    return sheet


def write_png(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB image as PNG (temporary name, then rename); OutputError if it fails."""
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OutputError(f"{path}: could not encode the image as PNG")
    return write_bytes_atomic(Path(path), png.tobytes())


def caption_for(outcome) -> str:
    """A short description of what was applied to the largest face ("no_face" if nothing)."""
    if not outcome.applied:
        return outcome.reason or "not masked"
    params = outcome.applied[0].params
    extra = params.texture.split("/")[-1] if params.texture else (params.color or "")
    return f"{params.mask_type} {extra}".strip()


def _spread_images(reader, n: int):
    """Up to ``n`` image samples spread evenly over a dataset (skipping non-image records)."""
    keys = reader.keys()
    seen = set()
    for start in np.linspace(0, len(keys) - 1, min(n, len(keys))).astype(int):
        for index in range(start, len(keys)):
            if index in seen:
                break
            seen.add(index)
            sample = reader.read(keys[index])
            if sample.is_image:
                yield sample
                break


def preview_dataset(
    input_path: Path,
    out_png: Path,
    *,
    n: int = 24,
    seed: int = 0,
    spec=None,
    face_mode: str | None = None,
    models_dir: str | None = None,
    columns: int = 8,
) -> Path:
    """Mask ``n`` items spread evenly over a dataset and write originals beside masked versions.

    Uses exactly the per-item draw of ``maskgen augment`` (same seed, same key -> same mask).
    """
    from maskgen.formats import find_format
    from maskgen.masks import Masker, MaskSpec

    fmt = find_format(input_path)
    reader = fmt.open_reader(Path(input_path))
    mode = face_mode or ("aligned" if fmt.aligned_by_default else "auto")
    masker = Masker(spec or MaskSpec(), face_mode=mode, models_dir=models_dir)
    tiles: list[Tile] = []
    for sample in _spread_images(reader, n):
        rgb = decode_rgb(sample.data)
        if rgb is None:
            continue
        outcome = masker.mask_image(rgb, item_rng(seed, sample.key))
        tiles += [Tile(rgb, str(sample.key)[-22:]), Tile(outcome.image, caption_for(outcome))]
    if not tiles:
        raise OutputError(f"{input_path}: no readable images to preview")
    return write_png(out_png, render_sheet(tiles, columns=columns - columns % 2 or 2))


def face_crop(
    box: tuple[float, float, float, float], shape: tuple[int, ...]
) -> tuple[slice, slice]:
    """A square region around a face box, 1.8 times its size, clipped to the image."""
    x0, y0, x1, y1 = box
    half = 0.9 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    top, left = max(0, round(cy - half)), max(0, round(cx - half))
    return slice(top, min(shape[0], round(cy + half))), slice(left, min(shape[1], round(cx + half)))


def demo_portrait() -> np.ndarray:
    """scikit-image's bundled astronaut portrait (Eileen Collins, NASA, public domain)."""
    from skimage import data

    return data.astronaut()


def run_demo(out_dir: Path, *, seed: int = 0, models_dir: str | None = None) -> list[Path]:
    """Mask the bundled portrait with every mask type, plain, coloured and textured; write each
    result and a contact sheet ``out_dir/demo_sheet.png``. Needs no download."""
    from maskgen.masks import Masker, MaskSpec, available_mask_types

    out_dir = Path(out_dir)
    portrait = demo_portrait()
    tiles = [Tile(portrait, "original")]
    written: list[Path] = []
    crop = (slice(None), slice(None))
    variants = {"plain": (0.0, 0.0), "color": (1.0, 0.0), "texture": (0.0, 1.0)}
    for mask_type in available_mask_types():
        for variant, (color_prob, texture_prob) in variants.items():
            spec = MaskSpec(
                mask_types=(mask_type,), color_prob=color_prob, texture_prob=texture_prob
            )
            masker = Masker(spec, face_mode="detect", models_dir=models_dir)
            outcome = masker.mask_image(portrait, item_rng(seed, f"demo/{mask_type}/{variant}"))
            written.append(write_png(out_dir / f"{mask_type}_{variant}.png", outcome.image))
            tiles.append(Tile(outcome.image, caption_for(outcome)))
            if outcome.applied:
                crop = face_crop(outcome.applied[0].face.box, portrait.shape)
    tiles = [Tile(tile.image[crop], tile.caption) for tile in tiles]
    sheet = render_sheet(tiles, columns=4, tile_size=256)
    written.append(write_png(out_dir / "demo_sheet.png", sheet))
    return written
