"""``maskgen mask``: one photo, every face in it."""

from __future__ import annotations

from pathlib import Path

import click

from maskgen.cli import options


@click.command(short_help="Mask every face in one photo.")
@click.argument("image", type=options.EXISTING_FILE)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    callback=options.image_output,
    help="Output image; its suffix picks the format (.jpg, .png, .tif, .gif, .bmp, .webp, ...).",
)
@click.option(
    "--mask-type",
    default=None,
    help="One mask type, in any case (default: a random one; `maskgen types` lists them).",
)
@options.seed
@options.face_mode_photo
@options.models_dir
@options.jpeg_quality
@options.color_prob
@options.texture_prob
@options.wear_image
@options.face_checks_image
@options.creases
@options.overwrite_file
@options.quiet
def mask(
    image,
    output,
    mask_type,
    seed,
    face_mode,
    models_dir,
    jpeg_quality,
    color_prob,
    texture_prob,
    wear,
    face_checks,
    creases,
    overwrite,
    quiet,
):
    """Put a random mask on every face in IMAGE and write OUTPUT (an existing OUTPUT only
    with --overwrite). The draw depends on --seed and IMAGE's file name (the item's key), so
    a copy under another name gets another mask; `maskgen augment` gives a file at the top
    of a folder the same one.

    Example: maskgen mask photo.jpg -o photo_masked.jpg --mask-type n95 --seed 3
    """
    from maskgen.masks import Masker
    from maskgen.photo import mask_file

    spec = options.build_mask_spec(
        mask_types=(mask_type,) if mask_type else None,
        color_prob=color_prob,
        texture_prob=texture_prob,
        wear=wear,
        mask_types_option="--mask-type",
        face_checks=face_checks,
        creases=creases,
    )
    options.refuse_existing(output, overwrite=overwrite, inputs=(image,))
    masker = Masker(spec, face_mode=face_mode or "auto", models_dir=models_dir)
    result = mask_file(image, output, masker=masker, seed=seed, jpeg_quality=jpeg_quality)
    if not quiet:
        shown = click.format_filename(output)  # a non-UTF-8 name shows U+FFFD, not an escape
        if result.masked:
            what = result.texture or result.color or "plain"
            worn = "" if result.wear == "correct" else f", {result.wear}"
            main = "the main face: " if result.faces > 1 else ""  # each face draws its own
            click.echo(
                f"{shown}: {_faces(result.faces)} masked ({main}{result.mask_type}, {what}{worn})",
                err=True,
            )
        elif result.format_change:  # the line below says how: not "unchanged"
            click.echo(f"{shown}: not masked ({result.reason})", err=True)
        else:
            click.echo(f"{shown}: not masked ({result.reason}), written unchanged", err=True)
        if result.masked and result.faces_not_masked:
            left = ", ".join(face["reason"] for face in result.faces_not_masked)
            click.echo(
                f"{shown}: {_faces(len(result.faces_not_masked))} left unmasked ({left})", err=True
            )
        if result.format_change:
            click.echo(f"{shown}: written as {result.format_change}", err=True)


def _faces(n: int) -> str:
    """``"1 face"``, ``"2 faces"`` (the line said "1 face(s) masked")."""
    return "1 face" if n == 1 else f"{n} faces"
