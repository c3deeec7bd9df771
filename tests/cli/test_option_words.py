"""Library errors name the Python parameters a caller passed (``overwrite=True``); the CLI
puts its own options in their place (``--overwrite``), so each reads in its caller's terms."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from maskgen.cli.main import cli
from maskgen.errors import ConfigError, OutputError
from maskgen.pipeline import augment_dataset

pytestmark = pytest.mark.shared


@pytest.fixture
def one_photo(tmp_path: Path, lfw_dir: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copyfile(lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg", folder / "gore.jpg")
    return folder


def _cli(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_contradicting_flags(one_photo: Path, tmp_path: Path) -> None:
    """augment_dataset(resume=True, overwrite=True) was told "--resume and --overwrite"."""
    with pytest.raises(ConfigError) as info:
        augment_dataset(one_photo, tmp_path / "out", resume=True, overwrite=True)
    assert str(info.value) == "resume=True and overwrite=True contradict each other; pick one"
    result = _cli("augment", one_photo, "-o", tmp_path / "out", "--resume", "--overwrite")
    assert result.exit_code == 1
    assert result.stderr == "Error: --resume and --overwrite contradict each other; pick one\n"


def _not_empty_error(out: Path) -> str:
    """What the CLI prints for an output folder ``out`` holding notes.txt: its own words."""
    return (
        f"Error: {out} is not empty (notes.txt); a folder's twin is written into an empty "
        "folder: use another --output, or --overwrite to write into it (files of the input's "
        "names are replaced, other files kept)\n"
    )


def test_an_output_folder_holding_other_files(one_photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    with pytest.raises(OutputError) as info:
        augment_dataset(one_photo, out, progress=False)
    message = str(info.value)
    assert "use another output_dir, or overwrite=True to write into it" in message
    assert "--" not in message
    result = _cli("augment", one_photo, "-o", out, "-q")
    assert result.exit_code == 1
    assert result.stderr == _not_empty_error(out)


def test_an_output_folder_whose_path_holds_the_words(one_photo: Path, tmp_path: Path) -> None:
    """The CLI's words replace the library's, not the same words in the user's own path."""
    out = tmp_path / "overwrite=True" / "another output_dir"
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("mine\n")
    result = _cli("augment", one_photo, "-o", out, "-q")
    assert result.exit_code == 1
    assert result.stderr == _not_empty_error(out)


def test_overwrite_with_a_shard(one_photo: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^overwrite=True with shard given would delete"):
        augment_dataset(one_photo, tmp_path / "out", overwrite=True, shard=(0, 2))
    result = _cli("augment", one_photo, "-o", tmp_path / "out", "--overwrite", "--shard", "0/2")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: --overwrite with --shard given would delete the other shards' parts; remove "
        "the output folder by hand, or use --resume\n"
    )


def test_an_output_inside_the_input(one_photo: Path) -> None:
    with pytest.raises(OutputError, match=r"overlap; choose an output_dir outside it$"):
        augment_dataset(one_photo, one_photo / "sub")
    result = _cli("augment", one_photo, "-o", one_photo / "sub")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {one_photo / 'sub'}: output and input folder {one_photo} overlap; choose an "
        "--output outside it\n"
    )


def test_a_models_dir_without_the_model(tmp_path: Path, lfw_dir: Path) -> None:
    """Masker(models_dir=...) and MaskAugment(models_dir=...) callers were told "(from
    --models-dir)", an option they never passed. The CLI's words replace the library's, not
    a folder of that name."""
    from maskgen.errors import ModelNotFoundError
    from maskgen.faces import find_model_file

    empty = tmp_path / "models_dir"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError) as info:
        find_model_file(models_dir=empty)
    assert str(info.value) == (
        f"model shape_predictor_68_face_landmarks.dat not found in {empty} (from models_dir)"
    )
    photo = lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg"
    result = _cli("mask", photo, "-o", tmp_path / "out.jpg", "--models-dir", empty)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: model shape_predictor_68_face_landmarks.dat not found in {empty} "
        "(from --models-dir)\n"
    )


@pytest.mark.torch
def test_a_training_set_that_is_not_there(tmp_path: Path) -> None:
    """train named a missing --data 'data:' (its config field); the library keeps the
    field's name, and the CLI refuses a missing --data itself, naming the option."""
    from maskgen.errors import TrainingError
    from maskgen.train.data import open_train_data

    missing = tmp_path / "data" / "train.rec"
    with pytest.raises(TrainingError) as info:
        open_train_data(missing)
    assert str(info.value) == f"data: {missing}: no such file"
    # on the command line, click refuses it before the library sees it: a usage error
    for given in (missing, tmp_path / "data:" / "train.rec"):  # "data:" as the field's name
        result = _cli("train", "--data", given, "-o", tmp_path / "run", "--network", "tiny")
        assert result.exit_code == 2
        assert result.stderr.splitlines()[-1] == (
            f"Error: Invalid value for '--data': File '{given}' does not exist."
        )
