"""Faces in large photos: where the reduced copy finds nothing, the photo is searched again at
full resolution, so every face of about 80 px or more is found; the common path is unchanged."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from maskgen.faces import load_face_finder
from maskgen.faces.landmarks import DETECT_MAX_SIDE
from maskgen.images import read_rgb
from tests.faces.helpers import background, inside, paste_faces

pytestmark = pytest.mark.shared

PEOPLE = ("Aaron_Eckhart", "Al_Gore", "Adam_Sandler", "Abdullah_Gul")


class DetectorSpy:
    """Wraps dlib's detector and records the size of every image it searches."""

    def __init__(self, detector) -> None:
        self.detector = detector
        self.sides: list[int] = []

    def __call__(self, image, upsample):
        self.sides.append(max(image.shape[:2]))
        return self.detector(image, upsample)

    def run(self, image, upsample, threshold):
        self.sides.append(max(image.shape[:2]))
        return self.detector.run(image, upsample, threshold)


@pytest.fixture(scope="module")
def finder():
    return load_face_finder()


@pytest.fixture(scope="module")
def photos(lfw_dir: Path) -> list[Path]:
    return [lfw_dir / name / f"{name}_0001.jpg" for name in PEOPLE]


@pytest.fixture(scope="module")
def large_photo(finder, photos):
    """A 4000x3000 photo with faces 85, 100, 180 and 310 px wide, all too small for the
    640 px copy (13 to 50 px there, under dlib's 80 px window)."""
    canvas = background(3000, 4000)
    corners = [(2200, 2400), (400, 2500), (1800, 1200), (3000, 300)]
    pasted = paste_faces(canvas, finder, photos, [85, 100, 180, 310], corners)
    return canvas, pasted


def test_faces_of_80_px_and_more_in_a_large_photo_are_found(finder, large_photo):
    canvas, pasted = large_photo
    assert finder.detect(canvas) == []  # the reduced copy alone misses every face
    faces = finder.find_faces(canvas, "detect")
    assert len(faces) == len(pasted)
    for paste in pasted:
        (face,) = [f for f in faces if inside(f.landmarks, paste.region)]
        assert face.detected
        width = face.box[2] - face.box[0]
        assert 0.6 * paste.face_width < width < 1.5 * paste.face_width
    assert [main_face_weight(f, *canvas.shape[:2]) for f in faces] == sorted(
        (main_face_weight(f, *canvas.shape[:2]) for f in faces), reverse=True
    )


def main_face_weight(face, height: int, width: int) -> float:
    """insightface's main-face rule: box area minus twice the squared distance (px²) of its
    centre from the image's centre."""
    x0, y0, x1, y1 = face.box
    return face.area - 2 * (((x0 + x1) / 2 - width / 2) ** 2 + ((y0 + y1) / 2 - height / 2) ** 2)


def test_the_centred_face_comes_first_not_a_larger_one_at_the_edge(finder, photos):
    """A 100 px face in the middle of a 640x640 photo and a 130 px one near its corner: the
    centred one is the main face (``align``, ``embed`` and ``verify`` take it), as insightface's
    detectors choose; largest first took the bystander."""
    canvas = background(640, 640, seed=2)
    regions = []
    for path, width, (cx, cy) in zip(photos[:2], [130, 100], [(130, 510), (320, 320)], strict=True):
        rgb = read_rgb(path)
        x0, y0, x1, y1 = finder.find_faces(rgb, "detect")[0].box
        scale = width / (x1 - x0)
        scaled = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        half = round(0.9 * width)  # a square 1.8 face widths wide round the face
        fx, fy = round((x0 + x1) / 2 * scale), round((y0 + y1) / 2 * scale)
        patch = scaled[fy - half : fy + half, fx - half : fx + half]
        canvas[cy - half : cy + half, cx - half : cx + half] = patch
        regions.append((cx - half, cy - half, cx + half, cy + half))
    bystander, subject = regions
    faces = finder.find_faces(canvas, "detect")
    assert len(faces) == 2
    assert inside(faces[0].landmarks, subject)
    assert inside(faces[1].landmarks, bystander)
    assert faces[1].area > faces[0].area


def test_a_medium_photo_is_searched_again_at_full_size(finder, photos):
    """A 1200x900 photo with an 80 px face: 43 px in the 640 px copy, found at full size."""
    canvas = background(900, 1200, seed=1)
    (paste,) = paste_faces(canvas, finder, photos[1:2], [80], [(500, 300)])
    assert finder.detect(canvas) == []
    (face,) = finder.find_faces(canvas, "auto")
    assert inside(face.landmarks, paste.region)


def test_common_path_searches_only_the_reduced_copy(finder, photos, monkeypatch):
    """Where the 640 px copy holds a face, the full-resolution photo is never searched (nor
    the 640 px copy's finest pyramid level: its second level, 533 px, holds the face)."""
    big = cv2.resize(read_rgb(photos[0]), (2400, 2400), interpolation=cv2.INTER_CUBIC)
    spy = DetectorSpy(finder._detector)
    monkeypatch.setattr(finder._per_thread, "detector", spy)
    (face,) = finder.find_faces(big, "auto")
    assert spy.sides == [5 * DETECT_MAX_SIDE // 6]
    assert 600 < face.box[2] - face.box[0] < 1400  # ~100 px in 250, x 9.6


def test_detail_pass_only_for_photos_larger_than_the_reduced_copy(finder, monkeypatch):
    spy = DetectorSpy(finder._detector)
    monkeypatch.setattr(finder._per_thread, "detector", spy)
    assert finder.detect_in_detail(np.zeros((480, DETECT_MAX_SIDE, 3), np.uint8)) == []
    assert spy.sides == []
    assert finder.detect_in_detail(background(500, 900)) == []
    assert spy.sides == [900]
