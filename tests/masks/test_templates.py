"""Mask templates: the shipped files, their validation and discovery (drawing: tests/assets)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.errors import TemplateError
from maskgen.masks import available_mask_types, default_templates_dir, load_templates
from maskgen.masks.templates import FACE_POINTS, REQUIRED_FIT_POINTS, read_template

REPO = Path(__file__).resolve().parents[2]
TYPES = {"surgical", "surgical_green", "surgical_blue", "n95", "kn95", "cloth"}


@pytest.fixture
def one_template(tmp_path: Path) -> Path:
    """A folder holding a copy of the surgical template, to break in various ways."""
    for suffix in (".json", ".png"):
        shutil.copy(default_templates_dir() / f"surgical{suffix}", tmp_path)
    return tmp_path


def edit_json(path: Path, change) -> None:
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def test_builtin_templates_load_with_their_fit_points():
    templates = load_templates()
    assert set(templates) == TYPES
    assert available_mask_types() == tuple(sorted(TYPES))
    assert default_templates_dir() == REPO / "templates"
    for name, template in templates.items():
        assert template.name == name
        assert set(REQUIRED_FIT_POINTS) <= set(template.point_names)
        assert template.rgba.dtype == np.uint8 and template.rgba.shape[2] == 4
        assert 500 <= template.size[0] <= 700
        alpha = template.rgba[:, :, 3]
        assert alpha[0].max() == 0 and alpha[:, 0].max() == 0  # transparent outside the mask
        assert (alpha == 255).mean() > 0.25
        assert len(template.triangles) > 40 and len(template.active_triangles) > 20


def test_every_json_names_its_points_and_metadata():
    for path in sorted(default_templates_dir().glob("*.json")):
        meta = json.loads(path.read_text())
        assert meta["name"] == path.stem
        assert set(REQUIRED_FIT_POINTS) <= set(meta["fit_points"]) <= set(FACE_POINTS)
        assert meta["display_name"] and meta["base_color"].startswith("#")
        assert isinstance(meta["recolorable"], bool)


def test_mask_lies_inside_the_triangulated_fit_points():
    """Pixels outside every triangle are never drawn, so the mask must not reach there."""
    for template in load_templates().values():
        covered = np.zeros(template.rgba.shape[:2], np.uint8)
        for tri in template.triangles:
            cv2.fillConvexPoly(covered, np.round(template.points[tri]).astype(np.int32), 1)
        outside = template.rgba[:, :, 3][covered == 0]
        assert outside.max(initial=0) <= 8, template.name


def test_fit_points_sit_on_the_canonical_face():
    """Mask geometry relative to its fit points: below the eyes, over the nose and mouth."""
    for template in load_templates().values():
        point = dict(zip(template.point_names, template.points, strict=True))
        alpha = template.rgba[:, :, 3]

        def at(xy, alpha=alpha):
            return alpha[round(float(xy[1])), round(float(xy[0]))]

        for name in ("lm30", "lm33"):
            assert at(point[name]) == 255, (template.name, name)
        for name in ("lm40", "lm41", "lm46", "lm47", "lm27"):
            assert at(point[name]) == 0, (template.name, name)
        mid_chin = (point["lm08"] * 0.5 + point["lm30"] * 0.5 + point["lm08"]) / 2
        assert at(mid_chin) == 255


def test_levels_shrink_and_level_for_never_shrinks_much():
    template = load_templates()["kn95"]
    widths = [level.alpha.shape[1] for level in template.levels]
    assert widths == sorted(widths, reverse=True) and widths[-1] >= 24
    assert [level.scale for level in template.levels] == list(template.level_scales)
    for scale in (0.05, 0.13, 0.3, 0.71, 1.0, 2.0):
        level = template.level_for(scale)
        assert level.scale >= min(scale, 1.0) and level.scale < max(scale, 0.05) * 1.5
        assert level.premultiplied.shape[:2] == level.alpha.shape
        again = template.level(template.level_index_for(scale))  # built anew: the same level
        assert again is not level and again.premultiplied.tobytes() == level.premultiplied.tobytes()


def test_loaded_once_per_folder():
    assert load_templates()["n95"] is load_templates(default_templates_dir())["n95"]


def test_adding_a_template_is_adding_files(one_template: Path):
    for suffix in (".json", ".png"):
        (one_template / f"surgical{suffix}").rename(one_template / f"my_mask{suffix}")
    edit_json(one_template / "my_mask.json", lambda m: m.pop("name"))
    templates = load_templates(one_template)
    assert list(templates) == ["my_mask"]
    assert templates["my_mask"].display_name.startswith("Surgical")


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (
            lambda d: edit_json(d / "surgical.json", lambda m: m["fit_points"].pop("lm08")),
            r"surgical\.json: missing fit points \['lm08'\]",
        ),
        (
            lambda d: edit_json(d / "surgical.json", lambda m: m["fit_points"].update(zz=[1, 1])),
            r"surgical\.json: unknown fit points \['zz'\]",
        ),
        (
            lambda d: edit_json(d / "surgical.json", lambda m: m.pop("base_color")),
            r"surgical\.json: missing key 'base_color'",
        ),
        (
            lambda d: edit_json(d / "surgical.json", lambda m: m.update(image_size=[10, 10])),
            r"surgical\.png: image is 600x550",
        ),
        (
            lambda d: edit_json(
                d / "surgical.json", lambda m: m["fit_points"].update(lm30=[9000, 1])
            ),
            r"outside the 600x550 image: \['lm30'\]",
        ),
        (lambda d: (d / "surgical.json").write_text("{not json"), r"surgical\.json: cannot read"),
        (
            lambda d: (d / "surgical.png").write_bytes(b"not a png"),
            r"surgical\.png: not a readable image",
        ),
        (lambda d: (d / "surgical.png").unlink(), r"surgical\.png: template image missing"),
        (
            lambda d: cv2.imwrite(str(d / "surgical.png"), np.zeros((550, 600, 3), np.uint8)),
            r"surgical\.png: expected 8-bit RGBA",
        ),
        (
            lambda d: cv2.imwrite(str(d / "surgical.png"), np.zeros((550, 600, 4), np.uint8)),
            r"surgical\.png: alpha is empty",
        ),
        (lambda d: (d / "surgical.json").unlink(), r"holds no <name>\.json"),
    ],
)
def test_broken_templates_raise_naming_the_file(one_template: Path, breakage, message):
    breakage(one_template)
    with pytest.raises(TemplateError, match=message):
        read_template(one_template / "surgical.json") if (
            one_template / "surgical.json"
        ).exists() else load_templates(one_template)


def test_missing_folder(tmp_path: Path):
    with pytest.raises(TemplateError, match="does not exist"):
        load_templates(tmp_path / "nowhere")


def test_template_images_are_read_back_from_the_user_cache(tmp_path: Path, monkeypatch) -> None:
    """A template's image is decoded once into the user's cache and later reads (a new run's
    start) come from there with the same pixels; a changed PNG gets a new entry, an emptied
    entry is decoded and stored again, and with the cache off nothing is stored."""
    import os

    monkeypatch.setenv("MASKGEN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "templates"
    shutil.copytree(default_templates_dir(), folder)
    json_path = folder / "surgical.json"
    png = cv2.imread(str(json_path.with_suffix(".png")), cv2.IMREAD_UNCHANGED)
    decoded = cv2.cvtColor(png, cv2.COLOR_BGRA2RGBA)

    first = read_template(json_path)
    entries = [name for name in os.listdir(tmp_path / "cache") if name.startswith("template-")]
    assert len(entries) == 1
    again = read_template(json_path)
    assert isinstance(again.rgba.base, np.memmap) or isinstance(again.rgba, np.memmap)
    assert np.array_equal(again.rgba, decoded) and np.array_equal(first.rgba, decoded)
    assert not again.rgba.flags.writeable

    (tmp_path / "cache" / entries[0] / "rgba.npy").write_bytes(b"")  # as a crash leaves it
    assert np.array_equal(read_template(json_path).rgba, decoded)
    assert (tmp_path / "cache" / entries[0] / "rgba.npy").stat().st_size > 0

    os.utime(json_path.with_suffix(".png"), ns=(1, 1))  # the image "changed"
    read_template(json_path)
    now = [name for name in os.listdir(tmp_path / "cache") if name.startswith("template-")]
    assert len(now) == 2

    monkeypatch.setenv("MASKGEN_CACHE_DIR", "")
    assert np.array_equal(read_template(json_path).rgba, decoded)


def test_a_cached_template_image_of_another_size_is_not_used(tmp_path: Path, monkeypatch) -> None:
    """An entry holding an RGBA image of other dimensions than the JSON's (one written by
    hand, or by another maskgen) is passed over: the PNG is decoded, not refused as a
    template whose image has the wrong size, and stored in its place, so the next run reads
    the cache again."""
    import os

    monkeypatch.setenv("MASKGEN_CACHE_DIR", str(tmp_path / "cache"))
    json_path = default_templates_dir() / "surgical.json"
    decoded = read_template(json_path).rgba.copy()
    (entry,) = [name for name in os.listdir(tmp_path / "cache") if name.startswith("template-")]
    np.save(tmp_path / "cache" / entry / "rgba.npy", np.zeros((10, 10, 4), np.uint8))
    assert np.array_equal(read_template(json_path).rgba, decoded)
    again = read_template(json_path).rgba  # the next run: read back, not decoded
    assert isinstance(again.base, np.memmap) and np.array_equal(again, decoded)
