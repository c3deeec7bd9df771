"""Fabric textures: the shipped built-ins, user folders, and tiling geometry (drawing them:
tests/assets)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import maskgen
from maskgen.errors import ConfigError, TemplateError
from maskgen.masks.textures import (
    Texture,
    default_textures_dir,
    load_textures,
    texture_scale_for,
    tile_image,
    tile_texture,
)


@pytest.fixture(scope="module")
def builtins() -> dict[str, Texture]:
    return load_textures()


def _write(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), rgb[:, :, ::-1])
    return path


def _random_texture(shape: tuple[int, int] = (48, 64), seed: int = 0) -> Texture:
    image = np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)
    return Texture("test", "test", image, 1.0)


# ---------------------------------------------------------------------------------------------
# The built-in set
# ---------------------------------------------------------------------------------------------


def test_builtins_cover_many_fabric_families(builtins: dict[str, Texture]) -> None:
    families = {t.family for t in builtins.values()}
    assert len(builtins) >= 32
    assert len(families) >= 6
    assert {"plaid", "stripes", "dots", "floral", "camo", "denim", "knit"} <= families
    assert list(builtins) == sorted(builtins)
    for name, texture in builtins.items():
        assert name == texture.name
        assert name.startswith(f"{texture.family}_") and name[-2:].isdigit()
        assert texture.image.shape == (256, 256, 3) and texture.image.dtype == np.uint8
        assert not texture.image.flags.writeable
        assert 0.05 < texture.scale_hint < 3.0


def test_builtins_have_structure_and_differ(builtins: dict[str, Texture]) -> None:
    """No texture is a flat colour, and no two are the same cloth."""
    small = {}
    for name, texture in builtins.items():
        assert texture.image.std(axis=(0, 1)).max() > 2.0, name
        small[name] = cv2.resize(texture.image, (32, 32), interpolation=cv2.INTER_AREA)
    names = list(small)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            gap = np.abs(small[first].astype(int) - small[second]).mean()
            assert gap > 3.0, (first, second, gap)


def _seam_excess(image: np.ndarray, axis: int) -> float:
    """How much the step across the wrap-around seam exceeds the largest step between the
    tile's own neighbouring rows (axis 0) or columns (axis 1); <= 0 for a seamless tile."""
    pixels = image.astype(np.float32)
    steps = np.abs(np.diff(pixels, axis=axis)).mean(axis=(1 - axis, 2))
    seam = np.abs(np.take(pixels, 0, axis) - np.take(pixels, -1, axis)).mean()
    return float(seam - 1.05 * steps.max() - 0.5)


def test_builtins_tile_seamlessly(builtins: dict[str, Texture]) -> None:
    for name, texture in builtins.items():
        for axis in (0, 1):
            assert _seam_excess(texture.image, axis) <= 0, (name, axis)
    cut = builtins["camo_01"].image[:, 37:211]  # not a whole period: must show a seam
    assert _seam_excess(cut, 1) > 0


def test_index_matches_files_and_scale(builtins: dict[str, Texture]) -> None:
    folder = default_textures_dir()
    index = json.loads((folder / "index.json").read_text())
    entries = index["textures"]
    assert sorted(e["file"] for e in entries) == sorted(p.name for p in folder.glob("*.png"))
    assert len({e["name"] for e in entries}) == len(entries)
    for entry in entries:
        assert entry["file"] == f"{entry['name']}.png"
        assert entry["name"].rsplit("_", 1)[0] == entry["family"]
        assert entry["scale_hint"] == pytest.approx(entry["tile_cm"] / index["mask_width_cm"])
        assert builtins[entry["name"]].scale_hint == entry["scale_hint"]
    total = sum(p.stat().st_size for p in folder.iterdir())
    assert total < 3.5 * 1024 * 1024  # 69 designs, ~47 KB each


def test_default_dir_prefers_installed_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site" / "maskgen"
    package.mkdir(parents=True)
    monkeypatch.setattr(maskgen, "__file__", str(package / "__init__.py"))
    with pytest.raises(TemplateError, match="built-in textures not found"):
        default_textures_dir()
    source = tmp_path / "site" / "textures"
    source.mkdir()
    assert default_textures_dir() == source
    installed = package / "_assets" / "textures"
    installed.mkdir(parents=True)
    assert default_textures_dir() == installed


