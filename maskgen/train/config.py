"""Training configuration: one frozen dataclass, resolved from four layers.

Precedence: field defaults < ``--preset`` < ``--config FILE`` (TOML or YAML) < command-line
flags. Unknown keys are errors at every layer. ``steps`` and ``epochs`` exclude each other: a
layer that sets one clears the other from the layers below it. File paths are made absolute
(relative ones are taken from the working directory), so ``RUN/config.json`` can be resumed from
anywhere. A resumed run starts from its ``RUN/config.json`` instead of the defaults
(:func:`resolve_resume_config`).

This module imports no torch, so the CLI can build and check a config without the extra.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from maskgen import __version__
from maskgen.atomic import write_text_atomic
from maskgen.errors import ConfigError, no_such_file

NETWORKS = ("r18", "r34", "r50", "r100", "tiny")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
SCHEDULES = ("step", "poly")
AUGMENTS = ("none", "realism")
"""Values of ``augment`` (``maskgen.train.augment`` implements them; kept here, torch-free)."""

MASK_SMOOTHING = 0.1
"""Label smoothing of the 2-way mask head's cross-entropy when none is given
(docs/experiments.md, paper in miniature: chosen on real masked and unmasked photos, issue #9)."""

WEAR_MASK_SMOOTHING = 0.0
"""Label smoothing of the 5-way wear-class head's cross-entropy when none is given: none, since
0.1 cost ``mouth_uncovered`` 2.7-6.1 held-out points in each of three paired runs (README, wear
classes; ``benchmarks/wear_classes.py``)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. ``batch_size`` is the total over all ranks.

    The learning rate used is ``lr * batch_size / lr_reference_batch`` when
    ``lr_reference_batch`` is set (linear scaling), else ``lr``. ``schedule="step"`` multiplies
    it by ``lr_gamma`` at each of ``lr_milestones`` (steps); ``"poly"`` decays it as
    ``(1 - step / total) ** poly_power`` after ``warmup_steps`` of linear warm-up.
    ``precision="auto"`` is bf16 on CUDA and fp32 on CPU; ``channels_last=None`` is on for CUDA.
    Without ``masked`` (no twin) and without ``online_mask`` the network is built without its
    mask head. ``masked`` holds one twin, or several of the same dataset (``maskgen augment``
    with other ``--seed`` values): a masked sample is then read from twin ``(epoch + key) % K``,
    so each face wears each of its K masks in turn (a string is taken for one path).

    ``online_mask`` masks ``data``'s images while loading them (``maskgen.MaskAugment`` on the
    aligned crops) instead of reading a twin: a sample is masked with probability
    ``masked_prob``, with ``mask_types`` (None: all; lower-case names), ``color_prob`` and
    ``texture_prob`` as ``maskgen augment`` takes them. It excludes ``masked``.

    ``wear_classes`` trains a 5-way mask head on the classes of
    ``maskgen.masks.wear.WEAR_CLASSES`` (no mask / correct / nose, mouth, chin uncovered) in
    place of the 2-way one: labels from element 2 of a twin written with ``maskgen augment
    --wear``, or with ``online_mask`` from the placement each mask was drawn with (``wear``:
    placement probabilities in ``--wear``'s form, e.g. ``correct=0.7,nose_uncovered=0.3``).

    ``augment`` degrades every training image alike (original, twin or masked online) as
    photos in the wild are: ``realism`` (``maskgen.train.augment.RealismAugment``: scale/shift
    jitter, low resolution or blur, colour jitter, JPEG recompression) or ``none``;
    ``rotate_limit`` (degrees, 0 to 45; 0, the default: none) adds to ``realism``'s jitter a
    rotation of up to that many degrees either way, as the roll error of an aligner other than
    the one that made the training crops (docs/experiments.md, session 30, measures it on real
    masked photos).
    ``mask_weight`` multiplies the loss's mask term; ``mask_smoothing`` is the label smoothing
    of the mask cross-entropy (0: none, the paper's and ``--preset paper``'s). Left None it is
    :data:`MASK_SMOOTHING` (0.1) for the 2-way head, where a head trained without it grows
    certain on the twin's own look (docs/experiments.md's paper-in-miniature tables measure what it
    changes on real photos), and :data:`WEAR_MASK_SMOOTHING` (0) with ``wear_classes``, where
    it cost the held-out ``mouth_uncovered`` class 2.7-6.1 points in each of three paired runs
    (README, wear classes); the value chosen is the one stored. ``clip_grad_norm``
    clips the network's gradient norm before each step (``--preset arcface``: 5, as
    arcface_torch). ``ema_decay`` (in (0, 1), e.g. 0.999) keeps an exponential moving average
    of the network's weights (``maskgen.train.ema``): it is the model validated and saved as
    the checkpoint's ``model``; None: the last step's weights, as before.

    ``batch_size``, ``workers`` and ``threads`` (torch's CPU threads) left None are chosen by
    the run for its data and machine (``maskgen.train.auto``).
    """

    data: str = ""
    masked: tuple[str, ...] | None = None
    output: str = ""
    network: str = "r50"
    embedding_size: int = 512
    dropout: float = 0.4
    batch_size: int | None = None
    steps: int | None = 300_000
    epochs: int | None = None
    lr: float = 0.0015
    lr_reference_batch: int | None = None
    schedule: str = "step"
    lr_milestones: tuple[int, ...] = (120_000, 200_000, 280_000, 300_000)
    lr_gamma: float = 0.3
    poly_power: float = 2.0
    warmup_steps: int = 0
    momentum: float = 0.9
    weight_decay: float = 5e-4
    margin: float = 0.5
    scale: float = 64.0
    masked_prob: float = 0.5
    online_mask: bool = False
    mask_types: tuple[str, ...] | None = None
    color_prob: float = 0.5
    texture_prob: float = 0.5
    wear_classes: bool = False
    wear: str | None = None
    augment: str = "realism"
    rotate_limit: float = 0.0
    mask_weight: float = 1.0
    mask_smoothing: float | None = None
    clip_grad_norm: float | None = None
    ema_decay: float | None = None
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool | None = None
    workers: int | None = None
    threads: int | None = None
    log_every: int = 50
    save_every: int = 10_000
    val: tuple[str, ...] = ()
    val_masked: tuple[str, ...] = ()
    val_every: int = 2_000
    val_batch_size: int = 256
    resume: bool = False
    init_from: str | None = None
    sharded_classifier: bool = False
    preset: str | None = None

    def __post_init__(self) -> None:
        # built directly (``train(TrainConfig(val="lfw.bin"))``), values get the conversions a
        # config file's get: a string for a list was its letters ("val: /: no such file")
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in _coerce_layer(values, "TrainConfig").items():
            object.__setattr__(self, name, value)
        if self.mask_smoothing is None:  # frozen: fill in the head's default once, here
            chosen = WEAR_MASK_SMOOTHING if self.wear_classes else MASK_SMOOTHING
            object.__setattr__(self, "mask_smoothing", chosen)
        _check_values(self)

    @property
    def effective_lr(self) -> float:
        """The base learning rate after linear scaling by the total batch (resolve an automatic
        ``batch_size`` first: :func:`maskgen.train.auto.resolve_auto`)."""
        if self.lr_reference_batch is None:
            return self.lr
        if self.batch_size is None:
            raise ConfigError("batch_size: not chosen yet (resolve_auto picks it)")
        return self.lr * self.batch_size / self.lr_reference_batch

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (tuples become lists) that ``TrainConfig.from_dict`` reads back."""
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> TrainConfig:
        return cls(**_coerce_layer(values, source))


PRESETS: dict[str, dict[str, Any]] = {
    # Montero et al.: total batch 512, SGD momentum 0.9, lr 0.0015 times 0.3 at the milestones;
    # random flips only (no other image augmentation), as arcface_torch.
    "paper": {
        "batch_size": 512,
        "momentum": 0.9,
        "lr": 0.0015,
        "lr_reference_batch": None,
        "schedule": "step",
        "lr_milestones": (120_000, 200_000, 280_000, 300_000),
        "lr_gamma": 0.3,
        "steps": 300_000,
        "warmup_steps": 0,
        "augment": "none",
        "mask_smoothing": 0.0,  # the paper's loss: a plain mask cross-entropy
    },
    # arcface_torch's MS1MV2 r50 recipe: lr 0.1 at total batch 1024 (scaled linearly),
    # weight decay 5e-4, polynomial decay of power 2 over 20 epochs, no warm-up, and the
    # backbone's gradient norm clipped at 5 before each step (train_v2.py:
    # torch.nn.utils.clip_grad_norm_(backbone.parameters(), 5)); random flips only.
    "arcface": {
        "batch_size": 1024,
        "momentum": 0.9,
        "lr": 0.1,
        "lr_reference_batch": 1024,
        "weight_decay": 5e-4,
        "schedule": "poly",
        "poly_power": 2.0,
        "epochs": 20,
        "warmup_steps": 0,
        "clip_grad_norm": 5.0,
        "augment": "none",
    },
}

_FIELDS = {f.name: f for f in fields(TrainConfig)}
_HINTS = typing.get_type_hints(TrainConfig)

PATH_FIELDS = ("data", "masked", "output", "init_from", "val", "val_masked")
"""Settings that are file paths (``masked``, ``val`` and ``val_masked`` are lists of them)."""

RESUME_MAY_CHANGE = frozenset(
    {
        "output",
        "resume",
        "steps",
        "epochs",
        "log_every",
        "save_every",
        "val",
        "val_masked",
        "val_every",
        "val_batch_size",
        "workers",
        "threads",
        "device",
        "channels_last",
    }
)
"""Settings a resumed run may change: how long it runs, how often it logs, saves and validates,
where (``output`` is the folder it is resumed from, wherever that now is) and on what. Every
other setting is fixed by the run's ``config.json``: changing it would not continue the same
run."""


def resolve_config(
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """Merge defaults < preset < config file < ``overrides`` (command-line flags) into a
    checked TrainConfig; ConfigError names the layer and the key for anything wrong."""
    layers: list[tuple[str, Mapping[str, Any]]] = []
    file_values = read_config_file(config_file) if config_file is not None else {}
    preset = overrides.get("preset", preset) if overrides else preset
    preset = file_values.get("preset", preset) if preset is None else preset
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"preset: unknown {preset!r} (choose from {', '.join(PRESETS)})")
        layers.append((f"preset {preset}", {**PRESETS[preset], "preset": preset}))
    if config_file is not None:
        layers.append((str(config_file), file_values))
    if overrides:
        layers.append(("command line", overrides))
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for source, values in layers:
        layer = _coerce_layer(values, source)
        for exclusive, other in (("steps", "epochs"), ("epochs", "steps")):
            if layer.get(exclusive) is not None and other not in layer:
                merged[other] = None
        if layer.get("steps") is not None and layer.get("epochs") is not None:
            raise ConfigError(f"{source}: give steps or epochs, not both")
        merged.update(layer)
        origin.update(dict.fromkeys(layer, source))
    try:
        return TrainConfig(**_absolute_paths(merged))
    except ConfigError as exc:
        raise _blamed_on_its_layer(exc, origin) from None


def _blamed_on_its_layer(exc: ConfigError, origin: Mapping[str, str]) -> ConfigError:
    """``exc`` about settings whose values came from ``origin``'s layers: as it is where
    every one was given on the command line (the CLI words them as its options), else with
    the layer that gave them in front (``c.yaml: steps: must be at least 1``) and no option
    words, since the user typed no such option."""
    sources = {origin.get(name, "defaults") for name in exc.parameters.values()}
    if not exc.parameters or sources == {"command line"}:
        return exc
    return ConfigError(f"{', '.join(sorted(sources))}: {exc}")


def resolve_resume_config(
    run_dir: str | Path,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """The config of the run in ``run_dir``, read from its ``config.json``, to be resumed.

    Settings given again (``overrides`` from the command line, a ``config_file``, a ``preset``)
    may change those in RESUME_MAY_CHANGE (a layer setting ``steps`` clears ``epochs`` and the
    reverse, as in :func:`resolve_config`; one setting ``val`` without ``val_masked`` clears the
    stored ``val_masked``). Any other must equal the stored value (paths are
    compared as absolute paths), else ConfigError naming the flag or file and both values. A
    preset given again is only compared by name: the stored config already holds its values.
    ``output`` is always ``run_dir``.
    """
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    merged = read_run_config(path).to_dict()
    if preset is not None and preset != merged.get("preset"):
        _refuse_change(path, "preset", merged.get("preset"), preset, "--preset")
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if config_file is not None:
        layers.append((str(config_file), read_config_file(config_file)))
    layers.append(("command line", {**(overrides or {}), "output": str(run_dir)}))
    origin = dict.fromkeys(merged, str(path))
    given: dict[str, Any] = {}  # the layers resolved first: a flag overrides its config file
    given_by: dict[str, str] = {}
    for source, values in layers:
        layer = _absolute_paths(_coerce_layer(values, source))
        if layer.get("steps") is not None and layer.get("epochs") is not None:
            raise ConfigError(f"{source}: give steps or epochs, not both")
        for exclusive, other in (("steps", "epochs"), ("epochs", "steps")):
            if layer.get(exclusive) is not None and other not in layer:
                given[other] = None
                given_by[other] = source
        if layer.get("val") is not None and "val_masked" not in layer:
            # new --val sets replace the stored ones, their twins too: the stored twins were
            # kept and paired with the new sets ("not the masked twin of ...")
            given["val_masked"] = ()
            given_by["val_masked"] = source
        given.update(layer)
        given_by.update(dict.fromkeys(layer, source))
    for key, value in given.items():
        old = merged[key]
        if isinstance(old, list):
            old = tuple(old)
        if key not in RESUME_MAY_CHANGE and value != old:
            source = given_by[key]
            flag = f"--{key.replace('_', '-')}" if source == "command line" else source
            _refuse_change(path, key, old, value, flag)
    merged.update(given)
    origin.update(given_by)
    merged["resume"] = True
    try:
        return TrainConfig.from_dict(merged, str(path))
    except ConfigError as exc:
        raise _blamed_on_its_layer(exc, origin) from None


def read_run_config(path: str | Path) -> TrainConfig:
    """The config a run stored in ``RUN/config.json`` (relative paths in one written by an
    older maskgen are taken from the working directory); ConfigError if there is none."""
    path = Path(path)
    if path.exists() and not path.is_file():  # a named pipe there would block the read
        raise no_such_file(path, "run config", ConfigError)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file, so nothing to resume (give the --output folder of an "
            "earlier `maskgen train`)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable run config ({exc})") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("config"), dict):
        raise ConfigError(f'{path}: not a run config (no "config" mapping)')
    values = _coerce_layer(payload["config"], str(path))
    for key, value in _BEFORE_THE_FIELD.items():
        values.setdefault(key, value)
    return TrainConfig(**_absolute_paths(values))


_BEFORE_THE_FIELD: dict[str, Any] = {"augment": "none", "mask_smoothing": 0.0}
"""What a run whose config.json predates a setting did: such runs trained without training
augmentation (its default is now ``realism``) and without label smoothing of the mask loss,
so resuming one goes on without them."""


def _refuse_change(path: Path, key: str, old: Any, new: Any, given: str) -> None:
    # a setting left at None (no EMA, no clipping) was "is None": Python's word, not the user's
    was = f"is {old!r} in" if old is not None else "is not set in"
    raise ConfigError(
        f"resume: {key} {was} {path} but {given} gives {new!r}; a resumed run keeps "
        "it (leave it out, or start a new --output; edit config.json if a file has moved)"
    )


def _absolute_paths(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with every non-empty path setting made absolute (from the working folder)."""
    out = dict(values)
    for key in PATH_FIELDS:
        value = out.get(key)
        if isinstance(value, list | tuple):
            out[key] = type(value)(_absolute(v) for v in value)
        elif value:
            out[key] = _absolute(value)
    return out


def _absolute(path: str | Path) -> str:
    return os.path.abspath(os.path.expanduser(str(path)))


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A flat mapping of config keys from a ``.toml`` or ``.yaml``/``.yml`` file (a top-level
    ``[train]`` table / ``train:`` mapping is also accepted). Keys may use ``-`` or ``_``."""
    path = Path(path)
    if not path.is_file():
        raise no_such_file(path, "config file", ConfigError)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"{path}: config files are .toml, .yaml or .yml")
    try:  # a .bin or a photo given as --config, or a file saved as Latin-1, was a traceback
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file in UTF-8 ({exc.reason})") from exc
    if suffix == ".toml":
        try:
            values: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    else:
        values = _load_yaml(path, text)
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    if set(values) == {"train"} and isinstance(values["train"], dict):
        values = values["train"]
    return {str(k).replace("-", "_"): v for k, v in values.items()}


def _load_yaml(path: Path, text: str) -> Any:
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - pyyaml is part of the [train] extra
        raise ConfigError(
            f"{path}: reading YAML needs pyyaml (pip install maskgen[train])"
        ) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML ({first})") from exc


def write_config_json(config: TrainConfig, path: str | Path) -> Path:
    """The resolved config (paths absolute) and the maskgen version, as ``RUN/config.json``."""
    path = Path(path)
    payload = {"maskgen_version": __version__, "config": _absolute_paths(config.to_dict())}
    return write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def _coerce_layer(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Check keys and convert values to the field types (lists to tuples, paths to str)."""
    out: dict[str, Any] = {}
    for raw_key, value in values.items():
        key = str(raw_key).replace("-", "_")
        if key not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise ConfigError(f"{source}: unknown key {raw_key!r} (known keys: {known})")
        out[key] = _coerce(value, _HINTS[key], f"{source}: {key}")
        if key == "mask_types" and out[key] is not None:
            out[key] = _mask_type_names(out[key], f"{source}: {key}")
    return out


def _mask_type_names(values: tuple[str, ...], where: str) -> tuple[str, ...]:
    """Mask type names as stored: comma-separated strings split, lower case (every built-in
    type's name is), each once, in the order given. Whether each exists is checked when the
    run builds its masker (it loads the templates, which this module does not)."""
    names = [n.strip().lower() for value in values for n in value.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"{where}: expected mask type names (e.g. surgical,n95), got none")
    return tuple(dict.fromkeys(names))


def _coerce(value: Any, hint: Any, where: str) -> Any:
    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if origin is tuple:
        if isinstance(value, str | Path):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(v, args[0], where) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str | Path):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{where}: unsupported value {value!r}")  # pragma: no cover


