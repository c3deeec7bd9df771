"""The top-level Python API and the cost of importing it."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

import maskgen


def test_import_and_help_stay_light():
    """`import maskgen` and `maskgen --help` load neither dlib nor torch."""
    probe = (
        "import sys, maskgen;"
        "from click.testing import CliRunner;"
        "from maskgen.cli.main import cli;"
        "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0, r.output;"
        "print(sorted({'dlib', 'torch', 'onnxruntime'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.shared
def test_mask_image_from_python(lfw_dir):
    bgr = cv2.imread(str(lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg"))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    first = maskgen.mask_image(rgb, seed=7, mask_type="kn95")
    again = maskgen.mask_image(rgb, rng=np.random.default_rng(7), mask_type="kn95")
    assert first.masked and first.applied[0].params.mask_type == "kn95"
    np.testing.assert_array_equal(first.image, again.image)
    assert not np.array_equal(first.image, rgb)
    np.testing.assert_array_equal(rgb, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))  # input untouched


def test_dir_lists_the_public_api_without_importing_it():
    """``dir(maskgen)`` (what tab completion reads) listed none of the lazy exports."""
    probe = (
        "import sys, maskgen; names = dir(maskgen);"
        "assert set(maskgen.__all__) <= set(names), names;"
        "print(sorted({'dlib', 'torch', 'maskgen.masks'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_attribute():
    with pytest.raises(AttributeError):
        maskgen.no_such_thing  # noqa: B018


def test_subpackages_named_in_the_readme_work_after_a_bare_import():
    """README: "`maskgen.pipeline.augment_dataset(...)`, `maskgen.formats.open_reader(path)`,
    `maskgen.train.train(config)` and `maskgen.evaluate` expose the rest". After a bare
    ``import maskgen`` the subpackages were AttributeErrors ("module 'maskgen' has no
    attribute 'train'") unless something else had imported them."""
    probe = (
        "import sys, maskgen;"
        "names = [maskgen.pipeline.augment_dataset.__name__, maskgen.formats.open_reader.__name__,"
        " maskgen.train.TrainConfig.__name__, maskgen.evaluate.__name__, maskgen.nn.__name__];"
        "print(names, 'maskgen.masks' in dir(maskgen), 'train' in dir(maskgen))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    expected = "['augment_dataset', 'open_reader', 'TrainConfig', 'maskgen.evaluate', 'maskgen.nn']"
    assert out.stdout.strip() == f"{expected} False True"


@pytest.mark.shared
def test_a_spec_that_is_no_mask_spec_is_a_config_error(lfw_dir, rec_dir, tmp_path):
    """`mask_image(rgb, spec={"mask_types": ["n95"]})`, `Masker({...})` and
    `augment_dataset(..., spec={...})` (a dict of the fields: the natural guess) failed with
    "unhashable type: 'dict'" or "'dict' object has no attribute 'templates_dir'"; each is
    now a ConfigError naming the type wanted, before any output is made."""
    from maskgen.errors import ConfigError

    rgb = cv2.cvtColor(cv2.imread(str(lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg")), cv2.COLOR_BGR2RGB)
    wanted = r"spec must be a MaskSpec, e\.g\. MaskSpec\(mask_types=\('surgical', 'n95'\)\), got a "
    fields = {"mask_types": ["n95"]}
    with pytest.raises(ConfigError, match=wanted + "dict"):
        maskgen.mask_image(rgb, spec=fields)
    with pytest.raises(ConfigError, match=wanted + "tuple"):
        maskgen.Masker(("n95",))
    out = tmp_path / "twin"
    with pytest.raises(ConfigError, match=wanted + "dict"):
        maskgen.augment_dataset(rec_dir / "lfw-mini" / "train.rec", out, spec=fields)
    assert not out.exists()
    spec = maskgen.MaskSpec(mask_types=("n95",))
    assert maskgen.mask_image(rgb, spec=spec).applied[0].params.mask_type == "n95"


def test_the_python_entry_points_check_their_arguments_alike() -> None:
    """A new user found MaskAugment's clear errors and case-blind face modes missing from
    mask_image and Masker: a negative seed was numpy's bare "expected non-negative integer",
    an int rng an AttributeError, and "Auto" refused."""
    from maskgen.errors import ConfigError
    from maskgen.masks import Masker

    rgb = np.zeros((112, 112, 3), np.uint8)
    with pytest.raises(ConfigError, match=r"seed must be in \[0, 2\*\*32\), got -3"):
        maskgen.mask_image(rgb, seed=-3)
    with pytest.raises(TypeError, match="rng must be a numpy Generator"):
        Masker(face_mode="aligned").mask_image(rgb, rng=5)
    with pytest.raises(ValueError, match="2 images but 1 generators"):  # was zip()'s words
        Masker(face_mode="aligned").mask_images([rgb, rgb], [np.random.default_rng(0)])
    assert Masker(face_mode="Aligned").face_mode == "aligned"
    assert maskgen.mask_image(rgb, face_mode="Auto").masked is False  # a blank image: no face
    with pytest.raises(ConfigError, match="face_mode must be one of auto, detect, aligned"):
        maskgen.mask_image(rgb, face_mode="crops")
