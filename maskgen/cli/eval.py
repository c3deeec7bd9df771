"""``maskgen eval``: verification and mask-usage accuracy of a model on .bin and .rec sets.

Also defines the model options that ``export``, ``embed`` and ``verify`` share (``--model``,
``--batch-size``, ``--device``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from maskgen.cli import options
from maskgen.cli.progress import SetBars

_FLAGS = {"bin": "--bin", "masked-bin": "--masked-bin", "rec": "--rec"}


def _refuse_a_set_given_twice(sets: list[Any]) -> None:
    """UsageError for a file given twice (as two kinds, or one kind twice): a set is masked or
    not, and the report keys its results by path, so one result would silently replace the
    other in --json."""
    seen: dict[Path, Any] = {}
    for item in sets:
        path = Path(item.path)
        key = path.resolve() if path.exists() else path.absolute()
        if key in seen:
            first = seen[key]
            raise click.UsageError(
                f"{item.path}: given twice ({_FLAGS[first.kind]} and {_FLAGS[item.kind]}); "
                "give each set once"
            )
        seen[key] = item


_EXISTING_SET = click.Path(exists=True, dir_okay=False)
"""As :data:`options.EXISTING_FILE`, kept as the string given: it names the set in reports."""


@click.command(
    "eval", short_help="Verification and mask-usage accuracy of a model on .bin/.rec sets."
)
@options.model
@click.option(
    "--bin",
    "bins",
    multiple=True,
    type=_EXISTING_SET,
    metavar="X.bin",
    help="insightface verification set of unmasked faces (repeatable).",
)
@click.option(
    "--masked-bin",
    "masked_bins",
    multiple=True,
    type=_EXISTING_SET,
    metavar="Y.bin",
    help="Verification set of masked faces, e.g. a twin from maskgen augment; its images "
    "that equal its original's (a --bin, or the input its maskgen.json names) are expected "
    "unmasked (repeatable).",
)
@click.option(
    "--rec",
    "recs",
    multiple=True,
    type=_EXISTING_SET,
    metavar="Z.rec",
    help="RecordIO set labelled [identity, mask flag]: mask-usage accuracy only, so a model "
    "without a mask head needs a .bin beside it (repeatable).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the results as JSON.",
)
@click.option(
    "--markdown",
    "markdown_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the results as a Markdown table.",
)
@options.batch_size
@options.device
@options.overwrite_file
@options.quiet
def eval_command(
    model_path: Path,
    bins: tuple[str, ...],
    masked_bins: tuple[str, ...],
    recs: tuple[str, ...],
    json_path: Path | None,
    markdown_path: Path | None,
    batch_size: int,
    device: str,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Evaluate a model the way the paper does: on each .bin, insightface's 10-fold
    verification accuracy (mean ± std, faces plus mirror images, squared-L2 thresholds
    0-4) and TAR at FAR=1e-3 where there are at least 1000 impostor pairs; on every set, the
    mask-usage accuracy (mask probability > 0.5), expecting --bin faces unmasked,
    --masked-bin faces masked (but where its original is known, a --bin it repeats or the
    input named by the maskgen.json augment wrote beside it, the images that are their
    original's bytes, faces maskgen augment could not mask, unmasked, as training's
    validation counts them) and --rec faces as their label says. The table goes to stdout;
    an existing --json or --markdown file is replaced only with --overwrite.

    Example: maskgen eval --model run/last.pt --bin lfw.bin --masked-bin lfw_masked/lfw.bin
    --json results.json
    """
    from maskgen.evaluate import Embedder, EvalSet, evaluate_model

    sets = [EvalSet(p, "bin") for p in bins]
    sets += [EvalSet(p, "masked-bin") for p in masked_bins]
    sets += [EvalSet(p, "rec") for p in recs]
    if not sets:
        raise click.UsageError(
            "nothing to evaluate: give at least one --bin, --masked-bin or --rec"
        )
    _refuse_a_set_given_twice(sets)
    inputs = (model_path, *bins, *masked_bins, *recs)
    options.refuse_inputs_as_outputs(json_path, markdown_path, inputs=tuple(map(Path, inputs)))
    options.refuse_existing(json_path, markdown_path, overwrite=overwrite)
    options.refuse_unwritable(json_path, markdown_path)
    embedder = Embedder.from_path(model_path, device=device, batch_size=batch_size)
    if not quiet:
        info = embedder.info
        click.echo(
            f"model {model_path}: {info.network} on {embedder.device}, fed {info.input}", err=True
        )
    from tqdm.contrib.logging import logging_redirect_tqdm

    bars = SetBars(quiet)
    try:
        with logging_redirect_tqdm():  # a warning (a damaged face) above the bars, not in them
            report = evaluate_model(embedder, sets, progress=bars)
    finally:
        bars.close()
    click.echo(report.format_table())
    if json_path is not None:
        report.write_json(json_path)
    if markdown_path is not None:
        report.write_markdown(markdown_path)
