"""Rendering masks onto real LFW faces: fit, determinism, light, colour, edges; and the warp."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.errors import ConfigError
from maskgen.faces import align_face, five_points, load_face_finder
from maskgen.masks import apply_mask, load_templates, load_textures, render
from maskgen.masks import textures as texture_files
from maskgen.masks.fit import fit_failures
from maskgen.masks.policy import FIT_JITTER_MAX
from maskgen.masks.render import _SHADOW_STRENGTH
from maskgen.masks.templates import read_template
from maskgen.masks.warp import (
    OUTSIDE,
    closed_corners,
    dense_map,
    dense_map_from_corners,
    dense_map_numpy,
    source_mesh,
    triangle_spans,
)
from maskgen.types import MaskParams
from tests.conftest import lfw_sample_paths

LUMA = np.array([0.299, 0.587, 0.114])


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def templates():
    return load_templates()


@pytest.fixture(scope="module")
def lfw_faces(lfw_dir: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(photo, landmarks of its largest face) for 30 spread-out LFW photos."""
    finder = load_face_finder()
    faces = []
    for path in lfw_sample_paths(lfw_dir, 32):
        rgb = read_rgb(path)
        found = finder.find_faces(rgb, "detect")
        if found:
            faces.append((rgb, found[0].landmarks))
    assert len(faces) >= 30
    return faces[:30]


@pytest.fixture(scope="module")
def photo(lfw_faces) -> tuple[np.ndarray, np.ndarray]:
    return lfw_faces[0]


def luma(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float64) @ LUMA


@pytest.mark.shared
def test_every_type_fits_lfw_faces(lfw_faces, templates):
    jitters = [(0.0, 0.0), (-FIT_JITTER_MAX, FIT_JITTER_MAX), (FIT_JITTER_MAX, -FIT_JITTER_MAX)]
    for index, (rgb, landmarks) in enumerate(lfw_faces):
        for name, template in templates.items():
            params = MaskParams(name, fit_jitter=jitters[index % len(jitters)])
            image, coverage = apply_mask(rgb, landmarks, template, params)
            assert fit_failures(landmarks, coverage) == [], (index, name, params.fit_jitter)
            changed = np.abs(image.astype(int) - rgb).max(axis=2) > 0
            far = cv2.dilate((coverage > 0).astype(np.uint8), np.ones((15, 15))) == 0
            assert not changed[far].any()  # nothing away from the mask (and its shadow) changes


@pytest.mark.shared
def test_aligned_crop_gets_a_fitting_mask(lfw_faces, templates):
    finder = load_face_finder()
    for rgb, landmarks in lfw_faces[:6]:
        crop = align_face(rgb, five_points(landmarks))
        face = finder.find_faces(crop, "aligned")[0]
        for name, template in templates.items():
            _, coverage = apply_mask(crop, face.landmarks, template, MaskParams(name))
            assert fit_failures(face.landmarks, coverage) == [], name
            assert 0.15 < (coverage > 0.5).mean() < 0.5  # a mask, not a sticker or a sheet


@pytest.mark.shared
def test_same_input_same_bytes_and_inputs_untouched(photo, templates):
    rgb, landmarks = photo
    rgb_before, landmarks_before = rgb.copy(), landmarks.copy()
    params = MaskParams("surgical", color="#3a5f9c", fit_jitter=(0.05, -0.03))
    first, alpha = apply_mask(rgb, landmarks, templates["surgical"], params)
    again, alpha_again = apply_mask(rgb, landmarks, templates["surgical"], params)
    assert first.tobytes() == again.tobytes() and alpha.tobytes() == alpha_again.tobytes()
    assert np.array_equal(rgb, rgb_before) and np.array_equal(landmarks, landmarks_before)
    assert first.dtype == np.uint8 and first.shape == rgb.shape
    assert alpha.dtype == np.float32 and alpha.shape == rgb.shape[:2]
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    other, _ = apply_mask(rgb, landmarks, templates["surgical"], replace(params, color="#202020"))
    assert other.tobytes() != first.tobytes()


