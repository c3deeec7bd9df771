"""The random policy: frequencies, determinism, validation, realistic colours."""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from maskgen.errors import ConfigError
from maskgen.masks import MaskSpec, load_templates, load_textures, sample_mask_params
from maskgen.masks.policy import PALETTE, sample_color
from maskgen.masks.templates import parse_hex_color


@pytest.fixture(scope="module")
def templates():
    return load_templates()


@pytest.fixture(scope="module")
def textures():
    return load_textures()


def draws(spec: MaskSpec, templates, textures, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [sample_mask_params(rng, spec, templates, textures) for _ in range(n)]


def test_frequencies_match_the_spec(templates, textures):
    n = 3000
    params = draws(MaskSpec(), templates, textures, n)
    colour_rate = sum(p.color is not None for p in params) / n
    texture_rate = sum(p.texture is not None for p in params) / n
    assert abs(colour_rate - 0.5) < 0.04
    assert abs(texture_rate - 0.5) < 0.04
    counts = Counter(p.mask_type for p in params)
    assert set(counts) == set(templates)
    expected = n / len(templates)
    assert all(abs(c - expected) < 0.2 * expected for c in counts.values()), counts
    used = Counter(p.texture for p in params if p.texture)
    assert len(used) > 0.6 * len(textures)  # spread over the catalogue, not a favourite few


def test_probabilities_zero_and_one(templates, textures):
    never = draws(MaskSpec(color_prob=0.0, texture_prob=0.0), templates, textures, 200)
    assert all(p.color is None and p.texture is None for p in never)
    always = draws(MaskSpec(color_prob=1.0, texture_prob=1.0), templates, textures, 200)
    assert all(p.color is not None and p.texture is not None for p in always)


def test_restricted_types(templates, textures):
    spec = MaskSpec(mask_types=("kn95", "cloth"))
    assert {p.mask_type for p in draws(spec, templates, textures, 300)} == {"kn95", "cloth"}


def test_same_rng_same_draws_and_global_state_untouched(templates, textures):
    np_state = np.random.get_state()[1].copy()
    py_state = random.getstate()
    first = draws(MaskSpec(), templates, textures, 50, seed=7)
    again = draws(MaskSpec(), templates, textures, 50, seed=7)
    other = draws(MaskSpec(), templates, textures, 50, seed=8)
    assert first == again
    assert first != other
    assert np.array_equal(np.random.get_state()[1], np_state)
    assert random.getstate() == py_state


def test_changing_one_probability_keeps_other_choices(templates, textures):
    base = draws(MaskSpec(color_prob=0.5), templates, textures, 100, seed=3)
    moved = draws(MaskSpec(color_prob=0.9), templates, textures, 100, seed=3)
    assert [p.mask_type for p in base] == [p.mask_type for p in moved]
    assert [p.texture for p in base] == [p.texture for p in moved]


def test_params_are_json_and_in_range(templates, textures):
    for p in draws(MaskSpec(color_prob=1, texture_prob=1), templates, textures, 300):
        json.dumps(p.to_json())
        parse_hex_color(p.color, "test")
        assert p.texture in textures
        assert 0.3 < p.texture_scale < 3.0
        assert all(0.0 <= v < 1.0 for v in p.texture_offset)
        assert -120 < p.texture_angle < 120
        assert all(abs(v) <= 0.12 for v in p.fit_jitter)


def test_colours_are_mostly_real_mask_colours():
    rng = np.random.default_rng(0)
    palette = np.array([parse_hex_color(c, "palette") for _, c, _ in PALETTE if c], float)
    colours = np.array([parse_hex_color(sample_color(rng), "draw") for _ in range(2000)], float)
    nearest = np.linalg.norm(colours[:, None] - palette[None], axis=2).min(axis=1)
    near_palette = (nearest < 40).mean()
    assert 0.95 < near_palette < 0.999  # mostly the palette, with small jitter and rare any-hue
    spread = colours.max(axis=1) - colours.min(axis=1)
    assert (spread < 90).mean() > 0.85  # white, greys, black, pale blue: low saturation dominates
    assert len({tuple(c) for c in colours}) > 1500  # jittered, not a dozen flat colours


def test_drawn_colour_frequencies_match_the_real_table():
    """Over many seeds (one draw each, as items draw), each palette colour comes up as often as
    its share of the real masks counted in PALETTE, within sampling error (4.5 sigma, plus the
    random-hue share, which may land near any colour); the four common colours dominate."""
    n = 20000
    named = [(name, parse_hex_color(c, "palette"), w) for name, c, w in PALETTE if c]
    total = sum(w for _, _, w in PALETTE)
    centres = np.array([rgb for _, rgb, _ in named], float)
    colours = np.array(
        [parse_hex_color(sample_color(np.random.default_rng(seed)), "d") for seed in range(n)],
        float,
    )
    distance = np.linalg.norm(colours[:, None] - centres[None], axis=2)
    nearest = np.where(distance.min(axis=1) < 40, distance.argmin(axis=1), -1)
    any_hue = 1 - sum(w for _, _, w in named) / total
    for index, (name, _, weight) in enumerate(named):
        share = weight / total
        drawn = float((nearest == index).mean())
        sigma = np.sqrt(share * (1 - share) / n)
        assert abs(drawn - share) < 4.5 * sigma + any_hue, (name, drawn, share)
    common = [i for i, (name, _, _) in enumerate(named) if name in COMMON_COLOURS]
    assert np.isin(nearest, common).mean() > 0.7
    rare = [i for i, (name, _, _) in enumerate(named) if name in ("green", "pink", "red")]
    assert np.isin(nearest, rare).mean() < 0.15


COMMON_COLOURS = ("white", "light_blue", "grey", "black")


def test_validation_errors(templates):
    with pytest.raises(ConfigError, match=r"unknown mask type.*'nope'.*available: cloth"):
        MaskSpec(mask_types=("nope",)).validate(templates)
    with pytest.raises(ConfigError, match="empty"):
        MaskSpec(mask_types=()).validate(templates)
    for field in ("color_prob", "texture_prob"):
        for bad in (-0.1, 1.5, float("nan"), "0.5", True):
            with pytest.raises(ConfigError, match=field):
                MaskSpec(**{field: bad})
    assert MaskSpec().validate(templates) == tuple(sorted(templates))
    assert MaskSpec(mask_types=("n95", "n95")).validate(templates) == ("n95",)


def test_spec_accepts_lists_and_stays_hashable():
    spec = MaskSpec(mask_types=["kn95"], texture_dirs=["a"], templates_dir="t")
    assert spec.mask_types == ("kn95",)
    assert spec.texture_dirs == (Path("a"),)
    assert spec.templates_dir == Path("t")
    assert hash(spec) == hash(
        MaskSpec(mask_types=("kn95",), texture_dirs=(Path("a"),), templates_dir=Path("t"))
    )


def test_spec_takes_strings_as_the_command_line_does(templates, textures):
    """``MaskSpec(mask_types="n95")`` was the letters ('n', '9', '5') and failed later as
    unknown types; one texture folder as a string was one folder per letter; a ``wear``
    string was refused. They now mean what ``--mask-types``, ``--textures`` and ``--wear``
    (and MaskAugment) mean."""
    assert MaskSpec(mask_types="n95").validate(templates) == ("n95",)
    spec = MaskSpec(mask_types=" surgical, N95 ,")
    assert spec.validate(templates) == ("surgical", "n95")
    draws = {
        sample_mask_params(np.random.default_rng(i), spec, templates, textures).mask_type
        for i in range(40)
    }
    assert draws == {"surgical", "n95"}
    with pytest.raises(ConfigError, match="empty"):
        MaskSpec(mask_types=" , ").validate(templates)
    assert MaskSpec(texture_dirs="my textures").texture_dirs == (Path("my textures"),)
    assert MaskSpec(texture_dirs=Path("t")).texture_dirs == (Path("t"),)
    assert MaskSpec(wear="training") == MaskSpec(
        wear={"correct": 0.8, "nose_uncovered": 0.15, "chin_uncovered": 0.05}
    )
    assert MaskSpec(wear="correct=0.5,nose_uncovered=0.5").wear_probabilities[
        "nose_uncovered"
    ] == pytest.approx(0.5)
    with pytest.raises(ConfigError, match="unknown placement"):
        MaskSpec(wear="sideways")


def test_draws_are_what_generator_choice_draws():
    """The palette pick consumes the stream exactly as ``Generator.choice`` would, so the
    same seed still draws the same colours as before the pick was sped up."""
    weights = np.array([w for _, _, w in PALETTE])
    ours, twin = np.random.default_rng(11), np.random.default_rng(11)
    for _ in range(2000):
        colour = sample_color(ours)
        pick = int(twin.choice(len(PALETTE), p=weights / weights.sum()))
        twin.random(3)  # hue, saturation, value: used by random-hue picks only
        jitter = np.exp(twin.normal(0.0, 0.05) + twin.normal(0.0, 0.02, size=3))
        hex_color = PALETTE[pick][1]
        if hex_color is not None:
            base = np.array(parse_hex_color(hex_color, "palette")) / 255.0
            expected = np.clip(base * jitter, 0.0, 1.0)
            assert colour == "#" + "".join(f"{round(v * 255):02x}" for v in expected)
    assert ours.random() == twin.random()  # the streams stayed aligned


def test_creases_off_clears_only_the_crease_strength(templates, textures):
    """MaskSpec(creases=False) draws the same masks, its grain seeds with the crease strength
    cleared (flat masks, the same grain); on, most seeds carry a strength."""
    from maskgen.masks.creases import STRENGTH_BITS, flat_seed
    from maskgen.masks.policy import CREASES

    on = draws(MaskSpec(creases=True), templates, textures, 200)
    off = draws(MaskSpec(creases=False), templates, textures, 200)
    assert all(p.grain_seed & STRENGTH_BITS == 0 for p in off)
    assert sum(p.grain_seed & STRENGTH_BITS != 0 for p in on) > 190
    for a, b in zip(on, off, strict=True):
        assert b.grain_seed == flat_seed(a.grain_seed)
        assert dataclasses.replace(a, grain_seed=b.grain_seed) == b
    assert MaskSpec().creases is CREASES
    assert "creases" not in MaskSpec().to_json()
    assert MaskSpec(creases=not CREASES).to_json()["creases"] is (not CREASES)
    with pytest.raises(ConfigError, match="creases"):
        MaskSpec(creases="no")
