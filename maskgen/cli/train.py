"""``maskgen train``: Multi-Task ArcFace on a dataset and its masked twin (or masks drawn while
loading, ``--online-mask``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from maskgen.cli import options
from maskgen.cli.main import RESUME_HINT
from maskgen.cli.options import refuse_unwritable
from maskgen.errors import ConfigError
from maskgen.train.config import NETWORKS, TrainConfig

logger = logging.getLogger(__name__)

_NOT_CONFIG = ("config_file", "preset", "quiet")
_DEFAULTS = TrainConfig()


def _help(text: str, name: str) -> str:
    """``text`` and the setting's default, as click shows defaults. The flags themselves default
    to None, so that a preset, a config file or a resumed run's config.json can supply them."""
    return f"{text}  [default: {getattr(_DEFAULTS, name)}]"


ONLINE_MASK_OPTIONS = ("mask_types", "color_prob", "texture_prob")
"""Flags that say how --online-mask draws its masks, and nothing else."""


def _refuse_online_options_without_online_mask(
    overrides: dict[str, Any], online_mask: bool
) -> None:
    """ConfigError for a flag of :data:`ONLINE_MASK_OPTIONS` given to a run that masks
    nothing while loading: it would change nothing, silently."""
    given = [name for name in ONLINE_MASK_OPTIONS if name in overrides]
    if given and not online_mask:
        flag = "--" + given[0].replace("_", "-")
        raise ConfigError(
            f"{given[0]}: {flag} says how --online-mask draws its masks; a twin's were drawn "
            f"by maskgen augment (give {flag} there), so give it only with --online-mask"
        )


MASK_HEAD_OPTIONS = ("masked_prob", "mask_weight", "mask_smoothing")
"""Flags that say how masked samples are drawn and the mask head is trained."""


def _warn_mask_options_without_masks(overrides: dict[str, Any], with_masks: bool) -> None:
    """A warning for flags of :data:`MASK_HEAD_OPTIONS` given to a run without masked
    samples (no --masked, no --online-mask), which trains no mask head: they change nothing.
    Not an error: the ArcFace arm of ``benchmarks/paper_miniature.py`` lists its commands
    with the MTArcFace arm's ``--masked-prob``, and those commands must still run."""
    given = ["--" + name.replace("_", "-") for name in MASK_HEAD_OPTIONS if name in overrides]
    if given and not with_masks:
        logger.warning(
            "%s: no effect without masked samples (--masked or --online-mask): no mask head "
            "is trained",
            ", ".join(given),
        )


def _bad_option_value(exc: ConfigError, given: dict[str, Any]) -> click.BadParameter | None:
    """A ConfigError about one value typed on the command line (``steps: must be at least 1,
    got 0``) as click's usage error for that option (exit code 2, ``Invalid value for
    '--steps': ...``), as every other command words a bad option value; None for any other
    (a value from a config file or a preset, a combination of settings)."""
    if len(exc.parameters) != 1:
        return None
    ((words, name),) = exc.parameters.items()
    command = click.get_current_context().command
    option = next((p for p in command.params if p.name == name), None)
    prefix = f"{words}: "
    if option is None or name not in given or not str(exc).startswith(prefix):
        return None
    return click.BadParameter(str(exc)[len(prefix) :], param=option)


def _refuse_missing(config: Any) -> None:
    """click's usage error (exit 2, "Missing option '--data'"), as every other command's
    missing input reads, where neither the flags nor a --config file or --preset gave the
    training .rec or the run folder (it was a one-line error with exit 1)."""
    for name, flag in (("data", "'--data'"), ("output", "'-o' / '--output'")):
        if not getattr(config, name):
            raise click.UsageError(f"Missing option {flag} (or `{name}` in a --config file).")


def _resume_hint(run: Path) -> Any:
    """What to tell a user who stopped the run (asked when it stops: a checkpoint may exist
    by then)."""

    def hint() -> str:
        if (run / "last.pt").is_file():
            return f"`maskgen train -o {run} --resume` continues from its last checkpoint."
        return "No checkpoint was saved yet, so there is nothing to resume."

    return hint


