"""Contact sheets: originals next to their masked versions, for a quick look at a run's output.

Used by ``maskgen preview`` (a sample of any dataset) and ``maskgen demo`` (scikit-image's
public-domain astronaut portrait with every mask type), so a user can judge the masks before
spending hours on a full dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from maskgen.atomic import write_bytes_atomic
from maskgen.errors import DatasetFormatError, OutputError
from maskgen.images import StoredImage, encode_image, read_stored
from maskgen.seeding import item_rng

if TYPE_CHECKING:
    from maskgen.masks import Masker

TILE = 160
BACKGROUND = (245, 245, 245)
TEXT_COLOR = (40, 40, 40)
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.4
LINE_HEIGHT = 15
"""Pixels per caption line: OpenCV's Hershey simplex at scale 0.4 reaches 11 px above the
baseline and 3 below (``cv2.getTextSize``), plus 1 px between lines."""
_BREAK_AFTER = " /_-."


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


def _text_width(text: str) -> int:
    return cv2.getTextSize(text, FONT, FONT_SCALE, 1)[0][0]


def _drawable(text: str) -> str:
    """``text`` with each byte of a name that is not UTF-8 (Python's surrogate escapes) as
    ``\\xNN``, as ``ls -b`` shows it: OpenCV's text functions crash the process on them."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def wrap_caption(text: str, width: int) -> list[str]:
    """``text`` cut into lines no wider than ``width`` pixels in the sheet's font, nothing left
    out. Lines break after a space, "/", "_", "-" or "." where one fits (file names and keys
    have few spaces), else between characters. Returns [] for an empty caption."""
    lines: list[str] = []
    rest = _drawable(text).strip()
    while rest:
        cut = len(rest)
        while cut > 1 and _text_width(rest[:cut]) > width:
            cut -= 1
        if cut < len(rest):
            soft = max(rest.rfind(c, 0, cut) for c in _BREAK_AFTER) + 1
            cut = soft if soft > 0 else cut
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return lines


def render_sheet(tiles: Sequence[Tile], columns: int, tile_size: int = TILE) -> np.ndarray:
    """Lay tiles out in a grid, each caption wrapped in full underneath (the caption band is
    as tall as the longest caption needs). Returns (H, W, 3) uint8 RGB."""
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    captions = [wrap_caption(tile.caption, tile_size - 4) for tile in tiles]
    caption_h = max(1, max(len(lines) for lines in captions)) * LINE_HEIGHT + 3
    cell_h = tile_size + caption_h
    sheet = np.full((rows * cell_h + 4, columns * (tile_size + 4) + 4, 3), BACKGROUND, np.uint8)
    for i, (tile, lines) in enumerate(zip(tiles, captions, strict=True)):
        y = 4 + (i // columns) * cell_h
        x = 4 + (i % columns) * (tile_size + 4)
        sheet[y : y + tile_size, x : x + tile_size] = _fit(tile.image, tile_size)
        for n, line in enumerate(lines):
            baseline = y + tile_size + 12 + n * LINE_HEIGHT
            cv2.putText(
                sheet, line, (x + 2, baseline), FONT, FONT_SCALE, TEXT_COLOR, 1, cv2.LINE_AA
            )
    return sheet


def sheet_format(path: Path) -> str:
    """The image format ``path``'s suffix names (any case; any format maskgen writes, see
    ``maskgen.formats.folder.image_format_of``); OutputError listing the allowed suffixes for
    any other."""
    from maskgen.formats.folder import image_format_of

    try:
        return image_format_of(path)
    except DatasetFormatError as exc:
        raise OutputError(str(exc)) from None


def write_image(path: Path, rgb: np.ndarray, *, jpeg_quality: int = 95) -> Path:
    """Write an RGB image in the format its suffix names (temporary name, then rename);
    OutputError for an unknown suffix or if encoding fails."""
    path = Path(path)
    data = encode_image(rgb, sheet_format(path), jpeg_quality, path.name)
    return write_bytes_atomic(path, data)


def caption_for(outcome) -> str:
    """A short description of what was applied to the main face ("no_face" if nothing):
    type, texture or colour, and the placement where it is not ``correct``."""
    if not outcome.applied:
        return outcome.reason or "not masked"
    params = outcome.applied[0].params
    extra = params.texture.split("/")[-1] if params.texture else (params.color or "")
    worn = "" if params.wear == "correct" else params.wear
    return " ".join(part for part in (params.mask_type, extra, worn) if part)


def _spread_images(reader, n: int):
    """Up to ``n`` (sample, stored image or None) spread evenly over a dataset's image records
    (a ``.rec``'s identity records, at its end, left out of the spread: picks landing there
    gave fewer than ``n``). A record that holds no image (a folder's text files, macOS ``._``
    files: ``not_an_image``, ``apple_double``) passes its pick on to the next, and picks
    still missing at the end are filled from the records not yet read, in order. A damaged
    image is yielded with None: augment's row would say ``unreadable``."""
    from maskgen.pipeline.step import undecoded_reason

    keys = getattr(reader, "image_keys", reader.keys)()
    seen: set[int] = set()

    def image_at(index: int):
        seen.add(index)
        sample = reader.read(keys[index])
        if not sample.is_image:
            return None
        stored = read_stored(sample.data, sample.name, cut_short=True)
        if stored is None and undecoded_reason(sample) != "unreadable":
            return None
        return sample, stored

    found = 0
    for start in np.linspace(0, len(keys) - 1, min(n, len(keys))).astype(int):
        for index in range(start, len(keys)):
            if index in seen:
                break
            if (item := image_at(index)) is not None:
                found += 1
                yield item
                break
    for index in range(len(keys)):
        if found >= n:
            return
        if index not in seen and (item := image_at(index)) is not None:
            found += 1
            yield item


def preview_dataset(
    input_path: Path,
    out_path: Path,
    *,
    n: int = 24,
    seed: int = 0,
    spec=None,
    face_mode: str | None = None,
    models_dir: str | None = None,
    columns: int = 8,
    jpeg_quality: int = 95,
    progress: Callable[[int], None] | None = None,
    progress_total: Callable[[int], None] | None = None,
) -> PreviewSheet:
    """Mask ``n`` images spread evenly over a dataset and write originals beside masked
    versions to ``out_path``, in the format its suffix names (OutputError for another suffix,
    before any work). A damaged image is a blank pair captioned ``unreadable`` (and one whose
    pixels maskgen cannot hold ``unsupported_format``), as augment's manifest would say; what
    augment copies unchanged is shown unmasked with its reason. A dataset holding fewer than
    ``n`` images shows them all (:attr:`PreviewSheet.items` says how many). ``progress`` is
    called with 1 after each item (a bar's ``update``), ``progress_total`` once with how many
    there will be at most (a bar's ``reset``).

    Uses exactly the per-item draw of ``maskgen augment`` (same seed, same key -> same mask).

    Raises:
        OutputError: ``out_path`` names no format a sheet is written in, or no image of the
            dataset decodes.
    """
    from maskgen.formats import find_format

    sheet_format(Path(out_path))
    from maskgen.masks import Masker, MaskSpec
    from maskgen.pipeline.run import warn_if_not_crops

    fmt = find_format(input_path)
    reader = fmt.open_reader(Path(input_path))
    mode = face_mode or ("aligned" if fmt.aligned_by_default else "auto")
    if mode == "aligned":
        warn_if_not_crops(reader)  # as augment warns: masks over the chin and neck
    masker = Masker(spec or MaskSpec(), face_mode=mode, models_dir=models_dir)
    if progress_total is not None:
        progress_total(min(n, len(getattr(reader, "image_keys", reader.keys)())))
    tiles: list[Tile] = []
    decoded = 0
    for sample, stored in _spread_images(reader, n):
        decoded += stored is not None and stored.maskable
        tiles += _tile_pair(sample.key, stored, masker, seed)
        if progress is not None:
            progress(1)
    if not decoded:
        raise OutputError(f"{input_path}: no readable images to preview")
    sheet = render_sheet(tiles, columns=columns - columns % 2 or 2)
    return PreviewSheet(write_image(out_path, sheet, jpeg_quality=jpeg_quality), len(tiles) // 2)


def _tile_pair(key: Any, stored: StoredImage | None, masker: Masker, seed: int) -> list[Tile]:
    """An item's original and masked tiles, as ``maskgen augment`` would mask it: a blank pair
    captioned with the reason where it does not decode (``unreadable``) or holds pixels
    maskgen cannot (``unsupported_format``), and the original twice, captioned with the
    reason, where augment copies it unchanged."""
    if stored is None or not stored.maskable:
        blank = np.full((TILE, TILE, 3), BACKGROUND, dtype=np.uint8)
        reason = "unreadable" if stored is None else "unsupported_format"
        return [Tile(blank, str(key)), Tile(blank, reason)]
    from maskgen.pipeline.step import left_unmasked

    rgb = stored.rgb  # an animation's first frame
    reason = left_unmasked(stored)
    if reason is not None:
        return [Tile(rgb, str(key)), Tile(rgb, reason)]
    outcome = masker.mask_image(rgb, item_rng(seed, key))
    return [Tile(rgb, str(key)), Tile(outcome.image, caption_for(outcome))]


@dataclass(frozen=True)
class PreviewSheet:
    """What :func:`preview_dataset` wrote: the sheet's ``path`` and how many ``items`` (pairs)
    it shows, fewer than asked where the dataset holds fewer images."""

    path: Path
    items: int


def face_crop(
    box: tuple[float, float, float, float], shape: tuple[int, ...]
) -> tuple[slice, slice]:
    """A square region around a face box, 1.8 times its size, clipped to the image."""
    x0, y0, x1, y1 = box
    half = 0.9 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    top, left = max(0, round(cy - half)), max(0, round(cx - half))
    return slice(top, min(shape[0], round(cy + half))), slice(left, min(shape[1], round(cx + half)))


DEMO_ROWS = 300
"""Rows of the astronaut portrait the demo keeps: her head and shoulders. Below them, dlib's
HOG detector also scores the mission patch on her suit as a face (0.06 on dlib's grey image,
against 1.48 for her face; (123, 330)-(227, 434), larger than her face's box), so the demo
drew a second mask on the patch and its sheet was cropped on the patch. The face checks now
leave the patch unmasked (``doubtful_face``); the demo keeps its crop, which frames her face."""


def demo_portrait() -> np.ndarray:
    """scikit-image's bundled astronaut portrait (Eileen Collins, NASA, public domain), its
    top :data:`DEMO_ROWS` rows: (300, 512, 3) uint8 RGB."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:DEMO_ROWS])


DEMO_VARIANTS = {"plain": (0.0, 0.0), "color": (1.0, 0.0), "texture": (0.0, 1.0)}
"""The demo's variants: (color_prob, texture_prob) of each."""


def demo_outputs(out_dir: Path) -> list[Path]:
    """The files :func:`run_demo` writes into ``out_dir``, in order, the sheet last."""
    from maskgen.masks import available_mask_types

    names = [f"{t}_{v}.png" for t in available_mask_types() for v in DEMO_VARIANTS]
    return [Path(out_dir) / name for name in [*names, "demo_sheet.png"]]


def run_demo(out_dir: Path, *, seed: int = 0, models_dir: str | None = None) -> list[Path]:
    """Mask the bundled portrait with every mask type, plain, coloured and textured; write each
    result and a contact sheet ``out_dir/demo_sheet.png`` (:func:`demo_outputs`, replaced if
    they exist). Needs no download."""
    from maskgen.masks import Masker, MaskSpec, available_mask_types

    out_dir = Path(out_dir)
    portrait = demo_portrait()
    tiles = [Tile(portrait, "original")]
    written: list[Path] = []
    crop = (slice(None), slice(None))
    for mask_type in available_mask_types():
        for variant, (color_prob, texture_prob) in DEMO_VARIANTS.items():
            spec = MaskSpec(
                mask_types=(mask_type,), color_prob=color_prob, texture_prob=texture_prob
            )
            masker = Masker(spec, face_mode="detect", models_dir=models_dir)
            outcome = masker.mask_image(portrait, item_rng(seed, f"demo/{mask_type}/{variant}"))
            written.append(write_image(out_dir / f"{mask_type}_{variant}.png", outcome.image))
            tiles.append(Tile(outcome.image, caption_for(outcome)))
            if outcome.applied:
                crop = face_crop(outcome.applied[0].face.box, portrait.shape)
    tiles = [Tile(tile.image[crop], tile.caption) for tile in tiles]
    sheet = render_sheet(tiles, columns=4, tile_size=256)
    written.append(write_image(out_dir / "demo_sheet.png", sheet))
    return written
