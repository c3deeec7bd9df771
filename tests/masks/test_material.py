"""How masks look as material on real faces: prints follow the cloth, light masks keep their
shading, a respirator's cup is domed, ear loops end at the ear (issue 8, item 4)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.errors import TemplateError
from maskgen.faces import align_face, five_points, load_face_finder
from maskgen.masks import apply_mask, load_templates
from maskgen.masks.creases import STRENGTH_BITS
from maskgen.masks.photometry import NO_MATCH
from maskgen.masks.templates import read_template
from maskgen.masks.textures import Texture
from maskgen.types import MaskParams
from tests.conftest import lfw_sample_paths

LUMA = np.array([0.299, 0.587, 0.114])
FRONTAL = ("Aaron_Eckhart_0001", "George_W_Bush_0005", "Serena_Williams_0003")


@pytest.fixture(scope="module")
def templates():
    return load_templates()


@pytest.fixture(scope="module")
def finder():
    return load_face_finder()


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def frontal_faces(lfw_dir: Path, finder) -> list[tuple[np.ndarray, np.ndarray]]:
    """(photo, landmarks) of three near-frontal LFW faces."""
    faces = []
    for name in FRONTAL:
        rgb = read_rgb(lfw_dir / name.rsplit("_", 1)[0] / f"{name}.jpg")
        faces.append((rgb, finder.find_faces(rgb, "detect")[0].landmarks))
    return faces


@pytest.fixture(scope="module")
def lfw_faces(lfw_dir: Path, finder) -> list[tuple[np.ndarray, np.ndarray]]:
    faces = []
    for path in lfw_sample_paths(lfw_dir, 24):
        rgb = read_rgb(path)
        found = finder.find_faces(rgb, "detect")
        if found:
            faces.append((rgb, found[0].landmarks))
    return faces


def params(mask_type: str, color: str | None = None, texture: str | None = None) -> MaskParams:
    return MaskParams(
        mask_type=mask_type,
        color=color,
        texture=texture,
        texture_scale=1.0,
        texture_angle=0.0,
        texture_offset=(0.0, 0.0),
        fit_jitter=(0.0, 0.0),
    )


def horizontal_stripes() -> Texture:
    """Dark and light bands 8 texels each: about 6 px per band on a 250x250 LFW face."""
    image = np.full((16, 16, 3), 235, np.uint8)
    image[:8] = 30
    image.flags.writeable = False
    return Texture("test/stripes", "test", image, 2.0)


def stripe_direction(gray: np.ndarray, region: np.ndarray, columns: tuple[float, float]) -> float:
    """Direction (degrees, mod 180) of the stripes' edges in the part of ``region`` between
    the two fractions of its width, from the luma structure tensor."""
    smooth = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.0)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
    ys, xs = np.nonzero(region)
    left, width = xs.min(), xs.max() - xs.min()
    pick = (xs >= left + columns[0] * width) & (xs <= left + columns[1] * width)
    ys, xs = ys[pick], xs[pick]
    jxx, jyy = (gx[ys, xs] ** 2).sum(), (gy[ys, xs] ** 2).sum()
    jxy = (gx[ys, xs] * gy[ys, xs]).sum()
    return float(np.degrees(0.5 * np.arctan2(2 * jxy, jxx - jyy)))


def bend(rgb, landmarks, template, texture) -> float:
    """How far (degrees) the stripes on the left fifth of the mask turn from those on the
    right fifth: 0 for straight parallel lines."""
    look = params(template.name, None, texture.name)
    out, coverage = apply_mask(rgb, landmarks, template, look, texture)
    gray = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
    left = stripe_direction(gray, coverage > 0.999, (0.08, 0.3))
    right = stripe_direction(gray, coverage > 0.999, (0.7, 0.92))
    return abs((left - right + 90) % 180 - 90)


@pytest.mark.shared
@pytest.mark.parametrize("mask_type", ["surgical", "cloth", "kn95"])
def test_stripes_bend_with_the_cloth(frontal_faces, templates, mask_type):
    """Horizontal stripes come out bent (they fan toward the ear loops and follow the nose
    wire and the chin), by at least 8 degrees more than the same print laid flat on the same
    warped template, on each of three real faces."""
    texture = horizontal_stripes()
    template = templates[mask_type]
    assert template.surface is not None
    flat = dataclasses.replace(template, surface=None)
    for rgb, landmarks in frontal_faces:
        curved = bend(rgb, landmarks, template, texture)
        straight = bend(rgb, landmarks, flat, texture)
        assert curved > straight + 8.0, (mask_type, curved, straight)


def test_fabric_coords_are_the_pixels_without_a_surface(templates):
    template = dataclasses.replace(templates["cloth"], surface=None)
    index = len(template.level_scales) - 1
    coords = template.fabric_coords(index)
    height, width = coords.shape[:2]
    assert np.array_equal(coords[:, :, 0], np.broadcast_to(np.arange(width), (height, width)))
    assert np.array_equal(coords[:, :, 1].T, np.broadcast_to(np.arange(height), (width, height)))
    curved = templates["cloth"].fabric_coords(index)
    assert np.abs(curved - coords).max() > 3  # the shipped cloth does curve


def test_a_malformed_surface_is_a_template_error(templates, tmp_path):
    source = templates["cloth"].source
    meta = json.loads(source.read_text())
    (tmp_path / "cloth.png").write_bytes(source.with_suffix(".png").read_bytes())
    for surface, message in (
        ({"step": 0, "du": [], "dv": []}, "step"),
        ({"step": 10, "du": [[0.0]], "dv": [[0.0]]}, "rows of"),
        ("flat", "object"),
    ):
        meta["surface"] = surface
        (tmp_path / "cloth.json").write_text(json.dumps(meta))
        with pytest.raises(TemplateError, match=message):
            read_template(tmp_path / "cloth.json")


@pytest.mark.shared
@pytest.mark.parametrize("color", ["#dcdbd9", None])
@pytest.mark.parametrize("mask_type", ["surgical", "n95", "kn95"])
def test_light_masks_keep_their_shading(lfw_faces, templates, mask_type, color):
    """White and light masks on 20+ LFW photos: on average under 5 % of the mask's pixels
    clip to 255 (folds and curvature washed out) and its luma spans at least 30 levels
    between its 10th and 90th percentile."""
    clipped, spread = [], []
    for rgb, landmarks in lfw_faces:
        out, coverage = apply_mask(rgb, landmarks, templates[mask_type], params(mask_type, color))
        pixels = out[coverage > 0.99]
        clipped.append((pixels.max(axis=1) >= 254).mean())
        luma = pixels @ LUMA
        spread.append(np.percentile(luma, 90) - np.percentile(luma, 10))
    assert len(clipped) >= 20
    assert np.mean(clipped) < 0.05
    assert np.median(spread) > 30


def shade_profile(template, row: int | None = None, column: int | None = None) -> np.ndarray:
    """The template's shading along one row or column inside the mask (off the rim seam),
    smoothed over the fabric's grain."""
    level = template.level(0)
    line = level.shade[row] if row is not None else level.shade[:, column]
    inside = (level.alpha[row] if row is not None else level.alpha[:, column]) > 0.99
    index = np.flatnonzero(inside)[10:-25]
    return cv2.GaussianBlur(line.astype(np.float32).reshape(1, -1), (0, 0), 6)[0][index]


