"""No command replaces a file that exists without ``--overwrite``: one ``Error:`` line, exit
code 1, the file left byte for byte, refused before any work (so before the inputs, which here
are stand-ins, are read). Each command's own tests check that ``--overwrite`` replaces it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner, Result

from maskgen.cli.main import cli

KEPT = b"the user's own file\n"


def _run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def _image(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    assert cv2.imwrite(str(path), np.full((64, 64, 3), 128, np.uint8))
    return path


def _folder(tmp_path: Path) -> Path:
    path = tmp_path / "photos"
    path.mkdir()
    return path


# command -> (the file it would write, its arguments)
Case = Callable[[Path], tuple[Path, list[object]]]
CASES: dict[str, Case] = {
    "mask": lambda t: (t / "out.jpg", ["mask", _image(t), "-o", t / "out.jpg"]),
    "preview": lambda t: (t / "sheet.png", ["preview", _folder(t), "-o", t / "sheet.png"]),
    "align": lambda t: (t / "a.rec", ["align", _folder(t), "-o", t / "a.rec"]),
    "index default": lambda t: (t / "a.idx", ["index", t / "a.rec"]),
    "index -o": lambda t: (t / "b.idx", ["index", t / "a.rec", "-o", t / "b.idx"]),
    "embed": lambda t: (
        t / "e.npz",
        ["embed", _image(t), "--model", t / "m.pt", "-o", t / "e.npz"],
    ),
    "export": lambda t: (t / "m.onnx", ["export", "--model", t / "last.pt", "-o", t / "m.onnx"]),
    "eval --json": lambda t: (
        t / "r.json",
        ["eval", "--model", t / "m.pt", "--bin", t / "x.bin", "--json", t / "r.json"],
    ),
    "eval --markdown": lambda t: (
        t / "r.md",
        ["eval", "--model", t / "m.pt", "--bin", t / "x.bin", "--markdown", t / "r.md", "-q"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_existing_output_is_refused_and_kept(case: str, tmp_path: Path) -> None:
    for name in ("a.rec", "m.pt", "last.pt", "x.bin"):  # inputs that must exist, never read
        (tmp_path / name).write_bytes(b"not read")
    target, args = CASES[case](tmp_path)
    target.write_bytes(KEPT)
    result = _run(*args)
    assert result.exit_code == 1, result.output
    assert result.stderr == f"Error: {target} exists; pass --overwrite to replace it\n"
    assert target.read_bytes() == KEPT
    assert "--overwrite" in _run(args[0], "--help").stdout


def test_embed_default_output_in_the_working_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``embed`` without ``-o`` writes ./embeddings.npz: a second run must not replace the
    first one's."""
    monkeypatch.chdir(tmp_path)
    Path("embeddings.npz").write_bytes(KEPT)
    Path("m.pt").write_bytes(b"not read")
    result = _run("embed", _image(tmp_path), "--model", "m.pt")
    assert result.exit_code == 1
    assert result.stderr == "Error: embeddings.npz exists; pass --overwrite to replace it\n"
    assert Path("embeddings.npz").read_bytes() == KEPT


def test_a_dangling_link_counts_as_existing(tmp_path: Path) -> None:
    """A symbolic link is the user's too (writing the output replaces the link), even one
    whose target is gone."""
    link = tmp_path / "out.jpg"
    link.symlink_to(tmp_path / "gone.jpg")
    result = _run("mask", _image(tmp_path), "-o", link)
    assert result.exit_code == 1 and "exists; pass --overwrite" in result.stderr
    assert link.is_symlink() and not (tmp_path / "gone.jpg").exists()


@pytest.mark.parametrize("overwrite", [(), ("--overwrite",)])
def test_an_output_naming_an_input_is_refused_even_with_overwrite(
    overwrite: tuple[str, ...], tmp_path: Path
) -> None:
    """``embed a.jpg b.jpg -o b.jpg --overwrite`` replaced the photo with the .npz, and
    ``eval --bin x.bin --json x.bin --overwrite`` the set with the JSON (or the model, the
    same way); ``--json`` and ``--markdown`` naming one file kept only the Markdown."""
    photo = _image(tmp_path)
    model, data = tmp_path / "m.pt", tmp_path / "x.bin"
    model.write_bytes(KEPT)
    data.write_bytes(KEPT)
    cases = [
        (photo, ["embed", photo, "--model", model, "-o", photo]),
        (model, ["embed", photo, "--model", model, "-o", model]),
        (data, ["eval", "--model", model, "--bin", data, "--json", data]),
        (model, ["eval", "--model", model, "--bin", data, "--markdown", model]),
    ]
    for target, args in cases:
        before = target.read_bytes()
        result = _run(*args, *overwrite)
        assert result.exit_code == 1, (args, result.output)
        assert (
            result.stderr
            == f"Error: {target}: the output would overwrite an input; choose another\n"
        )
        assert target.read_bytes() == before
    folder = tmp_path / "photos"
    folder.mkdir()
    inside = folder / "a.png"
    inside.write_bytes(photo.read_bytes())
    result = _run("preview", folder, "-o", inside, *overwrite)  # the sheet over a photo
    assert result.exit_code == 1
    assert "would overwrite a file of the input folder" in result.stderr
    assert inside.read_bytes() == photo.read_bytes()
    both = tmp_path / "r.out"
    result = _run("eval", "--model", model, "--bin", data, "--json", both, "--markdown", both)
    assert result.exit_code == 1 and "named for two outputs" in result.stderr
    assert not both.exists()
