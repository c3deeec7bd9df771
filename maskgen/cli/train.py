"""``maskgen train``: Multi-Task ArcFace on a dataset and its masked twin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from maskgen.errors import ConfigError

_NOT_CONFIG = ("config_file", "preset")


@click.command(short_help="Train Multi-Task ArcFace on a .rec and its masked twin.")
@click.option("--data", type=click.Path(dir_okay=False, path_type=Path), help="Training .rec.")
@click.option(
    "--masked",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Its masked twin .rec (from `maskgen augment`); without it no mask head is trained.",
)
@click.option(
    "-o", "--output", type=click.Path(file_okay=False, path_type=Path), help="Run folder."
)
@click.option("--network", help="r18, r34, r50 (default), r100 or tiny.")
@click.option("--batch-size", type=int, help="Total batch over all GPUs/processes.")
@click.option("--steps", type=int, help="Optimizer steps (or give --epochs).")
@click.option("--epochs", type=int, help="Epochs (or give --steps).")
@click.option("--lr", type=float, help="Base learning rate.")
@click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), help="Default: auto.")
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
    help="auto = bf16 on CUDA, fp32 on CPU.",
)
@click.option("--preset", type=click.Choice(["paper", "arcface"]), help="A recipe to start from.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML or YAML file of settings (flags override it).",
)
@click.option("--resume", is_flag=True, default=None, help="Continue RUN/last.pt exactly.")
@click.option(
    "--init-from",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Start from an arcface_torch backbone.pth or a maskgen checkpoint.",
)
@click.option("--seed", type=int, help="Seed of the data order, the init and dropout.")
@click.option("--log-every", type=int, help="Steps per metrics row.")
@click.option("--save-every", type=int, help="Steps between RUN/step_N.pt checkpoints.")
@click.option("--workers", type=int, help="Data loader processes per GPU/process.")
@click.option("--masked-prob", type=float, help="Chance of taking a sample from the twin.")
@click.option(
    "--val",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Verification .bin (repeatable).",
)
@click.option(
    "--val-masked",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Masked twin of each --val .bin, in the same order.",
)
@click.option("--val-every", type=int, help="Steps between validations.")
@click.option(
    "--sharded-classifier",
    is_flag=True,
    default=None,
    help="Split the class centres across processes (very many identities).",
)
def train(**options: Any) -> None:
    """Train Multi-Task ArcFace (ArcFace + mask-usage head) on a RecordIO dataset and its
    masked twin. Metrics go to RUN/metrics.jsonl and RUN/tb, checkpoints to RUN/last.pt and
    RUN/step_N.pt. Several GPUs: torchrun --nproc-per-node 8 -m maskgen.train ARGS.

    Example: maskgen train --data ms1mv2/train.rec --masked ms1mv2_masked/train.rec -o runs/r50
    """
    from maskgen.train.config import resolve_config

    overrides = {
        key: (str(value) if isinstance(value, Path) else value)
        for key, value in options.items()
        if key not in _NOT_CONFIG and value is not None and value != ()
    }
    for key in ("val", "val_masked"):
        if key in overrides:
            overrides[key] = [str(v) for v in overrides[key]]
    config = resolve_config(
        preset=options["preset"], config_file=options["config_file"], overrides=overrides
    )
    try:
        from maskgen.train.loop import format_row
        from maskgen.train.loop import train as run_training
    except ImportError as exc:
        if exc.name not in ("torch", "tensorboard", "yaml"):
            raise
        message = "maskgen train needs the [train] extra: pip install 'maskgen[train]'"
        raise ConfigError(message) from exc

    def echo(row: dict[str, Any]) -> None:
        click.echo(format_row(row), err=True)

    summary = run_training(config, on_log=echo)
    if summary.last_checkpoint is not None:
        click.echo(
            f"trained to step {summary.step}; checkpoint {summary.last_checkpoint}", err=True
        )
