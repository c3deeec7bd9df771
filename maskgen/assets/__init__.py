"""Build tools that draw the assets maskgen ships: the mask templates (``templates/``) and the
fabric textures (``textures/``). Nothing at run time imports this package: ``maskgen.masks``
only loads the files. Regenerate them with ``python -m maskgen.assets``, or check that the
shipped files are what this code draws with ``python -m maskgen.assets --check``.

- ``template_art``: the six templates, drawn on a canonical face (numpy, OpenCV);
- ``texture_art``: the fabric textures, woven or printed from a seed (numpy, OpenCV).
"""

from __future__ import annotations

from pathlib import Path

import maskgen

__all__ = ["differing_files", "draw_assets", "source_tree_dirs"]


def source_tree_dirs() -> tuple[Path, Path]:
    """The source tree's ``templates/`` and ``textures/`` folders (where regeneration writes)."""
    root = Path(maskgen.__file__).resolve().parents[1]
    return root / "templates", root / "textures"


def draw_assets(templates_dir: Path, textures_dir: Path, *, seed: int = 0) -> list[Path]:
    """Draw every template into ``templates_dir`` and every texture (from ``seed``; the shipped
    set is seed 0) into ``textures_dir``; returns the files written."""
    from maskgen.assets.template_art import draw_templates
    from maskgen.assets.texture_art import generate_textures

    return [*draw_templates(templates_dir), *generate_textures(textures_dir, seed=seed)]


def differing_files(expected: Path, actual: Path) -> list[str]:
    """Names of the files that differ between two flat folders: in one only, or with other
    bytes. Empty when ``actual`` is a byte-for-byte copy of ``expected``."""
    names = {p.name for p in expected.iterdir() if p.is_file()}
    names |= {p.name for p in actual.iterdir() if p.is_file()}
    return sorted(
        name
        for name in names
        if not (expected / name).is_file()
        or not (actual / name).is_file()
        or (expected / name).read_bytes() != (actual / name).read_bytes()
    )
