"""Alignment to the ArcFace 5-point template, the layout of every insightface dataset."""

from __future__ import annotations

import cv2
import numpy as np

ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],  # left eye (image left)
        [73.5318, 51.5014],  # right eye
        [56.0252, 71.7366],  # nose tip
        [41.5493, 92.3655],  # left mouth corner
        [70.7299, 92.2041],  # right mouth corner
    ],
    dtype=np.float32,
)
"""Where insightface puts the eyes, nose tip and mouth corners in a 112x112 crop."""


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """The 5 alignment points (eye centres, nose tip, mouth corners) from 68 dlib landmarks.

    ``landmarks``: (68, 2) float, image pixels. Returns (5, 2) float32 in template order.
    """
    lm = np.asarray(landmarks, dtype=np.float32)
    return np.stack(
        [lm[36:42].mean(axis=0), lm[42:48].mean(axis=0), lm[30], lm[48], lm[54]]
    ).astype(np.float32)


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, shift) mapping src to dst.

    Umeyama's closed form; no RANSAC, so the result is deterministic. Returns a 2x3 matrix.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    rotation = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_c.var(axis=0).sum()
    shift = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, shift[:, None]]).astype(np.float32)


def align_face(rgb: np.ndarray, points: np.ndarray, size: int = 112) -> np.ndarray:
    """Warp a face so its 5 points land on the ArcFace template scaled to ``size`` pixels.

    ``rgb``: (H, W, 3) uint8; ``points``: (5, 2) from :func:`five_points`. Returns
    (size, size, 3) uint8, black outside the source image (as insightface's crops are).
    """
    template = ARCFACE_TEMPLATE_112 * (size / 112.0)
    matrix = estimate_similarity(points, template)
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
