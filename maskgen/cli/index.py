"""``maskgen index``: rebuild a RecordIO file's missing ``.idx``."""

from __future__ import annotations

from pathlib import Path

import click

from maskgen.cli import options
from maskgen.cli.progress import progress_bar
from maskgen.formats.recordio import default_index_path, rebuild_index


@click.command(short_help="Rebuild the .idx of a .rec file.")
@click.argument("rec_path", metavar="FILE.rec", type=options.EXISTING_FILE)
@click.option(
    "-o",
    "--output",
    "idx_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the index.  [default: FILE.idx beside FILE.rec]",
)
@options.overwrite_file
@options.quiet
def index(rec_path: Path, idx_path: Path | None, overwrite: bool, quiet: bool) -> None:
    """Scan FILE.rec and write its index (key = record number, as insightface's files have),
    for a .rec whose .idx is missing, or damaged (replace it with --overwrite: an index with
    other keys would be lost). An empty FILE.rec is refused, no index written.

    Example: maskgen index ms1mv2/train.rec
    """
    options.refuse_existing(
        idx_path or default_index_path(rec_path), overwrite=overwrite, inputs=(rec_path,)
    )
    size = rec_path.stat().st_size
    with progress_bar(quiet=quiet, total=size, unit="B", unit_scale=True, desc="index") as bar:
        written = rebuild_index(rec_path, idx_path, progress=bar.update)
    if not quiet:
        click.echo(f"wrote {written}", err=True)
