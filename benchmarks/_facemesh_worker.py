"""Runs inside the MediaPipe benchmark environment (see facemesh.py), never imports maskgen.

    python _facemesh_worker.py IN.npz OUT.npz             # FaceMesh landmarks
    python _facemesh_worker.py IN.npz OUT.npz --person    # person / background segmentation

IN holds ``image_0``, ``image_1``, ... (H, W, 3) uint8 RGB. OUT gets ``landmarks`` (N, 478, 2)
float32 pixel coordinates (pixel centres at integers), NaN where no face was found; with
``--person``, ``person_0``, ``person_1``, ... (H, W) uint8: MediaPipe's selfie segmentation
(the general 256x256 model), the probability that a pixel shows the person, times 255.
"""

from __future__ import annotations

import sys

import numpy as np


def landmarks(source: str, target: str) -> None:
    from mediapipe.python.solutions import face_mesh  # legacy API: models ship in the wheel

    images = np.load(source)
    count = len(images.files)
    out = np.full((count, 478, 2), np.nan, dtype=np.float32)
    with face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True) as mesh:
        for index in range(count):
            rgb = np.ascontiguousarray(images[f"image_{index}"])
            found = mesh.process(rgb).multi_face_landmarks
            if found:
                height, width = rgb.shape[:2]
                xy = [(p.x * width - 0.5, p.y * height - 0.5) for p in found[0].landmark]
                out[index] = np.array(xy, dtype=np.float32)
    np.savez(target, landmarks=out)


def person(source: str, target: str) -> None:
    from mediapipe.python.solutions import selfie_segmentation  # ships in the wheel too

    images = np.load(source)
    out = {}
    with selfie_segmentation.SelfieSegmentation(model_selection=0) as segmenter:
        for index in range(len(images.files)):
            rgb = np.ascontiguousarray(images[f"image_{index}"])
            probability = segmenter.process(rgb).segmentation_mask
            out[f"person_{index}"] = np.round(np.clip(probability, 0.0, 1.0) * 255).astype(np.uint8)
    np.savez(target, **out)


if __name__ == "__main__":
    (person if "--person" in sys.argv[3:] else landmarks)(sys.argv[1], sys.argv[2])