def test_n95_cup_is_domed(templates):
    """The N95's shading is a dome's: across its middle it already falls by 3 % a quarter
    of the way in from each side (a flat disc with a rolled rim stays level there; the
    previous template fell 1 %) and by over 15 % at the rim; down its centre line it is
    darker under the chin than at the top (lit from above)."""
    template = templates["n95"]
    across = shade_profile(template, row=265)  # through the crown (y = 0.43 units)
    n = len(across)
    centre = across[n // 2]
    assert across[n // 4] < 0.97 * centre and across[3 * n // 4] < 0.97 * centre
    assert across[:5].mean() < 0.85 * centre and across[-5:].mean() < 0.85 * centre
    down = shade_profile(template, column=300)
    assert down[-5:].mean() < down[:5].mean() < 0.9 * down.max()


def test_regenerated_n95_has_a_raised_valve(templates):
    """The valve is lit like a 3-D part: its upper rim brighter than its lower one, and a
    shadow on the cup just below it, darker than the cup beside it."""
    level = templates["n95"].level(0)
    shade = level.shade
    vx, vy = 300 + 0.17 * 500 - 0.5, 50 + 0.56 * 500 - 0.5  # canonical (0.17, 0.56)
    upper = shade[int(vy - 35) : int(vy - 30), int(vx - 5) : int(vx + 5)].mean()
    lower = shade[int(vy + 33) : int(vy + 38), int(vx - 5) : int(vx + 5)].mean()
    assert upper > lower + 0.1
    below = shade[int(vy + 50) : int(vy + 54), int(vx - 5) : int(vx + 5)].mean()
    beside = shade[int(vy + 50) : int(vy + 54), int(vx - 105) : int(vx - 95)].mean()
    assert below < beside - 0.05


@pytest.mark.shared
def test_ear_loops_end_at_the_ear_on_aligned_crops(lfw_faces, finder, templates):
    """On aligned 112x112 crops, the mask's pixels (loops included) reach neither top corner
    of the crop, and the outermost loop pixels lie beside the ear: between the heights of
    landmarks 0 and 4, not above the eyes nor below the jaw corner."""
    checked = 0
    for rgb, landmarks in lfw_faces[:12]:
        crop = align_face(rgb, five_points(landmarks))
        found = finder.find_faces(crop, "aligned")
        if not found:
            continue
        points = found[0].landmarks
        for mask_type in ("surgical", "kn95", "cloth"):
            _, coverage = apply_mask(crop, points, templates[mask_type], params(mask_type))
            assert coverage[:12, :12].max() < 0.05 and coverage[:12, -12:].max() < 0.05
            for side, jaw_point in ((slice(None, 56), 0), (slice(56, None), 16)):
                cols = np.flatnonzero(coverage[:, side].max(axis=0) > 0.3)
                outer = cols.min() if jaw_point == 0 else cols.max()
                rows = np.flatnonzero(coverage[:, side][:, outer] > 0.3)
                top = points[jaw_point, 1] - 0.1 * (points[8, 1] - points[27, 1])
                bottom = points[4 if jaw_point == 0 else 12, 1]
                assert top <= rows.mean() <= bottom, (mask_type, rows.mean(), top, bottom)
            checked += 1
    assert checked >= 20


@pytest.mark.shared
@pytest.mark.parametrize("angle", [0, 30, -45])
def test_loops_and_straps_are_anti_aliased_at_any_roll(frontal_faces, finder, templates, angle):
    """On a real face turned in the image plane, the ear loops and straps (coverage away from
    the mask's body) are drawn with partial coverage along their edges: most of their pixels
    lie strictly between 5 % and 95 %, while their core still reaches 60 %; a jagged,
    aliased cord would be nearly all 0 or 1. The photographic match is off: it blurs the
    mask to the photo's softness, which is not what this checks."""
    rgb = frontal_faces[0][0]
    turned = cv2.warpAffine(rgb, cv2.getRotationMatrix2D((125, 125), angle, 1.0), (250, 250))
    landmarks = finder.find_faces(turned, "detect")[0].landmarks
    for mask_type in ("surgical", "n95", "kn95", "cloth"):
        _, coverage = apply_mask(
            turned, landmarks, templates[mask_type], params(mask_type), match=NO_MATCH
        )
        body = cv2.morphologyEx(
            (coverage > 0.5).astype(np.uint8), cv2.MORPH_OPEN, np.ones((7, 7), np.uint8)
        )
        near_body = cv2.dilate(body, np.ones((5, 5), np.uint8)) > 0
        cord = coverage[(coverage > 0.02) & ~near_body]
        assert cord.size > 60, mask_type
        assert ((cord > 0.05) & (cord < 0.95)).mean() > 0.6, mask_type
        assert cord.max() > 0.6, mask_type


CREASED = STRENGTH_BITS | 12345
"""A grain seed with the strongest creases (bits 20-29 all set)."""


def fine_detail(image: np.ndarray, where: np.ndarray) -> float:
    """Mean absolute difference of the luma from its Gaussian blur (sigma 2 px) where ``where``."""
    luma = image.astype(np.float64) @ LUMA
    return float(np.abs(luma - cv2.GaussianBlur(luma, (0, 0), 2.0))[where].mean())


@pytest.mark.parametrize("mask_type", ["surgical", "surgical_blue"])
def test_a_worn_surgical_mask_creases_only_inside_its_coverage(frontal_faces, templates, mask_type):
    """A creased surgical mask shows more fine detail over the mouth and chin than the same
    draw flat, on real faces; its coverage and every pixel outside it (skin, contact shadow)
    stay the same."""
    for rgb, landmarks in frontal_faces:
        params = MaskParams(mask_type=mask_type, color="#d1efff")
        flat, flat_cover = apply_mask(rgb, landmarks, templates[mask_type], params, match=NO_MATCH)
        creased_params = dataclasses.replace(params, grain_seed=CREASED)
        creased, cover = apply_mask(
            rgb, landmarks, templates[mask_type], creased_params, match=NO_MATCH
        )
        np.testing.assert_array_equal(cover, flat_cover)
        outside = flat_cover == 0
        np.testing.assert_array_equal(creased[outside], flat[outside])
        inside = cv2.erode((flat_cover > 0.99).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        assert fine_detail(creased, inside) > 1.5 * fine_detail(flat, inside)
        before, after = flat[inside].mean(0), creased[inside].mean(0)
        assert 0.93 < (after @ LUMA) / (before @ LUMA) < 1.02  # folds shade more than they light
        chroma_before, chroma_after = before / before.sum(), after / after.sum()
        assert np.all(np.abs(chroma_after - chroma_before) < 0.05 * chroma_before)  # no recolour


@pytest.mark.parametrize("mask_type", ["n95", "kn95", "cloth"])
def test_molded_and_cloth_masks_do_not_crease(frontal_faces, templates, mask_type):
    """Only the surgical family creases (maskgen.masks.creases.FOLD_STYLES): the others
    render the same whatever the crease bits of the seed (no grain: no photo match)."""
    rgb, landmarks = frontal_faces[0]
    params = MaskParams(mask_type=mask_type, color="#c1bec5")
    flat, _ = apply_mask(rgb, landmarks, templates[mask_type], params, match=NO_MATCH)
    again, _ = apply_mask(
        rgb,
        landmarks,
        templates[mask_type],
        dataclasses.replace(params, grain_seed=CREASED),
        match=NO_MATCH,
    )
    np.testing.assert_array_equal(again, flat)
