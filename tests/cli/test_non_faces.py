"""Images that hold no face (a 1x1 PNG, a tiny flat colour, a colour ramp): `mask` writes them
unchanged with the reason, `verify` refuses them in one line, `embed` skips them by name."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner, Result

from maskgen.cli.main import cli


def _run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def non_faces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """px1.png (1x1), flat16.png (16x16 flat colour), ramp160.png (160x160 colour ramp)."""
    folder = tmp_path_factory.mktemp("non-faces")
    ramp = np.linspace(0, 255, 160).astype(np.uint8)[None, :].repeat(160, axis=0)
    images = {
        "px1.png": np.full((1, 1, 3), 255, np.uint8),
        "flat16.png": np.full((16, 16, 3), (30, 160, 220), np.uint8),
        "ramp160.png": np.dstack([ramp, 255 - ramp, ramp // 2]),
    }
    paths = {}
    for name, image in images.items():
        paths[name] = folder / name
        assert cv2.imwrite(str(paths[name]), image)
    return paths


@pytest.mark.parametrize(
    ("name", "reason"),
    [("px1.png", "too_small"), ("flat16.png", "too_small"), ("ramp160.png", "no_face")],
)
@pytest.mark.parametrize("mode", ["auto", "aligned"])
def test_mask_writes_a_non_face_unchanged(non_faces, tmp_path, name, reason, mode):
    out = tmp_path / f"out-{name}"
    result = _run("mask", non_faces[name], "-o", out, "--face-mode", mode)
    assert result.exit_code == 0, result.output
    assert f"not masked ({reason}), written unchanged" in result.stderr
    assert not re.search(r"faces? masked", result.stderr)
    assert out.read_bytes() == non_faces[name].read_bytes()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    from tests.evaluate.conftest import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("run") / "last.pt")


@pytest.mark.torch
@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("px1.png", "too small to hold a face (a side under 32 px)"),
        ("flat16.png", "too small to hold a face (a side under 32 px)"),
        ("ramp160.png", "no face found"),
    ],
)
def test_verify_refuses_a_non_face_in_one_line(checkpoint, non_faces, lfw_dir, name, words):
    photo = lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg"
    result = _run("verify", photo, non_faces[name], "--model", checkpoint)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [f"Error: {non_faces[name]}: {words}, nothing to compare"], result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.torch
@pytest.mark.shared
def test_embed_skips_non_faces_by_name_with_the_reason(checkpoint, non_faces, lfw_dir, tmp_path):
    photo = lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg"
    inputs = [non_faces["px1.png"], photo, non_faces["ramp160.png"], non_faces["flat16.png"]]
    npz = tmp_path / "emb.npz"
    result = _run("embed", *inputs, "--model", checkpoint, "-o", npz)
    assert result.exit_code == 0, result.output
    assert f"skipped {non_faces['px1.png']}: too small to hold a face" in result.stderr
    assert f"skipped {non_faces['flat16.png']}: too small to hold a face" in result.stderr
    assert f"skipped {non_faces['ramp160.png']}: no face found" in result.stderr
    assert result.stderr.endswith(f"wrote {npz}: 1 face\n")  # it said "1 faces"
    with np.load(npz) as data:
        assert data["paths"].tolist() == [str(photo)]

    only_non_faces = [non_faces[name] for name in ("px1.png", "ramp160.png")]
    result = _run("embed", *only_non_faces, "--model", checkpoint, "-o", tmp_path / "none.npz")
    assert result.exit_code == 1
    assert result.stderr.endswith(
        "Error: none of the 2 photos gave a face (each skipped above), nothing to write\n"
    )  # it said "no face found in any of the 2 photos" of one too small to hold a face
    assert not (tmp_path / "none.npz").exists()
    result = _run(
        "embed", non_faces["ramp160.png"], "--model", checkpoint, "-o", tmp_path / "1.npz"
    )
    assert result.exit_code == 1
    assert result.stderr == (  # "any of the 1 photos"; then "no face found in the photo"
        f"Error: {non_faces['ramp160.png']}: no face found, nothing to write\n"
    )
