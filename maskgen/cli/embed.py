"""``maskgen embed`` and ``maskgen verify``: embeddings and same/different for photos."""

from __future__ import annotations

from pathlib import Path

import click

from maskgen.cli import options

_PHOTO = click.Path(dir_okay=False, path_type=Path)


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
    help="The .npz to write: paths, embeddings (L2-normalised), mask_prob.",
)
@options.batch_size
@options.device
@options.models_dir
@options.overwrite_file
@options.quiet
def embed(
    photos: tuple[Path, ...],
    model_path: Path,
    output_path: Path,
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
    """
    from maskgen.evaluate import Embedder
    from maskgen.evaluate.photos import describe_skip

    options.refuse_inputs_as_outputs(output_path, inputs=(model_path, *photos))
    options.refuse_existing(output_path, overwrite=overwrite)
    embedder = Embedder.from_path(model_path, device=device, batch_size=batch_size)
    result = embedder.embed_faces(photos, models_dir=models_dir)
    for path, reason in result.skipped.items():
        click.echo(f"skipped {click.format_filename(path)}: {describe_skip(reason)}", err=True)
    if not result.paths:
        where = "the photo" if len(photos) == 1 else f"any of the {len(photos)} photos"
        raise click.ClickException(f"no face found in {where}")
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
@options.device
@options.models_dir
def verify(
    photo_a: Path,
    photo_b: Path,
    model_path: Path,
    threshold: float | None,
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
    )
    click.echo(comparison.format())
