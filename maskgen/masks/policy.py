"""The random half of masking: what to draw for each face (albumentations' get_params).

:func:`sample_mask_params` consumes a ``numpy.random.Generator`` and returns a JSON-able
:class:`~maskgen.types.MaskParams`; :func:`~maskgen.masks.render.apply_mask` then renders it
deterministically. Every call consumes the same number of draws whatever the outcome, so
changing one probability does not reshuffle the other choices of the same item.

The placement (``wear``, :mod:`maskgen.masks.wear`) is drawn last and from a side stream: a
copy of the generator jumped far ahead (``bit_generator.jumped()``), which leaves ``rng``
itself untouched. So the wear probabilities change no other draw, of this face or of the
next faces in the same image, and the default (``correct`` only, no draw at all) renders
every item exactly as before placements existed. The grain's seed
(:func:`sample_grain_seed`) comes from a second side stream (jumped twice) the same way.
"""

from __future__ import annotations

import colorsys
import dataclasses
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maskgen.errors import ConfigError
from maskgen.masks.creases import flat_seed
from maskgen.masks.wear import WEAR_PLACEMENTS
from maskgen.types import MaskParams

PALETTE: tuple[tuple[str, str | None, float], ...] = (
    ("white", "#f6f7f8", 59.0),
    ("light_blue", "#d1efff", 63.0),
    ("grey", "#c1bec5", 56.0),
    ("black", "#212229", 39.0),
    ("navy", "#303349", 6.0),
    ("blue", "#829ab1", 7.0),
    ("dark_grey", "#686975", 3.0),
    ("green", "#93c1b5", 6.0),
    ("pink", "#ebb6c3", 16.0),
    ("red", "#cb2f51", 11.0),
    ("beige", "#f4dcaa", 13.0),
    ("brown", "#887459", 2.0),
    ("any_hue", None, 3.0),
)
"""(name, "#rrggbb" or None for a random hue, weight): the colours of real plain masks, in
their real frequencies. Measured by ``benchmarks/mask_colours.py --derive`` on the 281 plain
masks of ``../shared/data/real-masks`` (MFR2 dev's 86 masked photos less its 30
``cloth_textured``, and RWMFD's 243 aligned crops less 18 patterned ones): each weight is the
number of masks whose colour (the median over the mouth and chin, divided by the photo's
exposure and the templates' mean shading) falls in that class. Each colour is the one whose
renders on aligned LFW crops, measured the same way, have that class's real median colour
(two rounds of a per-channel correction: the light model and photo match darken and warm a
light colour, so a white drawn as the real median came out 9-12 % darker and warm, and half
of such whites measured as grey or beige; the corrected palette brings the total variation
distance between the real and drawn class tables from 0.152 to 0.105 over 1,000 renders;
``--derive`` rerun after 2026-11-30's main-face change moves no channel by more than 3/255).
White 59, light blue 63, grey 56 and black 39 are 77 % of them; navy 6, blue 7, dark grey 3,
green 6, pink 16, red 11, beige 13, brown 2. "grey" also holds white masks in shadow and
"pink" some skin where a mask sat low: the measurement is a photo's, not a catalogue's.
``any_hue`` (weight 3, 1 %) keeps a few colours no sample showed."""