@click.command(short_help="Train Multi-Task ArcFace on a .rec and its masked twin.")
@click.option("--data", type=options.EXISTING_FILE, help="Training .rec.")
@click.option(
    "--masked",
    multiple=True,
    type=options.EXISTING_FILE,
    help="Its masked twin .rec (from `maskgen augment`); without it (or --online-mask) no "
    "mask head is trained. Repeat it for twins drawn with other --seeds: each face then wears "
    "each of its masks in turn, one an epoch.",
)
@click.option(
    "--online-mask",
    is_flag=True,
    default=None,
    help="No twin: mask --data's faces while loading them (a new mask each epoch, the same "
    "for any --workers and on --resume). Excludes --masked.",
)
@click.option(
    "--wear-classes",
    is_flag=True,
    default=None,
    help="A 5-way mask head: no mask / correct / nose, mouth or chin uncovered, from a twin "
    "written with `maskgen augment --wear` (label element 2), or with --online-mask from "
    "--wear's draws. Replaces the 2-way head; the loss keeps its form.",
)
@click.option(
    "--wear",
    help="With --online-mask: how masks are worn, as in `maskgen augment --wear`, e.g. "
    "correct=0.7,nose_uncovered=0.1,mouth_uncovered=0.1,chin_uncovered=0.1.  [default: "
    "correct=1]",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder (config.json, metrics, checkpoints).",
)
@click.option(
    "--network",
    type=click.Choice(NETWORKS),
    help=_help("Backbone: insightface's iresnet, or a small CPU network.", "network"),
)
@click.option(
    "--batch-size",
    type=int,
    help="Total batch over all GPUs/processes.  [default: the paper's 512, halved until the "
    "set makes 4 batches an epoch]",
)
@click.option("--steps", type=int, help=_help("Optimizer steps (or --epochs).", "steps"))
@click.option("--epochs", type=int, help="Epochs (instead of --steps).")
@click.option("--lr", type=float, help=_help("Base learning rate.", "lr"))
@click.option(
    "--device",
    type=click.Choice(["auto", "cuda", "cpu"]),
    help=_help("auto: CUDA when there is a GPU.", "device"),
)
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
    help=_help("auto: bf16 on CUDA, fp32 on CPU.", "precision"),
)
@click.option("--preset", type=click.Choice(["paper", "arcface"]), help="A recipe to start from.")
@click.option(
    "--config",
    "config_file",
    type=options.EXISTING_FILE,
    help="TOML or YAML file of settings (flags override it; relative paths in it are taken "
    "from the working directory).",
)
@click.option(
    "--resume",
    is_flag=True,
    default=None,
    help="Continue the run in -o RUN exactly, with the settings in RUN/config.json; flags "
    "given again must agree, except those saying how long it runs and how it logs, saves, "
    "validates and loads data (--steps/--epochs, --*-every, --val*, --workers, --threads, "
    "--device).",
)
@click.option(
    "--init-from",
    type=options.EXISTING_FILE,
    help="Start from an arcface_torch backbone.pth or a maskgen checkpoint.",
)
@click.option(
    "--seed",
    type=int,
    help=_help("Seed of the data order, the online masks, the init and dropout.", "seed"),
)
@click.option("--log-every", type=int, help=_help("Steps per metrics row.", "log_every"))
@click.option(
    "--save-every",
    type=int,
    help=_help("Steps between RUN/step_N.pt checkpoints.", "save_every"),
)
@click.option(
    "--workers",
    type=int,
    help="Data loader processes per GPU/process.  [default: the cores of this process less "
    "one, at most 8]",
)
@click.option(
    "--threads",
    type=int,
    help="torch CPU threads when training on the CPU.  [default: the cores the automatic "
    "--workers leave, at least 1]",
)
@click.option(
    "--augment",
    type=click.Choice(["none", "realism"]),
    help=_help(
        "Degrade every training image alike, original or masked, as photos in the wild are: "
        "scale/shift jitter, low resolution or blur, colour jitter, JPEG recompression "
        "(realism), or not (none).",
        "augment",
    ),
)
@click.option(
    "--rotate-limit",
    type=float,
    metavar="DEGREES",
    help=_help(
        "With --augment realism: also rotate the faces its scale/shift jitter moves (half of "
        "them) by up to DEGREES either way (0 to 45), as another aligner's roll error does; "
        "0: no rotation.",
        "rotate_limit",
    ),
)
@click.option(
    "--mask-weight",
    type=float,
    help=_help("Weight of the mask-usage term of the loss.", "mask_weight"),
)
@click.option(
    "--mask-smoothing",
    type=float,
    help="Label smoothing of the mask-usage cross-entropy: keeps the 2-way mask head from "
    "growing certain on the twin's own look.  [default: 0.1; 0 with --wear-classes]",
)
@click.option(
    "--clip-grad-norm",
    type=float,
    help="Clip the network's gradient norm at this before each step.  [default: none; 5 "
    "with --preset arcface]",
)
@click.option(
    "--ema-decay",
    type=float,
    help="Keep an exponential moving average of the weights with this decay (e.g. 0.999): "
    "the model validated and saved.  [default: none, the last step's weights]",
)
@click.option(
    "--masked-prob",
    type=float,
    help=_help("Chance of a masked sample (from the twin, or masked online).", "masked_prob"),
)
@click.option(
    "--mask-types",
    metavar="TYPES",
    help="With --online-mask: comma-separated mask types to draw from, e.g. surgical,n95 "
    "(`maskgen types` lists them).  [default: all]",
)
@click.option(
    "--color-prob",
    type=float,
    help=_help("With --online-mask: probability of recolouring a mask.", "color_prob"),
)
@click.option(
    "--texture-prob",
    type=float,
    help=_help("With --online-mask: probability of texturing a mask.", "texture_prob"),
)
@click.option(
    "--val",
    multiple=True,
    type=options.EXISTING_FILE,
    help="Verification .bin (repeatable).",
)
@click.option(
    "--val-masked",
    multiple=True,
    type=options.EXISTING_FILE,
    help="Masked twin of each --val .bin, in the same order.",
)
@click.option(
    "--val-every",
    type=int,
    help=_help("Steps between validations.", "val_every"),
)
@click.option(
    "--sharded-classifier",
    is_flag=True,
    default=None,
    help="Split the class centres across processes (very many identities).",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="No metrics rows (what was chosen, steps, validations) and no closing line on "
    "stderr; RUN/metrics.jsonl and RUN/tb are written all the same, warnings and errors "
    "still print.",
)
def train(**options: Any) -> None:
    """Train Multi-Task ArcFace (ArcFace + mask-usage head) on a RecordIO dataset and its
    masked twin, or with --online-mask on the dataset alone, masking its aligned faces while
    loading them (--masked-prob of the samples; --mask-types, --color-prob, --texture-prob as
    in `maskgen augment`). Metrics go to RUN/metrics.jsonl and RUN/tb, checkpoints to
    RUN/last.pt and RUN/step_N.pt, the resolved settings (absolute paths) to RUN/config.json.
    The defaults shown are the paper's recipe with training augmentation; batch size, loader
    workers and CPU threads not given are chosen for the data and the machine (the first line
    says what was chosen); --preset and --config change them, flags win.
    Several GPUs: torchrun --nproc-per-node 8 -m maskgen.train ARGS.

    Example: maskgen train --data ms1mv2/train.rec --masked ms1mv2_masked/train.rec -o runs/r50

    Without a twin: maskgen train --data ms1mv2/train.rec --online-mask -o runs/r50

    How masks are worn: maskgen train --data a.rec --masked a_wear.rec --wear-classes -o runs/w

    Continue it after a stop: maskgen train -o runs/r50 --resume
    """
    from maskgen.train.auto import passive_openmp
    from maskgen.train.config import resolve_config, resolve_resume_config

    passive_openmp()  # before torch loads: idle OpenMP threads sleep instead of spinning

    overrides = {
        key: (str(value) if isinstance(value, Path) else value)
        for key, value in options.items()
        if key not in _NOT_CONFIG and value is not None and value != ()
    }
    for key in ("masked", "val", "val_masked"):
        if key in overrides:
            overrides[key] = [str(v) for v in overrides[key]]
    if options["output"] is not None:
        click.get_current_context().meta[RESUME_HINT] = _resume_hint(options["output"])
    if options["resume"] and options["output"] is None:
        raise click.UsageError("--resume needs the run folder: -o RUN")
    try:
        if options["resume"]:
            config = resolve_resume_config(
                options["output"],
                preset=options["preset"],
                config_file=options["config_file"],
                overrides=overrides,
            )
        else:
            config = resolve_config(
                preset=options["preset"], config_file=options["config_file"], overrides=overrides
            )
    except ConfigError as exc:
        raise _bad_option_value(exc, overrides) or exc from None
    _refuse_missing(config)
    given = dict(overrides)
    if options["config_file"] is not None and not options["resume"]:
        from maskgen.train.config import read_config_file

        given = {**read_config_file(options["config_file"]), **overrides}  # a file's keys too
    _refuse_online_options_without_online_mask(given, config.online_mask)
    _warn_mask_options_without_masks(given, bool(config.masked) or config.online_mask)
    try:
        import tensorboard  # noqa: F401  (the run's logs need it: without, a traceback after setup)

        from maskgen.train.loop import format_row
        from maskgen.train.loop import train as run_training
    except ImportError as exc:
        if exc.name not in ("torch", "tensorboard", "yaml"):
            raise
        message = (
            f"maskgen train needs the [train] extra ({exc.name} not installed): "
            "pip install 'maskgen[train]'"
        )
        raise ConfigError(message) from exc

    def echo(row: dict[str, Any]) -> None:
        click.echo(format_row(row), err=True)

    if config.output:  # before the line saying what was chosen: a run that cannot start
        refuse_unwritable(Path(config.output) / "config.json")
    summary = run_training(config, on_log=None if options["quiet"] else echo)
    if summary.last_checkpoint is not None and not options["quiet"]:
        done = (
            f"nothing to train: the run is at step {summary.step}, --steps {config.steps}"
            if summary.step == summary.start_step and summary.step >= config.steps
            else f"trained to step {summary.step}"
        )
        click.echo(f"{done}; checkpoint {summary.last_checkpoint}", err=True)
