"""``maskgen demo``: every mask type on a bundled portrait, no download needed."""

from __future__ import annotations

from pathlib import Path

import click

from maskgen.cli import options


@click.command(short_help="Mask a bundled portrait with every mask type.")
@click.option(
    "-o",
    "--output",
    "output_dir",
    default=Path("demo"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder.",
)
@options.seed
@options.models_dir
@options.overwrite_file
@options.quiet
def demo(
    output_dir: Path, seed: int, models_dir: Path | None, overwrite: bool, quiet: bool
) -> None:
    """Mask scikit-image's public-domain astronaut portrait with every mask type (plain,
    coloured, textured) and write the results and a contact sheet, demo_sheet.png (files of
    an earlier demo there are replaced only with --overwrite).

    Example: maskgen demo -o demo/
    """
    from maskgen.preview import demo_outputs, run_demo

    options.refuse_existing(*demo_outputs(output_dir), overwrite=overwrite)
    written = run_demo(output_dir, seed=seed, models_dir=models_dir)
    if not quiet:
        click.echo(f"wrote {len(written)} images to {output_dir}/ (see demo_sheet.png)", err=True)