@pytest.mark.shared
def test_mask_in_a_darker_photo_is_darker(photo, templates):
    rgb, landmarks = photo
    dark = (rgb * 0.45).astype(np.uint8)
    for name, template in templates.items():
        bright_out, alpha = apply_mask(rgb, landmarks, template, MaskParams(name))
        dark_out, _ = apply_mask(dark, landmarks, template, MaskParams(name))
        inside = alpha > 0.99
        ratio = luma(dark_out[inside]).mean() / luma(bright_out[inside]).mean()
        assert ratio < 0.65, (name, ratio)


@pytest.mark.shared
def test_side_light_shades_the_mask(photo, templates):
    rgb, landmarks = photo
    ramp = np.linspace(1.0, 0.35, rgb.shape[1])[None, :, None]  # light from the image's left
    side_lit = (rgb * ramp).astype(np.uint8)
    params = MaskParams("kn95")
    flat_out, alpha = apply_mask(rgb, landmarks, templates["kn95"], params)
    lit_out, _ = apply_mask(side_lit, landmarks, templates["kn95"], params)
    centre = landmarks[30, 0]
    columns = np.arange(rgb.shape[1])[None, :]
    left = (alpha > 0.99) & (columns < centre - 10)
    right = (alpha > 0.99) & (columns > centre + 10)

    def balance(out):
        return luma(out[left]).mean() / luma(out[right]).mean()

    assert balance(lit_out) > 1.15 * balance(flat_out)


@pytest.mark.shared
def test_colour_changes_hue_and_keeps_folds(photo, templates):
    rgb, landmarks = photo
    for name, template in templates.items():
        out, alpha = apply_mask(rgb, landmarks, template, MaskParams(name, color="#b03030"))
        inside = out[alpha > 0.99].astype(np.float64)
        red, green, blue = inside.mean(axis=0)
        assert red > 1.6 * green and red > 1.6 * blue, name
        assert luma(inside).std() > 5.0, name  # folds and seams still shade the colour


