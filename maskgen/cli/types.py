"""``maskgen types``: the mask types and textures available."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(short_help="List mask types and textures.")
@click.option(
    "--textures",
    "texture_dirs",
    multiple=True,
    metavar="DIR",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Also list the textures in DIR (repeatable).",
)
@click.option(
    "--templates",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="List the templates in DIR instead.",
)
def types(texture_dirs, templates):
    """Print the available mask types, then the textures by family (on stdout).

    Example: maskgen types --textures my_fabrics/
    """
    from maskgen.masks import load_templates, load_textures

    # both loaded before anything is printed: a bad folder is one error line, not a listing
    # cut short by it
    names = sorted(load_templates(templates))
    families: dict[str, list[str]] = {}
    for texture in load_textures(tuple(texture_dirs)).values():
        families.setdefault(texture.family, []).append(texture.name)
    click.echo("mask types:")
    for name in names:
        click.echo(f"  {name}")
    total = sum(len(names) for names in families.values())
    click.echo(f"textures ({total}):")
    for family in sorted(families):
        click.echo(f"  {family}: {', '.join(sorted(families[family]))}")
