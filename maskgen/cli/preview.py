"""``maskgen preview``: a contact sheet of originals next to their masked versions."""

from __future__ import annotations

from pathlib import Path

import click

from maskgen.cli import options


@click.command(short_help="Contact sheet of originals beside their masked versions.")
@options.input_arg
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="PNG file to write.",
)
@click.option(
    "-n",
    "count",
    type=click.IntRange(1, 400),
    default=24,
    show_default=True,
    help="How many items, spread evenly over the input.",
)
@options.seed
@options.mask_spec_options
@options.face_mode
@options.models_dir
def preview(input_path, output, count, seed, spec, face_mode, models_dir):
    """Mask N items of INPUT exactly as `maskgen augment` would and lay them out on a sheet.

    Example: maskgen preview ms1mv2/train.rec -o sheet.png -n 32
    """
    from maskgen.preview import preview_dataset

    path = preview_dataset(
        input_path,
        output,
        n=count,
        seed=seed,
        spec=spec,
        face_mode=face_mode,
        models_dir=models_dir,
    )
    click.echo(f"wrote {path}", err=True)
