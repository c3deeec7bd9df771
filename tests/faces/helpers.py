"""Large synthetic photos with real LFW faces pasted in at chosen sizes (tests of the search at
full resolution)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from maskgen.faces import FaceFinder
from maskgen.images import read_rgb


@dataclass(frozen=True)
class PastedFace:
    """Where a face photo was pasted (x0, y0, x1, y1) and its face's width in the big photo."""

    region: tuple[int, int, int, int]
    face_width: float


def background(height: int, width: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: a colour gradient with smooth blotches and fine noise, like a dull
    wall photographed with a noisy sensor."""
    rng = np.random.default_rng(seed)
    blotches = cv2.resize(rng.uniform(60, 190, (12, 16, 3)), (width, height), cv2.INTER_CUBIC)
    ramp = np.linspace(-30, 30, width)[None, :, None]
    noise = rng.normal(0, 6, (height, width, 3))
    return np.clip(blotches + ramp + noise, 0, 255).astype(np.uint8)


def paste_faces(
    canvas: np.ndarray,
    finder: FaceFinder,
    photos: list[Path],
    widths: list[int],
    corners: list[tuple[int, int]],
) -> list[PastedFace]:
    """Paste each LFW photo into ``canvas`` (in place) at ``corners`` (x, y), scaled so that
    its face (as detected on the original) is ``widths`` pixels wide."""
    pasted = []
    for path, width, (x, y) in zip(photos, widths, corners, strict=True):
        rgb = read_rgb(path)
        x0, _, x1, _ = finder.find_faces(rgb, "detect")[0].box
        scale = width / (x1 - x0)
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        scaled = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=interpolation)
        h, w = scaled.shape[:2]
        canvas[y : y + h, x : x + w] = scaled
        pasted.append(PastedFace(region=(x, y, x + w, y + h), face_width=width))
    return pasted


def inside(points: np.ndarray, region: tuple[int, int, int, int]) -> bool:
    """Whether every (x, y) point lies in the region (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = region
    return bool(((points[:, 0] >= x0) & (points[:, 0] < x1)).all()) and bool(
        ((points[:, 1] >= y0) & (points[:, 1] < y1)).all()
    )