def test_builtin_index_errors_name_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "maskgen"
    folder = tmp_path / "textures"
    package.mkdir()
    folder.mkdir()
    monkeypatch.setattr(maskgen, "__file__", str(package / "__init__.py"))
    with pytest.raises(TemplateError, match=r"index\.json"):
        load_textures()
    entry = {"name": "plaid_01", "family": "plaid", "file": "plaid_01.png", "scale_hint": 0.5}
    (folder / "index.json").write_text(json.dumps({"textures": [entry]}))
    with pytest.raises(TemplateError, match=r"plaid_01\.png"):
        load_textures()
    (folder / "index.json").write_text(json.dumps({"textures": [{**entry, "scale_hint": -1}]}))
    _write(folder / "plaid_01.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(TemplateError, match="scale_hint"):
        load_textures()


# ---------------------------------------------------------------------------------------------
# User folders
# ---------------------------------------------------------------------------------------------


def test_user_folder_loads_images_as_rgb(tmp_path: Path, builtins: dict[str, Texture]) -> None:
    red = np.zeros((10, 12, 3), np.uint8)
    red[..., 0] = 200
    _write(tmp_path / "red.png", red)
    blue_bgr = np.zeros((20, 20, 3), np.uint8)
    blue_bgr[..., 0] = 180
    assert cv2.imwrite(str(tmp_path / "Blue.JPG"), blue_bgr)
    _write(tmp_path / "grey.bmp", np.full((5, 5, 3), 90, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")

    user = load_textures([tmp_path], include_builtin=False)
    assert list(user) == ["user/Blue", "user/grey", "user/red"]
    assert all(t.family == "user" and t.scale_hint == 1.0 for t in user.values())
    assert np.array_equal(user["user/red"].image, red)
    blue = user["user/Blue"].image.reshape(-1, 3).mean(axis=0)
    assert blue[2] > 150 and blue[0] < 30  # RGB order, not OpenCV's BGR

    both = load_textures([tmp_path])
    assert len(both) == len(builtins) + 3
    assert list(both) == sorted(both)


def test_user_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="does not exist"):
        load_textures([tmp_path / "missing"], include_builtin=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no images here")
    with pytest.raises(TemplateError, match="no images"):
        load_textures([empty], include_builtin=False)
    broken = tmp_path / "broken"
    broken.mkdir()
    _write(broken / "good.png", np.zeros((4, 4, 3), np.uint8))
    (broken / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(TemplateError, match=r"bad\.png"):
        load_textures([broken], include_builtin=False)
    twins = tmp_path / "twins"
    twins.mkdir()
    _write(twins / "cloth.png", np.zeros((4, 4, 3), np.uint8))
    _write(twins / "cloth.jpg", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(TemplateError, match="already used"):
        load_textures([twins], include_builtin=False)
    with pytest.raises(TemplateError, match="no textures"):
        load_textures([], include_builtin=False)


def test_loading_is_cached_but_callers_get_their_own_dict(tmp_path: Path) -> None:
    _write(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    first = load_textures([tmp_path], include_builtin=False)
    first.pop("user/a")
    second = load_textures([tmp_path / "." / ".." / tmp_path.name], include_builtin=False)
    third = load_textures([tmp_path], include_builtin=False)
    assert "user/a" in third
    assert second["user/a"] is third["user/a"]  # one load per resolved folder set


# ---------------------------------------------------------------------------------------------
# Tiling
# ---------------------------------------------------------------------------------------------


def test_tile_shape_dtype_and_identity_at_scale_one() -> None:
    texture = _random_texture()
    out = tile_texture(texture, (100, 150), scale=1.0, angle_deg=0.0, offset=(0.0, 0.0))
    assert out.shape == (100, 150, 3) and out.dtype == np.uint8
    ys = (np.arange(100) - 50) % 48
    xs = (np.arange(150) - 75) % 64
    assert np.array_equal(out, texture.image[np.ix_(ys, xs)])


def test_tile_repeats_every_tile_times_scale(builtins: dict[str, Texture]) -> None:
    texture = builtins["plaid_02"]
    out = tile_texture(texture, (600, 700), scale=1.0, angle_deg=0.0, offset=(0.0, 0.0))
    assert np.array_equal(out[:, :-256], out[:, 256:])
    assert np.array_equal(out[:-256], out[256:])
    big = tile_texture(texture, (300, 1100), scale=2.0, angle_deg=0.0, offset=(0.0, 0.0))
    assert np.array_equal(big[:, :-512], big[:, 512:])
    assert not np.array_equal(big[:, :-256], big[:, 256:])


def test_tile_rotation_and_offset() -> None:
    texture = _random_texture()
    base = tile_texture(texture, (90, 120), scale=1.0, angle_deg=0.0, offset=(0.0, 0.0))
    turned = tile_texture(texture, (90, 120), scale=1.0, angle_deg=90.0, offset=(0.0, 0.0))
    yc = np.arange(90)[:, None] - 45
    xc = np.arange(120)[None, :] - 60
    expected = texture.image[xc % 48, (-yc) % 64]  # counter-clockwise on screen
    assert np.abs(turned.astype(int) - expected).max() <= 1
    tilted = tile_texture(texture, (90, 120), scale=1.0, angle_deg=30.0, offset=(0.0, 0.0))
    assert np.abs(tilted.astype(int) - base).mean() > 20
    shifted = tile_texture(texture, (90, 120), scale=1.0, angle_deg=0.0, offset=(0.25, 0.5))
    assert np.array_equal(shifted[:-24, :-16], base[24:, 16:])


def test_tile_shrinking_blends_fine_weaves_instead_of_aliasing() -> None:
    checker = (np.add.outer(np.arange(64), np.arange(64)) % 2 * 255).astype(np.uint8)
    texture = Texture("checker", "test", np.dstack([checker] * 3), 1.0)
    out = tile_texture(texture, (64, 64), scale=0.25, angle_deg=0.0, offset=(0.0, 0.0))
    assert abs(out.mean() - 127.5) < 3 and out.std() < 10


def test_tile_window_matches_the_whole_canvas(builtins: dict[str, Texture]) -> None:
    """A window tiled about the canvas centre (moved into the window) is that part of the
    canvas, for any channel count: the renderer tiles only the part of a mask it draws."""
    texture = builtins["plaid_02"]
    rgba = np.dstack([texture.image, np.full(texture.image.shape[:2], 7, np.uint8)])
    for scale, angle, offset in (
        (1.0, 0.0, (0.0, 0.0)),
        (0.6, 33.0, (0.3, 0.8)),
        (2.5, 92.0, (0.9, 0.1)),
    ):
        whole = tile_texture(texture, (90, 120), scale=scale, angle_deg=angle, offset=offset)
        window = tile_image(
            rgba, (40, 50), scale=scale, angle_deg=angle, offset=offset, centre=(60 - 65, 45 - 20)
        )
        assert window.shape == (40, 50, 4)
        assert np.array_equal(window[:, :, :3], whole[20:60, 65:115])
        assert (window[:, :, 3] == 7).all()


def test_tile_over_cloth_positions(builtins: dict[str, Texture]) -> None:
    """``coords`` lays the pattern over other positions: the pixels' own positions give the
    plain tiling exactly; positions shifted by a whole tile give it too; positions bent
    along the rows bend the pattern (each row reads a shifted copy of the plain tiling)."""
    texture = builtins["stripes_01"]
    height, width = 40, 64
    plain = tile_texture(texture, (height, width), scale=1.0, angle_deg=0.0, offset=(0.0, 0.0))
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    bounds = (0.0, width - 1.0, 0.0, height - 1.0)
    same = tile_image(
        texture.image, (height, width), scale=1.0, angle_deg=0.0, offset=(0.0, 0.0),
        coords=(xs, ys, bounds),
    )  # fmt: skip
    assert np.array_equal(same, plain)
    tile_h, tile_w = texture.image.shape[:2]
    far = (tile_w, tile_w + width - 1.0, tile_h, tile_h + height - 1.0)
    moved = tile_image(
        texture.image, (height, width), scale=1.0, angle_deg=0.0, offset=(0.0, 0.0),
        coords=(xs + tile_w, ys + tile_h, far),
    )  # fmt: skip
    assert np.array_equal(moved, plain)
    shift = (np.arange(height, dtype=np.float32) % 5)[:, None] * np.ones((1, width), np.float32)
    bent = tile_image(
        texture.image, (height, width), scale=1.0, angle_deg=0.0, offset=(0.0, 0.0),
        coords=(xs + shift, ys, (0.0, width + 3.0, 0.0, height - 1.0)),
    )  # fmt: skip
    wide = tile_image(
        texture.image, (height, width + 8), scale=1.0, angle_deg=0.0, offset=(0.0, 0.0),
        centre=(width // 2, height // 2),
    )  # fmt: skip
    for row in (1, 3, 4):
        assert np.array_equal(bent[row], wide[row, row % 5 : row % 5 + width])
    assert not np.array_equal(bent, plain)
    with pytest.raises(ConfigError, match="coords"):
        tile_image(
            texture.image, (height, width), scale=1.0, angle_deg=0.0, offset=(0.0, 0.0),
            coords=(xs[:5], ys[:5], bounds),
        )  # fmt: skip


def test_tile_rejects_bad_arguments() -> None:
    texture = _random_texture()
    for scale in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="scale"):
            tile_texture(texture, (8, 8), scale=scale, angle_deg=0.0, offset=(0.0, 0.0))
    with pytest.raises(ConfigError, match="out_shape"):
        tile_texture(texture, (0, 8), scale=1.0, angle_deg=0.0, offset=(0.0, 0.0))


def test_texture_scale_for_keeps_real_size(builtins: dict[str, Texture]) -> None:
    """On any mask width, one tile spans tile_cm of the 16 cm mask."""
    index = json.loads((default_textures_dir() / "index.json").read_text())
    for entry in index["textures"][:5]:
        texture = builtins[entry["name"]]
        for width in (64, 256, 700):
            scale = texture_scale_for(width, texture)
            tile_px = texture.image.shape[1] * scale
            assert tile_px / width * 16.0 == pytest.approx(entry["tile_cm"])
        assert texture_scale_for(100, texture, 1.2) == pytest.approx(
            1.2 * texture_scale_for(100, texture)
        )
    with pytest.raises(ConfigError):
        texture_scale_for(0, texture)


def test_builtins_decode_on_first_use_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run draws few built-ins, so each is decoded when first used, once; a user's folder
    is decoded at load (above: its bad image fails then)."""
    from maskgen.masks import textures as module

    monkeypatch.setenv("MASKGEN_CACHE_DIR", "")  # no user cache: every process decodes
    decoded = []
    real = module._read_rgb
    monkeypatch.setattr(module, "_read_rgb", lambda path: decoded.append(path.name) or real(path))
    module._load_cached.cache_clear()
    loaded = load_textures()
    assert decoded == [] and len(loaded) > 10
    first = loaded[sorted(loaded)[0]]
    assert first.image.shape[2] == 3 and not first.image.flags.writeable
    assert first.image is first.image and decoded == [f"{first.name}.png"]
    module._load_cached.cache_clear()


def test_a_malformed_cache_entry_is_replaced_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached texture that loads but is no (H, W, 3) uint8 image (one another maskgen or a
    hand wrote) is never used: the file is decoded and stored in its place, so the next run
    reads the cache again."""
    import os

    from maskgen.masks import textures as module

    monkeypatch.setenv("MASKGEN_CACHE_DIR", str(tmp_path / "cache"))
    path = sorted(default_textures_dir().glob("*.png"))[0]
    decoded = module._read_rgb(path)
    module._read_rgb_cached(path)  # decoded, then stored
    (entry,) = os.listdir(tmp_path / "cache")
    stored = tmp_path / "cache" / entry / "rgb.npy"
    for malformed in (np.zeros((4, 4), np.uint8), decoded.astype(np.float32)):
        np.save(stored, malformed)
        assert np.array_equal(module._read_rgb_cached(path), decoded)
        again = module._read_rgb_cached(path)  # the next run: read back, not decoded
        assert isinstance(again.base, np.memmap) and np.array_equal(again, decoded)
        assert os.listdir(tmp_path / "cache") == [entry]