CREASES = True
"""Whether surgical masks crease unless a run says otherwise (``MaskSpec.creases``,
``--creases/--no-creases``)."""
COLOR_JITTER = (0.05, 0.02)
"""Standard deviation of the brightness factor (log) and of each channel's own factor (log)."""
FIT_JITTER_STD = 0.05
FIT_JITTER_MAX = 0.12
TEXTURE_SCALE_STD = 0.18
"""Log-normal spread of the texture's size around its true-to-life scale."""
WEAR_SUM_TOLERANCE = 1e-6
"""How far the wear probabilities may sum from 1 (they are then normalised exactly)."""
DEFAULT_WEAR: tuple[tuple[str, float], ...] = (("correct", 1.0),)
"""Every mask worn correctly: the behaviour before placements existed."""
TRAINING_WEAR: tuple[tuple[str, float], ...] = (
    ("correct", 0.8),
    ("nose_uncovered", 0.15),
    ("chin_uncovered", 0.05),
)
"""The placements of a twin made for training a mask head (``--wear training``): real photos
show masks pulled down under the nose and, less often, up off the chin, and a head trained on
correct fits alone calls such masks bare (docs/experiments.md's paper-in-miniature tables
measure it on RMFD's crops). ``mouth_uncovered`` is left out: on an aligned 112x112 crop a mask
pulled onto the chin falls mostly below the crop, an image labelled masked with little mask in
it (about 4 % of its pixels on average; ``benchmarks/wear_crop_band.py``)."""
WEAR_MIXES: dict[str, tuple[tuple[str, float], ...]] = {"training": TRAINING_WEAR}
"""Named placement mixes that :func:`parse_wear` accepts in place of ``NAME=P`` pairs."""