def _value_error(name: str, problem: str) -> ConfigError:
    """ConfigError ``"name: problem"`` for one setting, which the command line words as its
    option (``--steps: must be at least 1``) and a config file's reader as its key."""
    return ConfigError(f"{name}: {problem}", parameters={name: name})


def _check_values(c: TrainConfig) -> None:
    """Range and choice checks (types were checked when the layers were read)."""
    choices = {
        "network": NETWORKS,
        "precision": PRECISIONS,
        "device": DEVICES,
        "schedule": SCHEDULES,
        "augment": AUGMENTS,
    }
    for name, allowed in choices.items():
        if getattr(c, name) not in allowed:
            raise _value_error(name, f"{getattr(c, name)!r} is not one of {', '.join(allowed)}")
    if c.preset is not None and c.preset not in PRESETS:
        raise _value_error("preset", f"unknown {c.preset!r} (choose from {', '.join(PRESETS)})")
    positive = (
        "embedding_size",
        "batch_size",
        "log_every",
        "save_every",
        "val_every",
        "val_batch_size",
    )
    for name in positive:
        if getattr(c, name) is not None and getattr(c, name) < 1:
            raise _value_error(name, f"must be at least 1, got {getattr(c, name)}")
    for name in ("steps", "epochs", "lr_reference_batch", "threads"):
        value = getattr(c, name)
        if value is not None and value < 1:
            raise _value_error(name, f"must be at least 1, got {value}")
    if (c.steps is None) == (c.epochs is None):
        raise ConfigError("steps/epochs: give exactly one of them")
    for name in ("lr", "scale", "lr_gamma", "poly_power"):
        if not getattr(c, name) > 0:
            raise _value_error(name, f"must be positive, got {getattr(c, name)}")
    for name in ("momentum", "weight_decay", "margin", "warmup_steps", "workers", "mask_weight"):
        if getattr(c, name) is not None and getattr(c, name) < 0:
            raise _value_error(name, f"must not be negative, got {getattr(c, name)}")
    if c.clip_grad_norm is not None and not c.clip_grad_norm > 0:
        raise _value_error("clip_grad_norm", f"must be positive, got {c.clip_grad_norm}")
    if c.ema_decay is not None and not 0.0 < c.ema_decay < 1.0:
        raise _value_error("ema_decay", f"must be in (0, 1), e.g. 0.999, got {c.ema_decay}")
    if not 0.0 <= c.rotate_limit <= 45.0:
        raise _value_error("rotate_limit", f"must be in [0, 45] degrees, got {c.rotate_limit}")
    if c.rotate_limit and c.augment != "realism":
        raise ConfigError(
            "rotate_limit: rotations are part of augment realism's jitter, so give it with "
            f"augment realism, not {c.augment}",
            parameters={"rotate_limit": "rotate_limit", "augment realism": "augment"},
        )
    if not 0.0 <= c.dropout < 1.0:
        raise _value_error("dropout", f"must be in [0, 1), got {c.dropout}")
    if not 0.0 <= c.mask_smoothing < 1.0:
        raise _value_error("mask_smoothing", f"must be in [0, 1), got {c.mask_smoothing}")
    for name in ("masked_prob", "color_prob", "texture_prob"):
        if not 0.0 <= getattr(c, name) <= 1.0:
            raise _value_error(name, f"must be in [0, 1], got {getattr(c, name)}")
    if c.online_mask and c.masked:
        raise ConfigError(
            "online_mask masks the data images while loading them and takes no masked twin, "
            f"but masked is {', '.join(c.masked)}; give one of the two",
            parameters={"online_mask": "online_mask", "masked is": "masked", "data": "data"},
        )
    if c.masked and len(set(c.masked)) != len(c.masked):
        twice = next(p for p in c.masked if c.masked.count(p) > 1)
        raise _value_error("masked", f"{twice} given twice; give each twin once")
    _check_wear(c)
    if list(c.lr_milestones) != sorted(c.lr_milestones) or any(m < 1 for m in c.lr_milestones):
        raise _value_error(
            "lr_milestones", f"must be increasing positive steps, got {c.lr_milestones}"
        )
    if c.val_masked and len(c.val_masked) != len(c.val):
        raise _value_error(
            "val_masked",
            f"give one masked twin per --val set ({len(c.val)}), got {len(c.val_masked)}",
        )
    if not 0 <= c.seed < 2**64:  # torch.manual_seed's range: 2**64 was its traceback
        raise _value_error("seed", f"must be in [0, 2**64), got {c.seed}")
    if c.online_mask and c.seed >= 2**32:  # the masks' draws, as augment's --seed
        raise _value_error("seed", f"must be below 2**32 with online_mask, got {c.seed}")


def _check_wear(c: TrainConfig) -> None:
    """Wear classes need masks whose placement is known: a twin (checked when it is opened) or
    online masks drawn with ``wear``; ``wear`` is the online masker's alone."""
    if c.wear is not None:
        from maskgen.masks.policy import parse_wear

        if not c.online_mask:
            raise ConfigError(
                "wear: placements are drawn by --online-mask; a twin has its own (maskgen "
                "augment --wear), so give --wear only with --online-mask"
            )
        try:
            parse_wear(c.wear)
        except ConfigError as exc:
            raise ConfigError(f"wear: {exc}") from None
    if c.wear_classes and not c.online_mask and not c.masked:
        raise ConfigError(
            "wear_classes: needs masks whose placement is known: --masked (a twin written "
            "with maskgen augment --wear) or --online-mask with --wear"
        )
    if c.wear_classes and c.online_mask and c.wear is None:
        raise ConfigError(
            "wear_classes: with --online-mask give --wear (e.g. correct=0.7,nose_uncovered=0.1,"
            "mouth_uncovered=0.1,chin_uncovered=0.1); without it every mask is worn correctly"
        )
