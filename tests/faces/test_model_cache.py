"""The user's model cache: what it stores is what a fresh build gives, a bad or unwritable
cache only costs time, and ``aligned`` mode never builds the detector."""

from __future__ import annotations

from pathlib import Path

import cv2
import dlib
import numpy as np
import pytest

from maskgen.faces import load_face_finder, model_cache
from maskgen.faces.landmarks import FaceFinder, find_model_file
from maskgen.faces.shape_predictor import load_shape_predictor, read_shape_predictor
from tests.conftest import lfw_sample_paths

pytestmark = pytest.mark.shared

FIELDS = ("initial_shape", "splits", "thresholds", "leaf_values", "anchor_idx", "deltas")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder of the test's own, and no predictor loaded in this process."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(model_cache.CACHE_DIR_ENV, str(folder))
    load_shape_predictor.cache_clear()
    yield folder
    load_shape_predictor.cache_clear()


@pytest.fixture(scope="module")
def parsed():
    return read_shape_predictor(find_model_file())


@pytest.fixture(scope="module")
def photos(lfw_dir: Path) -> list[np.ndarray]:
    """12 LFW photos, (250, 250, 3) uint8 RGB."""
    return [cv2.imread(str(path))[:, :, ::-1].copy() for path in lfw_sample_paths(lfw_dir, 12)]


def _same_model(a, b) -> bool:
    return all(getattr(a, f).tobytes() == getattr(b, f).tobytes() for f in FIELDS)


def test_the_parsed_model_is_stored_and_read_back_memory_mapped(cache, parsed, photos):
    path = str(find_model_file())
    first = load_shape_predictor(path)  # parsed, then stored
    (entry,) = cache.iterdir()
    assert sorted(p.stem for p in entry.iterdir()) == sorted(FIELDS)
    load_shape_predictor.cache_clear()
    second = load_shape_predictor(path)  # from the cache
    assert isinstance(second.leaf_values.base, np.memmap)  # mapped, not read into memory
    assert _same_model(first, parsed) and _same_model(second, parsed)
    boxes = [(60, 70, 190, 200)] * len(photos)
    assert np.array_equal(second.fit(photos, boxes), parsed.fit(photos, boxes))


def test_a_damaged_entry_is_ignored_and_the_model_parsed(cache, parsed):
    path = str(find_model_file())
    load_shape_predictor(path)
    (entry,) = cache.iterdir()
    splits = np.load(entry / "splits.npy")
    splits[0, 0, 0, 0] = 10_000  # an index past the feature pool: unsafe to walk
    np.save(entry / "splits.npy", splits)
    load_shape_predictor.cache_clear()
    assert _same_model(load_shape_predictor(path), parsed)
    load_shape_predictor.cache_clear()  # the next run reads the entry stored in its place
    again = load_shape_predictor(path)
    assert isinstance(again.splits.base, np.memmap) and _same_model(again, parsed)
    (entry / "leaf_values.npy").write_bytes(b"\x93NUMPY truncated")
    load_shape_predictor.cache_clear()
    assert _same_model(load_shape_predictor(path), parsed)


def test_an_unwritable_or_switched_off_cache_still_loads(tmp_path, monkeypatch, parsed):
    path = str(find_model_file())
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for setting in (str(blocker / "cache"), ""):
        monkeypatch.setenv(model_cache.CACHE_DIR_ENV, setting)
        load_shape_predictor.cache_clear()
        assert _same_model(load_shape_predictor(path), parsed)
        assert model_cache.load_frontal_face_detector().num_detectors == 5
    assert blocker.read_text() == "not a folder"
    load_shape_predictor.cache_clear()


def test_a_new_model_file_gets_a_new_entry(cache, tmp_path):
    copy = tmp_path / "model.dat"
    copy.write_bytes(find_model_file().read_bytes())
    load_shape_predictor(str(find_model_file()))
    load_shape_predictor(str(copy))
    assert len(list(cache.iterdir())) == 2


def test_the_cached_detector_finds_what_dlibs_own_finds(cache, lfw_dir):
    built = dlib.get_frontal_face_detector()
    stored = model_cache.load_frontal_face_detector()  # built and saved
    (saved,) = cache.glob("frontal_face_detector-*.svm")
    loaded = model_cache.load_frontal_face_detector()  # read from the file
    photos = [cv2.imread(str(path))[:, :, ::-1].copy() for path in lfw_sample_paths(lfw_dir, 40)]
    photos.append(cv2.resize(photos[0], (90, 90)))  # small: found only upsampled
    for photo in photos:
        for upsample in (0, 1):
            expected, scores, kinds = built.run(photo, upsample, -0.5)
            for detector in (stored, loaded):
                found, found_scores, found_kinds = detector.run(photo, upsample, -0.5)
                assert list(found) == list(expected) and found_kinds == kinds
                assert found_scores == scores
    saved.write_bytes(saved.read_bytes()[:1000])  # damaged: rebuilt and saved again
    assert model_cache.load_frontal_face_detector().num_detectors == 5
    assert saved.stat().st_size > 1000


def test_aligned_mode_never_builds_the_detector(cache, photos):
    finder = FaceFinder(find_model_file())
    finder.prepare("aligned")
    faces = finder.find_faces_batch(photos, "aligned")
    assert all(len(found) == 1 for found in faces)
    assert not hasattr(finder._per_thread, "detector")
    finder.prepare("auto")
    assert hasattr(finder._per_thread, "detector")
    assert load_face_finder() is load_face_finder()
