"""The user's cache of models made ready to use: dlib's face detector as dlib saves it, and the
68-point model's parsed arrays, so that a run's start-up skips rebuilding them.

``dlib.get_frontal_face_detector()`` decodes and decompresses the detector built into dlib
(about 0.3 s of CPU); loading the same detector from the file dlib saves takes about 1 ms.
Parsing ``shape_predictor_68_face_landmarks.dat`` takes about 0.2 s; its arrays stored as
``.npy`` files load memory-mapped in about a millisecond (the OS's page cache then holds one
copy for every process reading them).

The cache is :mod:`maskgen.cache`'s; these entries are keyed on the model file's path, size
and modification time, and on dlib's version and library file.
"""

from __future__ import annotations

import logging
import os
import sys

import dlib

from maskgen.atomic import discard_temporary, temp_path_beside
from maskgen.cache import (
    CACHE_DIR_ENV,
    CACHE_FORMAT,
    cache_dir,
    file_key,
    keep_recent,
    mark_used,
    read_arrays,
    write_arrays,
)

__all__ = ["CACHE_DIR_ENV", "CACHE_FORMAT", "cache_dir", "file_key", "read_arrays", "write_arrays"]
__all__ += ["load_frontal_face_detector"]

logger = logging.getLogger(__name__)


def load_frontal_face_detector() -> dlib.fhog_object_detector:
    """dlib's HOG face detector, ``dlib.get_frontal_face_detector()``: loaded from the cache
    where this dlib saved it before, else built and saved there."""
    root = cache_dir()
    if root is None:
        return dlib.get_frontal_face_detector()
    binary = getattr(sys.modules.get(dlib.fhog_object_detector.__module__), "__file__", None)
    paths = [p for p in (binary,) if p and os.path.exists(p)]
    built = f"dlib {dlib.__version__} {getattr(dlib, '__time_compiled__', '')}"
    path = root / f"frontal_face_detector-{file_key(*paths, extra=built)}.svm"
    try:
        detector = dlib.fhog_object_detector(str(path))
    except RuntimeError:  # missing or unreadable: build it, and store it for the next run
        pass
    else:
        mark_used(path)
        return detector
    detector = dlib.get_frontal_face_detector()
    tmp = temp_path_beside(path)
    try:
        root.mkdir(parents=True, exist_ok=True)
        detector.save(str(tmp))
        os.replace(tmp, path)
        keep_recent(path)
    except (OSError, RuntimeError) as exc:
        logger.debug("model cache: cannot store %s (%s)", path, exc)
    finally:
        discard_temporary(tmp)
    return detector
