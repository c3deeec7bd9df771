"""Drawing the mask templates: the shipped templates/ is exactly what the code draws."""

from __future__ import annotations

from pathlib import Path

from maskgen.assets import differing_files
from maskgen.assets.template_art import draw_templates
from maskgen.masks.templates import default_templates_dir, load_templates


def test_regenerating_templates_is_byte_identical(tmp_path: Path) -> None:
    written = draw_templates(tmp_path)
    shipped = default_templates_dir()
    assert sorted(p.name for p in written) == sorted(p.name for p in shipped.glob("*.*"))
    assert differing_files(shipped, tmp_path) == []
    assert set(load_templates(tmp_path)) == set(load_templates())  # and they load