@dataclass(frozen=True)
class MaskSpec:
    """What masks a run may draw. ``mask_types`` None = every template, else names in any case:
    a sequence or one string, comma-separated as ``--mask-types`` takes it (``"surgical,n95"``);
    probabilities in [0, 1]; ``texture_dirs`` (folders, or one folder) add the user's fabric
    images to the built-in textures; ``templates_dir`` None = the built-in templates.

    ``wear`` maps placements (:data:`~maskgen.masks.wear.WEAR_PLACEMENTS`) to probabilities,
    e.g. ``{"correct": 0.7, "nose_uncovered": 0.1, "mouth_uncovered": 0.1,
    "chin_uncovered": 0.1}``; missing placements get 0. The probabilities must be finite, at
    least 0 and sum to 1 (within :data:`WEAR_SUM_TOLERANCE`); they are kept normalised as
    ``(name, probability)`` pairs in ``WEAR_PLACEMENTS`` order, zeros left out, so the spec
    stays hashable. A string is ``--wear``'s form (``"correct=0.7,nose_uncovered=0.3"``,
    ``"training"``: :func:`parse_wear`). Anything else raises ConfigError.

    ``face_checks`` (default True) and ``creases`` (default :data:`CREASES`): see the fields;
    anything but a bool raises ConfigError.
    """

    mask_types: tuple[str, ...] | None = None
    color_prob: float = 0.5
    texture_prob: float = 0.5
    texture_dirs: tuple[Path, ...] = ()
    templates_dir: Path | None = None
    wear: Mapping[str, float] | tuple[tuple[str, float], ...] = DEFAULT_WEAR
    face_checks: bool = True
    """Leave unmasked, with a reason, faces that cannot take a believable mask: something in
    front of the lower face (``occluded``), turned too far (``too_turned``), largely cut off
    by the image's border (``out_of_frame``) or perhaps no face (``doubtful_face``); see
    :mod:`maskgen.faces.visibility`. False masks every face found."""
    creases: bool = CREASES
    """Give each surgical mask creases of its own (:mod:`maskgen.masks.creases`); False draws
    its ``grain_seed`` with the crease strength cleared (a flat mask, the same grain)."""

    def __post_init__(self) -> None:
        # accept lists (from a CLI or a config file) while staying hashable and frozen; a
        # string is a comma-separated list (tuple("n95") would be its letters)
        if isinstance(self.mask_types, str):
            names = (name.strip() for name in self.mask_types.split(","))
            object.__setattr__(self, "mask_types", tuple(name for name in names if name))
        elif self.mask_types is not None:
            object.__setattr__(self, "mask_types", tuple(self.mask_types))
        if isinstance(self.wear, str):
            object.__setattr__(self, "wear", parse_wear(self.wear))
        dirs = self.texture_dirs
        dirs = (dirs,) if isinstance(dirs, str | os.PathLike) else dirs  # one folder, not letters
        object.__setattr__(self, "texture_dirs", tuple(Path(d) for d in dirs))
        if self.templates_dir is not None:
            object.__setattr__(self, "templates_dir", Path(self.templates_dir))
        object.__setattr__(self, "wear", _normalised_wear(self.wear))
        if not isinstance(self.face_checks, bool):
            raise ConfigError(f"face_checks must be True or False, got {self.face_checks!r}")
        if not isinstance(self.creases, bool):
            raise ConfigError(f"creases must be True or False, got {self.creases!r}")
        self._check_probabilities()

    @property
    def wear_given(self) -> bool:
        """Whether ``wear`` differs from the default (every mask correct): a run then labels
        its ``.rec`` twin's images with their wear class too."""
        return self.wear != DEFAULT_WEAR

    @property
    def wear_probabilities(self) -> dict[str, float]:
        """``{placement: probability}`` for every placement, in ``WEAR_PLACEMENTS`` order."""
        given = dict(self.wear)
        return {name: given.get(name, 0.0) for name in WEAR_PLACEMENTS}

    def to_json(self) -> dict[str, Any]:
        """The spec as JSON-able fields (tuples as lists, paths as strings, ``wear`` as an
        object); ``wear``, ``face_checks`` and ``creases`` are left out at their defaults, so a
        run's recorded spec reads as it did before they existed."""
        record = {
            field.name: _jsonable(getattr(self, field.name))
            for field in dataclasses.fields(self)
            if field.name not in ("wear", "face_checks", "creases")
        }
        if self.wear != DEFAULT_WEAR:
            record["wear"] = dict(self.wear)
        if not self.face_checks:
            record["face_checks"] = False
        if self.creases != CREASES:
            record["creases"] = self.creases
        return record

    def _check_probabilities(self) -> None:
        for field in ("color_prob", "texture_prob"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{field} must be a number in [0, 1], got {value!r}")
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ConfigError(f"{field} must be in [0, 1], got {value!r}")

    def validate(self, available_types: Iterable[str]) -> tuple[str, ...]:
        """The mask types this spec draws from, checked against the available templates.

        Names match in any case ("N95" is ``n95``). Raises ConfigError for an unknown or empty
        selection (listing what is available) or a probability outside [0, 1].
        """
        self._check_probabilities()
        available = tuple(sorted(available_types))
        if not available:
            raise ConfigError("no mask templates are available")
        if self.mask_types is None:
            return available
        if not self.mask_types:
            raise ConfigError(f"mask_types is empty; available: {', '.join(available)}")
        by_lower = {name.lower(): name for name in available}  # "N95" means n95
        resolved = [
            name if name in available else by_lower.get(name.lower()) for name in self.mask_types
        ]
        unknown = [name for name, found in zip(self.mask_types, resolved, strict=True) if not found]
        if unknown:
            raise ConfigError(
                f"unknown mask type(s) {', '.join(map(repr, unknown))}; "
                f"available: {', '.join(available)}"
            )
        return tuple(dict.fromkeys(name for name in resolved if name))


def checked_spec(spec: Any) -> MaskSpec:
    """``spec`` itself where it is a :class:`MaskSpec`, else ConfigError saying what is
    wanted: a dict of its fields (the natural guess) failed deep inside with "'dict' object
    has no attribute 'templates_dir'" or "unhashable type: 'dict'"."""
    if not isinstance(spec, MaskSpec):
        raise ConfigError(
            "spec must be a MaskSpec, e.g. MaskSpec(mask_types=('surgical', 'n95')), got a "
            f"{type(spec).__name__}"
        )
    return spec


def sample_mask_params(
    rng: np.random.Generator,
    spec: MaskSpec,
    templates: Mapping[str, Any],
    textures: Mapping[str, Any] | None = None,
) -> MaskParams:
    """Draw one face's mask: type uniform over the spec's set, a palette colour with
    probability ``color_prob``, a texture (uniform over ``textures``' names, with scale,
    angle and offset) with probability ``texture_prob``, a small fit jitter, the
    placement from ``spec.wear`` (:func:`sample_wear`) and a seed for the mask's grain and
    creases (its crease strength cleared unless ``spec.creases``).

    ``templates`` maps type names to templates (only the names and ``recolorable`` are read);
    ``textures`` maps texture names to textures (only the names are read). Deterministic given
    ``rng``'s state; touches no global random state.
    """
    types = spec.validate(templates)
    texture_names = sorted(textures) if textures else []
    mask_type = types[int(rng.integers(len(types)))]
    wants_color = rng.random() < spec.color_prob
    color = sample_color(rng)
    wants_texture = rng.random() < spec.texture_prob
    texture_pick = int(rng.integers(max(len(texture_names), 1)))
    scale = float(np.exp(rng.normal(0.0, TEXTURE_SCALE_STD)))
    angle = _sample_angle(rng)
    offset = (float(rng.random()), float(rng.random()))
    jitter = np.clip(rng.normal(0.0, FIT_JITTER_STD, size=2), -FIT_JITTER_MAX, FIT_JITTER_MAX)
    recolorable = bool(getattr(templates[mask_type], "recolorable", True))
    texture = texture_names[texture_pick] if wants_texture and texture_names else None
    grain_seed = sample_grain_seed(rng)
    return MaskParams(
        mask_type=mask_type,
        color=color if wants_color and recolorable else None,
        texture=texture if recolorable else None,
        texture_scale=round(scale, 4) if texture else 1.0,
        texture_angle=round(angle, 2) if texture else 0.0,
        texture_offset=(round(offset[0], 4), round(offset[1], 4)) if texture else (0.0, 0.0),
        fit_jitter=(round(float(jitter[0]), 4), round(float(jitter[1]), 4)),
        wear=sample_wear(rng, spec.wear),
        grain_seed=grain_seed if spec.creases else flat_seed(grain_seed),
    )


def sample_wear(rng: np.random.Generator, wear: tuple[tuple[str, float], ...]) -> str:
    """A placement drawn from ``wear`` (a MaskSpec's normalised pairs), without advancing
    ``rng``: one uniform from a jumped copy of its bit generator (a spawned child where the bit
    generator cannot jump), none when one placement has all the probability."""
    if len(wear) == 1:
        return wear[0][0]
    bits = rng.bit_generator
    side = np.random.Generator(bits.jumped()) if hasattr(bits, "jumped") else rng.spawn(1)[0]
    draw = side.random()
    total = 0.0
    for name, probability in wear:
        total += probability
        if draw < total:
            return name
    return wear[-1][0]  # draw within rounding of 1


def sample_grain_seed(rng: np.random.Generator) -> int:
    """A seed for the mask's grain (0 <= seed < 2**31), without advancing ``rng``: drawn from
    a copy of its bit generator jumped twice (the placement's stream is jumped once), so the
    grain changes no other draw of this face or of later faces."""
    bits = rng.bit_generator
    side = np.random.Generator(bits.jumped(2)) if hasattr(bits, "jumped") else rng.spawn(1)[0]
    return int(side.integers(2**31))


def parse_wear(text: str) -> tuple[tuple[str, float], ...]:
    """Placement probabilities from their command-line form, ``NAME=P`` pairs separated by
    commas (``"correct=0.7,nose_uncovered=0.3"``; names in any case, a bare name means
    ``NAME=1``) or the name of a mix in :data:`WEAR_MIXES` (``"training"``), as validated,
    normalised pairs (see :class:`MaskSpec`). ConfigError, one line naming the valid
    placements, for bad syntax, an unknown or repeated name, or probabilities that are not
    numbers >= 0 summing to 1."""
    mix = WEAR_MIXES.get(text.strip().lower())
    if mix is not None:
        return _normalised_wear(mix)
    known = ", ".join(WEAR_PLACEMENTS)
    form = (
        "expected NAME=PROBABILITY pairs separated by commas (e.g. correct=0.7,"
        f"nose_uncovered=0.3), NAME one of {known}, or a mix: {', '.join(WEAR_MIXES)}"
    )
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ConfigError(form)
    pairs: dict[str, float] = {}
    for item in items:
        name, sep, value = (part.strip() for part in item.partition("="))
        name = name.lower()
        if not name or (sep and not value):
            raise ConfigError(f"{item!r}: {form}")
        if name not in WEAR_PLACEMENTS:
            mixes = ", ".join(WEAR_MIXES)
            raise ConfigError(f"unknown placement {name!r}; known: {known} (or a mix: {mixes})")
        if name in pairs:
            raise ConfigError(f"placement {name!r} given twice")
        try:
            pairs[name] = float(value) if sep else 1.0
        except ValueError:
            raise ConfigError(f"{item!r}: {value!r} is not a number; {form}") from None
    return _normalised_wear(pairs)


def _normalised_wear(wear: Any) -> tuple[tuple[str, float], ...]:
    """Validated ``(name, probability)`` pairs summing to 1, in ``WEAR_PLACEMENTS`` order,
    zeros left out; ConfigError naming the problem."""
    known = ", ".join(WEAR_PLACEMENTS)
    try:
        pairs = dict(wear.items() if isinstance(wear, Mapping) else wear)
    except (TypeError, ValueError):
        raise ConfigError(
            f"wear must map placements ({known}) to probabilities, got {wear!r}"
        ) from None
    unknown = [name for name in pairs if name not in WEAR_PLACEMENTS]
    if unknown:
        raise ConfigError(f"unknown wear placement {unknown[0]!r}; known: {known}")
    for name, value in pairs.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"wear probability of {name} must be a number, got {value!r}")
        if not (math.isfinite(value) and value >= 0.0):
            raise ConfigError(
                f"wear probability of {name} must be a finite number >= 0, got {value!r}"
            )
    total = math.fsum(pairs.values())
    if abs(total - 1.0) > WEAR_SUM_TOLERANCE:
        raise ConfigError(f"wear probabilities must sum to 1, got {total:g}")
    return tuple(
        (name, float(pairs[name]) / total) for name in WEAR_PLACEMENTS if pairs.get(name, 0) > 0
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _hex_to_unit_rgb(hex_color: str) -> np.ndarray:
    """ "#rrggbb" -> read-only (3,) float RGB in [0, 1]."""
    rgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0
    rgb.setflags(write=False)
    return rgb


def _palette_cdf() -> np.ndarray:
    """Cumulative :data:`PALETTE` weights, normalised as ``Generator.choice`` does with ``p``."""
    weights = np.array([w for _, _, w in PALETTE])
    cdf = (weights / weights.sum()).cumsum()
    cdf /= cdf[-1]
    cdf.setflags(write=False)
    return cdf


_PALETTE_CDF = _palette_cdf()
_PALETTE_RGB = tuple(None if c is None else _hex_to_unit_rgb(c) for _, c, _ in PALETTE)
"""Each palette colour as (3,) float RGB in [0, 1] (None: a random hue)."""
_ANGLES = (0.0, 0.0, 0.0, 0.0, 45.0, 90.0)
"""Base texture angles (degrees), drawn uniformly: most prints run straight along the mask."""


def sample_color(rng: np.random.Generator) -> str:
    """A mask colour "#rrggbb" from :data:`PALETTE`, with a little brightness and tint jitter
    (always three draws plus the pick, so the stream stays aligned)."""
    # one uniform draw against the weights' cumulative sums: what rng.choice(p=...) draws,
    # without its per-call checks
    pick = int(_PALETTE_CDF.searchsorted(rng.random(), side="right"))
    hue, saturation, value = rng.random(3)
    brightness = rng.normal(0.0, COLOR_JITTER[0])
    tint = rng.normal(0.0, COLOR_JITTER[1], size=3)
    rgb = _PALETTE_RGB[pick]
    if rgb is None:
        rgb = np.array(colorsys.hsv_to_rgb(hue, 0.35 + 0.45 * saturation, 0.35 + 0.55 * value))
    rgb = np.clip(rgb * np.exp(brightness + tint), 0.0, 1.0)
    return "#" + "".join(f"{round(v * 255):02x}" for v in rgb.tolist())


def _sample_angle(rng: np.random.Generator) -> float:
    """Texture angle in degrees: most prints run straight along the mask, some on the bias."""
    base = _ANGLES[int(rng.integers(len(_ANGLES)))]  # what rng.choice(_ANGLES) draws
    return base + float(rng.normal(0.0, 4.0))