@pytest.mark.shared
def test_black_and_white_photo_gets_a_grey_mask(photo, templates):
    rgb, landmarks = photo
    grey = np.repeat(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
    for name in ("surgical_green", "cloth"):
        params = MaskParams(name, color="#2060d0")
        out, alpha = apply_mask(grey, landmarks, templates[name], params)
        assert (out.max(axis=2).astype(int) - out.min(axis=2) <= 1).all(), name
        colour_out, _ = apply_mask(rgb, landmarks, templates[name], params)
        inside = colour_out[alpha > 0.99].astype(int)
        assert (inside[:, 2] - inside[:, 0]).mean() > 40  # the colour photo keeps it blue


@pytest.mark.shared
def test_no_light_rim_at_the_edge(photo, templates):
    rgb, landmarks = photo
    for name, template in templates.items():
        out, alpha = apply_mask(rgb, landmarks, template, MaskParams(name, color="#101010"))
        edge = (alpha > 0.02) & (alpha < 0.98)
        assert edge.sum() > 100
        ceiling = np.maximum(rgb[edge].astype(int), 48)  # face, or the darkest mask can get
        assert (out[edge].astype(int) <= ceiling + 1).all(), name
        darkened = (rgb // 3).astype(np.uint8)
        out, alpha = apply_mask(darkened, landmarks, template, MaskParams(name, color="#f4f4f4"))
        # no dark rim either: the face at worst darkened by the mask's soft contact shadow
        floor = np.minimum(darkened[edge].astype(int) * (1 - _SHADOW_STRENGTH), 40)
        assert (out[edge].astype(int) >= floor - 1).all(), name


@pytest.mark.shared
def test_texture_paints_the_mask(photo, templates):
    rgb, landmarks = photo
    textures = load_textures()
    texture = textures["stripes_02"] if "stripes_02" in textures else next(iter(textures.values()))
    params = MaskParams(
        "cloth",
        texture=texture.name,
        texture_scale=1.0,
        texture_angle=0.0,
        texture_offset=(0.2, 0.4),
    )
    out, alpha = apply_mask(rgb, landmarks, templates["cloth"], params, texture)
    plain, plain_alpha = apply_mask(rgb, landmarks, templates["cloth"], MaskParams("cloth"))
    assert np.array_equal(alpha, plain_alpha)
    inside = alpha > 0.99
    assert np.abs(out[inside].astype(int) - plain[inside]).mean() > 10
    with pytest.raises(ConfigError, match="no texture was given"):
        apply_mask(rgb, landmarks, templates["cloth"], params)


def test_bad_inputs_raise_config_errors(templates):
    rgb = np.zeros((100, 100, 3), np.uint8)
    landmarks = np.zeros((68, 2), np.float32)
    template = templates["surgical"]
    with pytest.raises(ConfigError, match="uint8 RGB"):
        apply_mask(rgb.astype(np.float32), landmarks, template, MaskParams("surgical"))
    with pytest.raises(ConfigError, match=r"\(68, 2\)"):
        apply_mask(rgb, landmarks[:5], template, MaskParams("surgical"))
    with pytest.raises(ConfigError, match="colour"):
        apply_mask(rgb, landmarks, template, MaskParams("surgical", color="blue"))


def test_face_outside_the_image_leaves_it_unchanged(templates):
    rgb = np.full((60, 60, 3), 90, np.uint8)
    landmarks = np.random.default_rng(0).uniform(500, 600, (68, 2)).astype(np.float32)
    out, alpha = apply_mask(rgb, landmarks, templates["n95"], MaskParams("n95"))
    assert np.array_equal(out, rgb) and not alpha.any()


def test_dense_map_is_the_piecewise_affine_map():
    """Every pixel centre inside a triangle reads through that triangle's affine map."""
    rng = np.random.default_rng(1)
    height, width = 40, 50
    corners = np.array([[2.3, 1.7], [47.6, 3.1], [45.2, 38.4], [4.1, 36.9], [24.8, 19.6]])
    dst = corners[[[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]]]
    src = dst * 1.7 + rng.normal(0, 2.0, dst.shape) + 5.0
    warp = dense_map(dst, src, height, width)
    map_x, map_y = warp[:, :, 0], warp[:, :, 1]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    inside_any = np.zeros((height, width), bool)
    for d, s in zip(dst, src, strict=True):
        matrix = cv2.getAffineTransform(d.astype(np.float32), s.astype(np.float32))
        bary = np.linalg.solve(
            np.vstack([d.T, np.ones(3)]), np.stack([xs, ys, np.ones_like(xs)]).reshape(3, -1)
        ).reshape(3, height, width)
        inside = (bary > 1e-6).all(axis=0)
        inside_any |= (bary > -1e-6).all(axis=0)
        expected_x = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
        expected_y = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
        assert np.allclose(map_x[inside], expected_x[inside], atol=1e-3)
        assert np.allclose(map_y[inside], expected_y[inside], atol=1e-3)
    assert (map_x[~inside_any] == OUTSIDE).all()


@pytest.mark.shared
def test_coverage_does_not_depend_on_the_look(photo, templates):
    """Plain, recoloured, textured and tinted-textured masks cover exactly the same pixels."""
    rgb, landmarks = photo
    texture = next(iter(load_textures().values()))
    looks = [
        {},
        {"color": "#3a5f9c"},
        {"texture": texture.name, "texture_scale": 0.8, "texture_angle": 30.0},
        {"texture": texture.name, "color": "#3a5f9c", "texture_offset": (0.5, 0.1)},
    ]
    for name, template in templates.items():
        coverages = [
            apply_mask(rgb, landmarks, template, MaskParams(name, **look), texture)[1]
            for look in looks
        ]
        for coverage in coverages[1:]:
            assert np.array_equal(coverage, coverages[0]), name


def test_dense_map_spans_and_flat_triangles():
    """The map is set exactly on the spans' pixels; a flat triangle covers none, and
    overlapping triangles resolve to the later one."""
    height, width = 30, 40
    dst = np.array(
        [
            [[3.0, 2.0], [30.0, 4.5], [12.5, 25.0]],
            [[10.0, 10.0], [20.0, 10.0], [30.0, 10.0]],  # flat: a line, no area
            [[20.0, 5.0], [38.0, 6.0], [33.0, 28.0]],
        ]
    )
    src = dst * 0.5 + 7.0
    src[2] += 100.0  # the third triangle reads somewhere else entirely
    warp = dense_map(dst, src, height, width)
    index, row, first, length = triangle_spans(dst[[0, 2]], height, width)
    covered = np.zeros((height, width), bool)
    owner = np.full((height, width), -1)
    for tri, r, f, n in zip(index, row, first, length, strict=True):
        covered[r, f : f + n] = True
        owner[r, f : f + n] = tri
    assert np.array_equal(warp[:, :, 0] != OUTSIDE, covered)
    later = owner == 1
    assert later.any() and (warp[later, 0] > 50.0).all()  # the third triangle's map wins
    assert (warp[covered & ~later, 0] < 50.0).all()


def test_compiled_dense_map_equals_the_numpy_reference_bit_for_bit(monkeypatch):
    """The compiled kernel and the vectorised numpy reference give the same map, byte for
    byte: random triangles partly off the grid, flat ones, corners on pixel centres and on
    half pixels (where the rounding margins decide), empty and one-pixel grids."""
    monkeypatch.setenv("MASKGEN_KERNELS", "numba")  # else a process new to numba uses numpy
    rng = np.random.default_rng(7)
    for trial in range(600):
        count = int(rng.integers(1, 30))
        height, width = int(rng.integers(1, 70)), int(rng.integers(1, 70))
        dst = rng.uniform(-8, max(height, width) + 8, (count, 3, 2))
        if trial % 5 == 0:
            dst[0, 2] = dst[0, 0]  # a flat triangle
        if trial % 3 == 0:
            dst = np.round(dst * 2) / 2
        src = rng.uniform(0, 400, (count, 3, 2))
        corners, mesh = closed_corners(dst), source_mesh(src)
        fast = dense_map_from_corners(corners, mesh, height, width)
        reference = dense_map_numpy(corners, mesh, height, width)
        assert fast.dtype == np.float32 and fast.shape == (height, width, 2)
        assert fast.tobytes() == reference.tobytes(), trial


@pytest.mark.shared
def test_compiled_light_summary_equals_the_numpy_reference(lfw_faces, monkeypatch):
    """The light kernel reads the same cells, percentiles and surround as its numpy
    reference, to the bit, on LFW photos, their aligned crops and faces pushed half out of
    the frame (where the surround and the clipped boxes change)."""
    finder = load_face_finder()
    faces = []
    for rgb, landmarks in lfw_faces:
        crop = align_face(rgb, five_points(landmarks))
        faces += [(rgb, landmarks), (rgb, landmarks + np.float32([-90, 60]))]
        faces += [(crop, found.landmarks) for found in finder.find_faces(crop, "aligned")]
    found = {}
    for kernels in ("numpy", "numba"):
        monkeypatch.setenv("MASKGEN_KERNELS", kernels)
        found[kernels] = []
        for rgb, landmarks in faces:
            stats = render._light_stats(rgb, landmarks)
            assert stats is not None
            found[kernels].append(
                (stats.samples.tobytes(), stats.face_high, stats.image_high, stats.surround)
            )
    assert found["numba"] == found["numpy"]
    assert sum(row[3] is None for row in found["numpy"]) < len(faces)  # surrounds were read


@pytest.mark.shared
def test_renders_equal_with_levels_evicted_and_rebuilt(lfw_faces, templates, monkeypatch):
    """Prepared levels live in a bounded cache: with room for one level only, every render
    rebuilds what it needs, and the images are the same bytes as with every level kept."""
    faces = [(rgb, landmarks) for rgb, landmarks in lfw_faces[:4]]
    faces += [(cv2.resize(rgb, None, fx=3, fy=3), landmarks * 3 + 1) for rgb, landmarks in faces]
    jobs = [(rgb, lm, name) for rgb, lm in faces for name in templates]
    kept = [apply_mask(rgb, lm, templates[name], MaskParams(name))[0] for rgb, lm, name in jobs]
    tiny = render._LevelCache(budget=1)
    monkeypatch.setattr(render, "_LEVELS", tiny)
    for (rgb, lm, name), expected in zip(jobs, kept, strict=True):
        out, _ = apply_mask(rgb, lm, templates[name], MaskParams(name))
        assert out.tobytes() == expected.tobytes(), name
        assert len(tiny._entries) == 1  # the budget holds one level: older ones went


@pytest.mark.shared
def test_levels_and_textures_read_from_the_user_cache_render_the_same_bytes(
    lfw_faces, templates, tmp_path, monkeypatch
):
    """A level or texture read back from the user's cache (a later run's start) renders the
    very bytes a freshly built one does; a changed template file is a new entry, not a stale
    one; with the cache off nothing is stored."""
    monkeypatch.setenv("MASKGEN_CACHE_DIR", str(tmp_path / "cache"))
    textures = load_textures()
    rgb, landmarks = lfw_faces[0]
    params = [MaskParams(name) for name in templates]
    params.append(MaskParams("cloth", texture=sorted(textures)[3], texture_scale=1.0))

    def renders() -> list[bytes]:
        render._LEVELS.clear()  # as a new process: levels come from the cache or are built
        out = []
        for p in params:
            texture = textures[p.texture] if p.texture else None
            out.append(apply_mask(rgb, landmarks, templates[p.mask_type], p, texture)[0].tobytes())
        return out

    built = renders()
    entries = sorted(path.name for path in (tmp_path / "cache").iterdir())
    assert any(name.startswith("level-") for name in entries)
    path = textures[params[-1].texture].__dict__["_path"]  # a built-in, decoded when drawn
    texture_files._read_rgb_cached(path)  # decoded (and stored) as a process first draws it
    assert any(name.startswith("texture-") for name in os.listdir(tmp_path / "cache"))
    again = texture_files._read_rgb_cached(path)  # as a later process reads it: from the cache
    assert isinstance(again.base, np.memmap) or isinstance(again, np.memmap)
    assert again.tobytes() == texture_files._read_rgb(path).tobytes()
    assert renders() == built  # levels read back from the cache

    copy = tmp_path / "templates"
    shutil.copytree(templates["surgical"].source.parent, copy)
    moved = read_template(copy / "surgical.json")
    render._prepare_level(moved, 3)
    before = set(os.listdir(tmp_path / "cache"))
    os.utime(moved.source.with_suffix(".png"), ns=(1, 1))  # the image "changed"
    render._prepare_level(read_template(copy / "surgical.json"), 3)  # read again: a new key
    added = set(os.listdir(tmp_path / "cache")) - before  # the level, and the template's image
    assert {name.split("-")[0] for name in added} == {"level", "template"}
    (level,) = [name for name in added if name.startswith("level-")]
    assert level.startswith("level-surgical-3-")

    flipped = replace(moved, rgba=np.ascontiguousarray(moved.rgba[:, ::-1]))  # made in code
    own = render._prepare_level(flipped, 3)
    assert own.premultiplied.tobytes() == render._build_level(flipped, 3).premultiplied.tobytes()
    assert own.premultiplied.tobytes() != render._prepare_level(moved, 3).premultiplied.tobytes()

    again = read_template(copy / "surgical.json")
    entry = tmp_path / "cache" / level  # this file state's entry
    (entry / "alpha.npy").write_bytes(b"")  # emptied, as a crash can leave a file
    rebuilt = render._prepare_level(again, 3)  # built again, not an error
    assert rebuilt.alpha.tobytes() == render._build_level(again, 3).alpha.tobytes()
    assert (entry / "alpha.npy").stat().st_size > 0  # and stored whole again
    np.save(entry / "alpha.npy", np.zeros((3, 3), np.float64))  # loadable, but no level's
    rebuilt = render._prepare_level(again, 3)  # not used: built again and stored again
    assert rebuilt.alpha.tobytes() == render._build_level(again, 3).alpha.tobytes()
    assert np.load(entry / "alpha.npy").dtype == np.float32

    monkeypatch.setenv("MASKGEN_CACHE_DIR", "")  # switched off: built, the same bytes
    assert renders() == built


@pytest.mark.shared
def test_an_aligned_crop_prepares_only_the_levels_it_reads(lfw_faces, templates, monkeypatch):
    """Levels are built when a face needs them, not all at load: a 112x112 crop reads one
    small level of its template (a few hundred KB), not the 30 MB of all its levels."""
    rgb, landmarks = lfw_faces[0]
    crop = align_face(rgb, five_points(landmarks))
    face = load_face_finder().find_faces(crop, "aligned")[0]
    cache = render._LevelCache(budget=render._LEVEL_CACHE_BYTES)
    monkeypatch.setattr(render, "_LEVELS", cache)
    apply_mask(crop, face.landmarks, templates["kn95"], MaskParams("kn95"))
    ((template, index),) = cache._entries
    assert template is templates["kn95"] and index > 0
    assert cache.nbytes < 2**20
    level = templates["kn95"].level(index)
    assert level.scale == templates["kn95"].level_scales[index]
    assert level.alpha.shape[1] < 0.3 * templates["kn95"].size[0]
