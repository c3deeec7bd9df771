"""``maskgen merge``: join the parts that ``maskgen augment --shard`` runs left."""

from __future__ import annotations

from pathlib import Path

import click

from maskgen.cli import options
from maskgen.cli.progress import progress_bar
from maskgen.pipeline import merge_shards


@click.command(short_help="Join the shards of a sharded augment run.")
@click.argument("output_dir", metavar="OUTDIR", type=options.EXISTING_DIR)
@options.quiet
def merge(output_dir: Path, quiet: bool) -> None:
    """Join the parts every `maskgen augment --shard I/N` run left in OUTDIR into the finished
    twin, manifest.jsonl and maskgen.json, byte-identical to an unsharded run. Refuses, naming
    them, while any shard is not done.

    Example: maskgen merge ms1mv2_masked/
    """
    with progress_bar(quiet=quiet, unit="part", desc="merge") as bar:
        report = merge_shards(output_dir, progress=bar.update, progress_total=bar.reset)
    if not quiet:
        click.echo(report.summary(), err=True)
