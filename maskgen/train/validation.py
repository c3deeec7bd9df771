"""Validation during training: what ``maskgen eval`` reports, on the network being trained.

Embeddings come from ``maskgen.nn``'s :class:`Embedder` (flip sum, float32, eval mode) and the
scores from ``maskgen.nn.verification`` and ``maskgen.nn.mask_usage``: the code behind
``maskgen eval``, so a validation row and ``maskgen eval`` of the checkpoint saved at that step
give the same figures (on the same device, with the same batch size). With the masked twin a row
adds what one ``eval`` set cannot: mixed pairs (original first image, masked second) and one
mask-usage accuracy over both sets, where a twin image stored unchanged counts as unmasked.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from maskgen.decoder_messages import warn_decoder_said
from maskgen.errors import DatasetFormatError
from maskgen.formats.verification import read_verification_bin
from maskgen.nn.embedder import Embedder
from maskgen.nn.mask_usage import mask_accuracy
from maskgen.nn.preprocess import decode_face_and_said
from maskgen.nn.verification import N_FOLDS, check_enough_pairs, evaluate_verification

logger = logging.getLogger(__name__)


def validate_bin(
    embedder: Embedder, bin_path: str | Path, masked_path: str | Path | None = None
) -> dict[str, Any]:
    """One metrics row: 10-fold verification accuracy on a ``.bin`` and, with its masked twin,
    on the twin's pairs and on mixed pairs, plus the mask-usage accuracy over both sets
    (originals are unmasked; a twin image is masked unless its bytes equal the original's,
    which is how a face that could not be masked is stored).

    Raises DatasetFormatError (a ValueError) when ``masked_path`` is not the twin of
    ``bin_path``, ConfigError when a set has fewer pairs than folds.
    """
    images, issame = read_verification_bin(bin_path)
    plain = embedder.embed_encoded(images, source=str(bin_path), name_damaged=False)
    result = evaluate_verification(plain.embeddings, issame, N_FOLDS)
    row: dict[str, Any] = {
        "set": Path(bin_path).stem,
        "accuracy": result.accuracy,
        "accuracy_std": result.accuracy_std,
        "threshold": result.threshold,
    }
    if masked_path is None:
        return row
    twin_images, twin_issame = read_verification_bin(masked_path)
    _check_twin(bin_path, masked_path, (images, issame), (twin_images, twin_issame))
    twin = embedder.embed_encoded(twin_images, source=str(masked_path), name_damaged=False)
    masked = evaluate_verification(twin.embeddings, issame, N_FOLDS)
    mixed = evaluate_verification(mixed_pairs(plain.embeddings, twin.embeddings), issame, N_FOLDS)
    row.update(
        accuracy_masked=masked.accuracy,
        accuracy_masked_std=masked.accuracy_std,
        accuracy_mixed=mixed.accuracy,
        accuracy_mixed_std=mixed.accuracy_std,
    )
    if plain.mask_prob is not None and twin.mask_prob is not None:
        was_masked = np.array([a != b for a, b in zip(images, twin_images, strict=True)])
        row["mask_accuracy"] = mask_accuracy(
            np.concatenate([plain.mask_prob, twin.mask_prob]),
            np.concatenate([np.zeros(len(images), dtype=bool), was_masked]),
        )
    return row


def check_val_sets(val: list[str], val_masked: list[str]) -> None:
    """Read every validation set and its twin before training starts: a file that is no
    ``.bin``, a twin of other pairs, a set of fewer pairs than folds, or an image that does not
    decode to an aligned 112x112 face would otherwise stop the run at its first validation,
    ``--val-every`` steps (or the whole run) later. Every image is decoded (0.1-0.2 ms each
    on a 2-core VM: one to two seconds for LFW's 12,000, on every rank under torchrun).

    ``val_masked`` is empty or one twin per ``val`` set. Raises DatasetFormatError (a
    ValueError) naming the file and the image.
    """
    twins: list[str | None] = list(val_masked) or [None] * len(val)
    for bin_path, masked_path in zip(val, twins, strict=True):
        images, issame = read_verification_bin(bin_path)
        check_enough_pairs(bin_path, len(issame))
        _check_faces(images, bin_path)
        if masked_path is not None:
            twin = read_verification_bin(masked_path)
            _check_twin(bin_path, masked_path, (images, issame), twin)
            _check_faces(twin[0], masked_path)


def _check_faces(images: list[bytes], path: str | Path) -> None:
    """Every face decodes, at 112x112 (DatasetFormatError naming the first that does not); a
    damaged one that still decodes is named in a warning here, once, not at every validation."""
    for index, data in enumerate(images):
        said = decode_face_and_said(data, str(path), index)[1]
        if said:
            warn_decoder_said(logger, f"{path}: image {index}", said)


def _check_twin(
    bin_path: str | Path,
    masked_path: str | Path,
    plain: tuple[list[bytes], list[bool]],
    twin: tuple[list[bytes], list[bool]],
) -> None:
    if len(twin[0]) != len(plain[0]) or list(twin[1]) != list(plain[1]):
        raise DatasetFormatError(f"{masked_path}: not the masked twin of {bin_path} (pairs differ)")


def mixed_pairs(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(2N, E) embeddings of pairs ``(first[2i], second[2i + 1])``: each pair's first image from
    ``first``, its second from ``second`` (both (2N, E), pairs as rows 2i, 2i + 1)."""
    both = first.copy()
    both[1::2] = second[1::2]
    return both
