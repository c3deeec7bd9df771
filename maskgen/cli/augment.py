"""``maskgen augment``: write the masked twin of a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from maskgen.cli import options
from maskgen.cli.main import RESUME_HINT
from maskgen.pipeline import augment_dataset
from maskgen.pipeline.plan import Shard

if TYPE_CHECKING:
    from maskgen.masks import MaskSpec


@click.command(short_help="Write the masked twin of a face dataset.")
@options.input_arg
@options.output_dir
@options.mask_spec_options
@options.face_mode
@options.models_dir
@options.seed
@options.workers
@options.chunk_size
@options.jpeg_quality
@options.resume
@options.overwrite
@options.shard
@options.scheduler
@options.quiet
def augment(
    input_path: Path,
    output_dir: Path,
    spec: MaskSpec,
    face_mode: str | None,
    models_dir: Path | None,
    seed: int,
    workers: int | None,
    chunk_size: int | None,
    jpeg_quality: int,
    resume: bool,
    overwrite: bool,
    shard: Shard | None,
    scheduler: str | None,
    quiet: bool,
) -> None:
    """Put a random mask on every face of INPUT (a .rec, a .bin or a folder of images) and
    write its twin into OUTDIR: same file name (or folder tree), same keys and order, plus
    manifest.jsonl (what each image got) and maskgen.json (how it was made). In a folder
    every file is kept: images masked in their own format, other files copied. RecordIO labels
    become [identity, 1.0 if masked else 0.0]; with --wear, [identity, masked, wear class]
    (0 no mask, 1 correct, 2 nose_uncovered, 3 mouth_uncovered, 4 chin_uncovered). The output
    is byte-identical whatever the number of workers, chunks, shards or resumes. An INPUT
    with no image in it is refused before anything is written.

    Example: maskgen augment ms1mv2/train.rec -o ms1mv2_masked/ --workers 32
    """
    if scheduler is not None and workers is not None:
        click.echo(
            "Warning: --workers is not used with --scheduler: the cluster runs as many chunks "
            "at once as it has worker threads.",
            err=True,
        )
    click.get_current_context().meta[RESUME_HINT] = (
        "Run the same command again with --resume to keep the finished chunks and do only the rest."
    )
    report = augment_dataset(
        input_path,
        output_dir,
        spec=spec,
        face_mode=face_mode,
        seed=seed,
        workers=workers,
        chunk_size=chunk_size,
        resume=resume,
        overwrite=overwrite,
        shard=shard,
        scheduler=scheduler,
        jpeg_quality=jpeg_quality,
        models_dir=models_dir,
        progress=not quiet,
    )
    if not quiet:
        click.echo(report.summary(), err=True)
