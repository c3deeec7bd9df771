"""``maskgen embed`` and ``maskgen verify``: embeddings and same/different for photos."""

from __future__ import annotations

from pathlib import Path

import click

from maskgen.cli import options
from maskgen.cli.progress import progress_bar

_PHOTO = options.EXISTING_FILE

_aligned = click.option(
    "--aligned",
    is_flag=True,
    help="The photos are ArcFace-aligned 112x112 crops (a .rec's or .bin's faces): embedded "
    "as they are, without detection, which misses many masked faces; other sizes are skipped.",
)


def _check_npz_name(output_path: Path) -> None:
    """A name not ending in .npz is a usage error (exit code 2, naming the option), as
    `export -o m.pt` is: `embed -o emb.txt` wrote an .npz archive under that name."""
    if output_path.suffix.lower() != ".npz":
        raise click.BadParameter(
            f"{click.format_filename(output_path)}: the embeddings' file name must end in .npz",
            param_hint="'-o' / '--output'",
        )


@click.command(short_help="Embed the face in each photo (detect, align, embed) into an .npz.")
@click.argument("photos", nargs=-1, required=True, type=_PHOTO)
@options.model
@click.option(
    "-o",
    "--output",
    "output_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("embeddings.npz"),
    show_default=True,
    help="The .npz to write (named .npz): paths, embeddings (L2-normalised), mask_prob (a "
    "model with a mask head), wear_prob (one with a wear head).",
)
@_aligned
@options.batch_size
@options.device
@options.models_dir
@options.overwrite_file
@options.quiet
def embed(
    photos: tuple[Path, ...],
    model_path: Path,
    output_path: Path,
    aligned: bool,
    batch_size: int,
    device: str,
    models_dir: Path | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Find the main face in each photo (the largest, weighted toward the centre, as
    insightface picks it), align it to the ArcFace template and embed it (face plus mirror
    image, L2-normalised). A small square image without a detection is
    taken for an already aligned crop where the detector sees a face on its aligned face box.
    Photos without a face (or under 32 px) are reported and skipped; the exit status is
    non-zero only if no photo gave a face. An existing OUTPUT is replaced only with
    --overwrite.

    Example: maskgen embed photos/*.jpg --model model.onnx -o embeddings.npz

    Aligned crops of masked faces: maskgen embed crops/*.jpg --aligned --model model.onnx
    """
    from maskgen.evaluate import Embedder
    from maskgen.evaluate.photos import describe_skip

    options.refuse_inputs_as_outputs(output_path, inputs=(model_path, *photos))
    _check_npz_name(output_path)
    options.refuse_existing(output_path, overwrite=overwrite)
    options.refuse_unwritable(output_path)
    embedder = Embedder.from_path(model_path, device=device, batch_size=batch_size)
    # on a terminal, unless -q: detection takes about a second a large photo on a CPU;
    # warnings logged meanwhile are written above the bar, not into its line
    with progress_bar(
        quiet=quiet, total=len(photos), unit="photo", desc="embed", leave=False
    ) as bar:
        result = embedder.embed_faces(
            photos, models_dir=models_dir, aligned=aligned, progress=bar.update
        )
    if not result.paths and len(photos) == 1:  # the reason itself, as verify gives it
        (reason,) = result.skipped.values()
        name = click.format_filename(photos[0])
        words = describe_skip(reason, photos[0], aligned_words="--aligned")
        raise click.ClickException(f"{name}: {words}, nothing to write")
    for path, reason in result.skipped.items():
        words = describe_skip(reason, path, aligned_words="--aligned")
        click.echo(f"skipped {click.format_filename(path)}: {words}", err=True)
    if not result.paths:  # "no face found" was said of unreadable and too small photos too
        raise click.ClickException(
            f"none of the {len(photos)} photos gave a face (each skipped above), nothing to write"
        )
    result.write_npz(output_path)
    if not quiet:
        click.echo(
            f"wrote {click.format_filename(output_path)}: {len(result.paths)} "
            f"face{'' if len(result.paths) == 1 else 's'}",
            err=True,
        )


@click.command(short_help="Say whether two photos show the same person.")
@click.argument("photo_a", type=_PHOTO)
@click.argument("photo_b", type=_PHOTO)
@options.model
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 4.0),
    default=None,
    help="Squared-L2 threshold to use instead of the one stored with the model (needed where "
    "the model has none).",
)
@_aligned
@options.device
@options.models_dir
def verify(
    photo_a: Path,
    photo_b: Path,
    model_path: Path,
    threshold: float | None,
    aligned: bool,
    device: str,
    models_dir: Path | None,
) -> None:
    """Print the cosine similarity of the faces in two photos, whether they are the same
    person at the model's verification threshold (squared L2 t, i.e. cosine 1 - t/2), and
    each face's mask probability. A model without a stored threshold (trained without --val,
    or another ONNX model) needs --threshold; `maskgen eval --json` reports one per .bin set.

    Example: maskgen verify a.jpg b.jpg --model run/last.pt
    """
    from maskgen.evaluate import Embedder
    from maskgen.evaluate.photos import compare_photos, verification_threshold

    embedder = Embedder.from_path(model_path, device=device)
    comparison = compare_photos(
        embedder,
        photo_a,
        photo_b,
        threshold=verification_threshold(embedder, threshold),
        models_dir=models_dir,
        aligned=aligned,
    )
    click.echo(comparison.format())
