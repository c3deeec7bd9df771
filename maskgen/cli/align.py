"""``maskgen align``: ArcFace-aligned 112x112 datasets built from photos."""

from __future__ import annotations

from pathlib import Path

import click

from maskgen.cli import options
from maskgen.cli.progress import progress_bar


@click.command(short_help="Build an aligned .rec or .bin from a folder of photos.")
@click.argument("photo_dir", type=options.EXISTING_DIR)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="OUT.rec (one sub-folder per identity) or OUT.bin (with --pairs).",
)
@click.option(
    "--pairs",
    type=options.EXISTING_FILE,
    default=None,
    help="LFW-style pairs file: build a verification .bin.",
)
@click.option(
    "--no-face",
    type=click.Choice(["skip", "centre"]),
    default=None,
    help="A photo with no face found: left out of the .rec (skip, the default) or aligned "
    "as if its face filled the photo's centre (centre; always so for a .bin).",
)
@options.overwrite_file
@options.workers
@options.models_dir
@options.quiet
def align(photo_dir, output, pairs, no_face, workers, models_dir, quiet, overwrite):
    """Detect each photo's face and warp it onto the ArcFace 112x112 template, writing
    insightface's layouts: a RecordIO set (header, images, identity records, property) from
    the photos in PHOTO_DIR/<identity>/ (any image format, told by suffix or bytes), or a
    verification .bin from a pairs file. A photo in which no face is found is left out of a
    .rec (counted as no_face in the summary; `maskgen -v align` names each one), unless
    --no-face centre; in a .bin, whose pairs need every photo, it is aligned as if its face
    filled the photo's centre (the summary's "centre fallback").

    Example: maskgen align lfw/ --pairs pairs.txt -o lfw.bin
    """
    import os

    from maskgen.faces.dataset import align_folder_to_rec, align_pairs_to_bin

    suffix = output.suffix.lower()
    if pairs is not None and suffix != ".bin":
        raise click.BadParameter("with --pairs the output must be a .bin", param_hint="'-o'")
    if pairs is None and suffix != ".rec":
        raise click.BadParameter(
            "the output must be a .rec (or a .bin with --pairs)", param_hint="'-o'"
        )
    if pairs is not None and no_face == "skip":
        raise click.BadParameter(
            "a .bin keeps every photo of its pairs: a photo with no face found is aligned on "
            "the centre fallback (leave the pair out of the pairs file instead)",
            param_hint="'--no-face'",
        )
    options.refuse_existing(output, overwrite=overwrite)
    if pairs is None:
        _refuse_companions(output, overwrite=overwrite)
    workers = workers or os.cpu_count() or 1
    # warnings (a folder not read, a photo left out) are written above the bar, not into its line
    with progress_bar(quiet=quiet, unit="photo", desc="align") as bar:
        if pairs is not None:
            report = align_pairs_to_bin(
                photo_dir,
                pairs,
                output,
                workers=workers,
                models_dir=models_dir,
                progress=bar.update,
                progress_total=bar.reset,  # the photos' count, once known
            )
        else:
            report = align_folder_to_rec(
                photo_dir,
                output,
                workers=workers,
                models_dir=models_dir,
                progress=bar.update,
                no_face=no_face or "skip",
                progress_total=bar.reset,  # the photos' count, once known
            )
    if not quiet:
        click.echo(report.summary(), err=True)


def _refuse_companions(rec: Path, *, overwrite: bool) -> None:
    """A .rec is written with its .idx and its folder's ``property`` (insightface's layout):
    another set's, left there (``other.rec`` in the same folder), was replaced without a word,
    its class count with this set's. Refused like the .rec itself, unless --overwrite."""
    from maskgen.errors import OutputError

    options.refuse_existing(rec.with_suffix(".idx"), overwrite=overwrite)
    prop = rec.parent / "property"
    if not overwrite and (prop.exists() or prop.is_symlink()):
        raise OutputError(
            f"{prop} exists (the class count of another .rec in that folder); write the .rec "
            "to a folder of its own, or pass --overwrite to replace it"
        )
