"""``python -m maskgen.assets --check``: names every shipped file that the code would not draw
byte for byte; nothing at run time loads the drawing code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from maskgen.assets import __main__ as tool
from maskgen.assets import differing_files
from maskgen.masks.templates import default_templates_dir
from maskgen.masks.textures import default_textures_dir


def test_differing_files_names_changed_missing_and_extra(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for name, data in (("same.png", b"\x89PNG 1"), ("changed.json", b"{}"), ("gone.png", b"x")):
        (a / name).write_bytes(data)
    (b / "same.png").write_bytes(b"\x89PNG 1")
    (b / "changed.json").write_bytes(b"{ }")
    (b / "new.png").write_bytes(b"y")
    assert differing_files(a, b) == ["changed.json", "gone.png", "new.png"]
    assert differing_files(a, a) == []


def test_check_reports_a_changed_drawing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The drawing is stood in for by copies of the shipped files (the real drawing is compared
    in test_template_art / test_texture_art), one of them a byte off."""

    def copies(templates: Path, textures: Path, *, seed: int = 0) -> list[Path]:
        shutil.copytree(default_templates_dir(), templates)
        shutil.copytree(default_textures_dir(), textures)
        drawn = textures / "camo_01.png"
        data = bytearray(drawn.read_bytes())
        data[-20] ^= 1
        drawn.write_bytes(bytes(data))
        return []

    monkeypatch.setattr(tool, "draw_assets", copies)
    assert tool.main(["--check"]) == 1
    changed = default_textures_dir() / "camo_01.png"
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"differs from what maskgen.assets draws: {changed}"]


def test_masking_never_loads_the_drawing_code() -> None:
    code = (
        "import json, sys, numpy as np; import maskgen; "
        "maskgen.mask_image(np.zeros((112, 112, 3), np.uint8), seed=0, face_mode='aligned'); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('maskgen.'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded = json.loads(out)
    assert "maskgen.masks.textures" in loaded and "maskgen.masks.render" in loaded
    assert not [m for m in loaded if m.startswith("maskgen.assets")]
