"""``maskgen preview``: a contact sheet of originals next to their masked versions."""

from __future__ import annotations

from pathlib import Path

import click

from maskgen.cli import options
from maskgen.cli.progress import progress_bar


@click.command(short_help="Contact sheet of originals beside their masked versions.")
@options.input_arg
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    callback=options.image_output,
    help="Image file to write; its suffix picks the format (.png, .jpg, .webp, .tif, ...).",
)
@click.option(
    "-n",
    "count",
    type=click.IntRange(1, 400),
    default=24,
    show_default=True,
    help="How many images, spread evenly over the input (all it holds, where fewer); a "
    "damaged one is a blank pair captioned unreadable.",
)
@options.seed
@options.mask_spec_options
@options.face_mode
@options.models_dir
@click.option(
    "--jpeg-quality",
    type=click.IntRange(1, 100),
    default=95,
    show_default=True,
    help="Quality of a .jpg sheet.",
)
@options.overwrite_file
@options.quiet
def preview(
    input_path, output, count, seed, spec, face_mode, models_dir, jpeg_quality, overwrite, quiet
):
    """Mask N items of INPUT exactly as `maskgen augment` would and lay them out on a sheet
    (an existing OUTPUT is replaced only with --overwrite).

    Example: maskgen preview ms1mv2/train.rec -o sheet.png -n 32
    """
    from maskgen.preview import preview_dataset

    options.refuse_inputs_as_outputs(output, inputs=(Path(input_path),))
    options.refuse_existing(output, overwrite=overwrite)
    options.refuse_unwritable(output)
    with progress_bar(quiet=quiet, unit="item", desc="preview") as bar:
        sheet = preview_dataset(
            input_path,
            output,
            n=count,
            seed=seed,
            spec=spec,
            face_mode=face_mode,
            models_dir=models_dir,
            jpeg_quality=jpeg_quality,
            progress=bar.update,
            progress_total=bar.reset,
        )
    if quiet:
        return
    items = "1 item" if sheet.items == 1 else f"{sheet.items} items"
    shown = "" if sheet.items >= count else f" ({items}, all it holds; -n {count})"
    click.echo(f"wrote {click.format_filename(sheet.path)}{shown}", err=True)
