"""The wheel ships the templates and textures, and the installed package finds them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_templates_and_textures(tmp_path):
    pytest.importorskip("hatchling")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
    )
    (wheel,) = tmp_path.glob("maskgen-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {p.name for p in (REPO / "templates").iterdir()}
    textures = {p.name for p in (REPO / "textures").iterdir()}
    assert {f"maskgen/_assets/templates/{n}" for n in templates} <= names
    assert {f"maskgen/_assets/textures/{n}" for n in textures} <= names

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "from maskgen.masks.templates import default_templates_dir, load_templates;"
        "from maskgen.masks.textures import default_textures_dir, load_textures;"
        "print(default_templates_dir(), default_textures_dir(),"
        " len(load_templates()), len(load_textures()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    )
    templates_dir, textures_dir, n_templates, n_textures = out.stdout.split()
    assert Path(templates_dir) == site / "maskgen" / "_assets" / "templates"
    assert Path(textures_dir) == site / "maskgen" / "_assets" / "textures"
    n_templates, n_textures = int(n_templates), int(n_textures)
    assert n_templates == len([n for n in templates if n.endswith(".json")])
    assert n_textures >= 32
