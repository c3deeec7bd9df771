"""A path a command reads that does not exist: `align` and `mask` said so as a usage error
(exit code 2), every other command as a library error (exit code 1), each in its own words.
Now every command refuses it alike, before any work: click's one line naming the option and
the path, exit code 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from maskgen.cli.main import cli

COMMANDS: dict[str, tuple[str, ...]] = {
    # name: the command line, with MISSING where a path that does not exist goes
    "augment": ("augment", "MISSING", "-o", "OUT"),
    "preview": ("preview", "MISSING", "-o", "OUT/sheet.png"),
    "mask": ("mask", "MISSING", "-o", "OUT/x.jpg"),
    "align": ("align", "MISSING", "-o", "OUT/x.rec"),
    "align --pairs": ("align", "PHOTOS", "--pairs", "MISSING", "-o", "OUT/x.bin"),
    "index": ("index", "MISSING"),
    "merge": ("merge", "MISSING"),
    "train --data": ("train", "--data", "MISSING", "-o", "OUT"),
    "train --masked": ("train", "--data", "FILE", "--masked", "MISSING", "-o", "OUT"),
    "train --config": ("train", "--config", "MISSING", "-o", "OUT"),
    "train --init-from": ("train", "--data", "FILE", "--init-from", "MISSING", "-o", "OUT"),
    "train --val": ("train", "--data", "FILE", "--val", "MISSING", "-o", "OUT"),
    "eval --model": ("eval", "--model", "MISSING", "--bin", "FILE"),
    "eval --bin": ("eval", "--model", "FILE", "--bin", "MISSING"),
    "eval --masked-bin": ("eval", "--model", "FILE", "--masked-bin", "MISSING"),
    "eval --rec": ("eval", "--model", "FILE", "--rec", "MISSING"),
    "export": ("export", "--model", "MISSING", "-o", "OUT/m.onnx"),
    "embed --model": ("embed", "--model", "MISSING", "FILE", "-o", "OUT/e.npz"),
    "embed photo": ("embed", "--model", "FILE", "FILE", "MISSING", "-o", "OUT/e.npz"),
    "verify": ("verify", "--model", "FILE", "FILE", "MISSING"),
    "--models-dir": ("mask", "FILE", "-o", "OUT/x.jpg", "--models-dir", "MISSING"),
}


@pytest.mark.parametrize("name", COMMANDS)
def test_a_missing_input_is_a_usage_error_naming_it(name: str, tmp_path: Path) -> None:
    existing = tmp_path / "exists.dat"  # any file: refused only after the missing path
    existing.write_bytes(b"not read")
    photos = tmp_path / "photos"
    photos.mkdir()
    missing = tmp_path / "no-such-thing"
    out = tmp_path / "out"
    words = {"MISSING": missing, "OUT": out, "FILE": existing, "PHOTOS": photos}
    args = [str(words.get(a.split("/")[0], a)) + a[len(a.split("/")[0]) :] for a in COMMANDS[name]]

    result = CliRunner().invoke(cli, args)

    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert lines[-1].startswith("Error: Invalid value for "), result.stderr
    assert f"'{missing}' does not exist." in lines[-1]
    assert not out.exists() and sorted(tmp_path.iterdir()) == [existing, photos]


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("-o", "OUT"), "'--data' (or `data`"),
        (("--data", "FILE"), "'-o' / '--output' (or `output`"),
    ],
)
def test_train_without_its_data_or_run_folder_is_a_usage_error(
    args: tuple[str, str], flag: str, tmp_path: Path
) -> None:
    """`maskgen train -o run` said "Error: --data: no training .rec given" with exit code 1,
    where every other command's missing option is click's usage error (exit code 2)."""
    existing = tmp_path / "exists.rec"
    existing.write_bytes(b"not read")
    words = {"OUT": str(tmp_path / "run"), "FILE": str(existing)}
    result = CliRunner().invoke(cli, ["train", *(words.get(a, a) for a in args)])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: Missing option {flag} in a --config file)."
    )
    assert sorted(tmp_path.iterdir()) == [existing]
