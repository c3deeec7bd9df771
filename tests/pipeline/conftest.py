"""Fixtures for the pipeline tests: real inputs from ../shared and reference runs shared by
several tests (each reference run is made once per session)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.pipeline import RunReport, augment_dataset


@pytest.fixture(scope="session")
def spec():
    from maskgen.masks import MaskSpec

    return MaskSpec()


@pytest.fixture(scope="session")
def lfw_mini(rec_dir: Path) -> Path:
    """294 aligned LFW images in insightface layout (header + identity records)."""
    return rec_dir / "lfw-mini" / "train.rec"


def augment(input_path: Path, out_dir: Path, spec, **options) -> RunReport:
    return augment_dataset(input_path, out_dir, spec=spec, progress=False, **options)


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones included) by relative path."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def spread_photos(lfw_dir: Path, n: int) -> list[Path]:
    """The first photo of ``n`` people spread over the alphabet."""
    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())
    return [sorted(p.glob("*.jpg"))[0] for p in people[:: len(people) // n][:n]]


@pytest.fixture(scope="session")
def run_augment():
    """``run_augment(input, out, spec, **options)``: augment_dataset without a progress bar."""
    return augment


@pytest.fixture(scope="session")
def read_tree():
    """``read_tree(root)``: every file under root, hidden ones included, by relative path."""
    return tree_bytes


@pytest.fixture(scope="session")
def mini_reference(tmp_path_factory: pytest.TempPathFactory, lfw_mini: Path, spec) -> Path:
    """lfw-mini masked with one worker and the default chunks: the reference twin."""
    out = tmp_path_factory.mktemp("mini-reference")
    augment(lfw_mini, out, spec, workers=1)
    return out


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory: pytest.TempPathFactory, lfw_dir: Path) -> Path:
    """A small tree of real LFW photos plus two that cannot be masked: ``odd/no_face.jpg``
    (a real photo's left and right margins side by side: background, no face) and
    ``odd/not_an_image.jpg`` (text)."""
    root = tmp_path_factory.mktemp("photos") / "in"
    for photo in spread_photos(lfw_dir, 10):
        target = root / photo.parent.name / photo.name
        target.parent.mkdir(parents=True)
        shutil.copyfile(photo, target)
    (root / "odd").mkdir()
    photo = cv2.imread(str(spread_photos(lfw_dir, 1)[0]))
    margins = np.concatenate([photo[:, :60], photo[:, -60:]], axis=1)
    assert cv2.imwrite(str(root / "odd" / "no_face.jpg"), margins)
    (root / "odd" / "not_an_image.jpg").write_text("this is not a JPEG\n")
    return root


@pytest.fixture(scope="session")
def photo_reference(tmp_path_factory: pytest.TempPathFactory, photo_folder: Path, spec) -> Path:
    out = tmp_path_factory.mktemp("photos-reference")
    augment(photo_folder, out, spec, workers=1)
    return out
