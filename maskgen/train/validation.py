"""Validation during training: insightface's 10-fold verification and mask-usage accuracy.

Kept small on purpose; ``maskgen.evaluate`` holds the full evaluation. The protocol: each
image's embedding is that of the image plus that of its horizontal flip, L2-normalised; a pair's
distance is the squared L2 distance; for each of 10 folds taken in order, the threshold in
``0, 0.01, ..., 3.99`` with the best accuracy on the other 9 folds is scored on the fold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maskgen.formats.verification import read_verification_bin
from maskgen.train.data import decode_rgb, preprocess

THRESHOLDS = np.arange(0.0, 4.0, 0.01)


@dataclass(frozen=True)
class VerificationResult:
    """Mean and std of the 10 test-fold accuracies, and the mean chosen threshold (a squared
    L2 distance between unit embeddings: pairs closer than it are "same")."""

    accuracy: float
    std: float
    threshold: float


def verification_accuracy(
    embeddings1: np.ndarray,
    embeddings2: np.ndarray,
    issame: Sequence[bool] | np.ndarray,
    *,
    folds: int = 10,
    thresholds: np.ndarray = THRESHOLDS,
) -> VerificationResult:
    """10-fold verification accuracy of pairs ``(embeddings1[i], embeddings2[i])`` (each
    ``(n, E)``, already unit-length); folds are consecutive blocks of pairs, as insightface's
    un-shuffled KFold cuts them."""
    issame = np.asarray(issame, dtype=bool)
    dist = np.sum((np.asarray(embeddings1) - np.asarray(embeddings2)) ** 2, axis=1)
    if len(dist) != len(issame) or len(dist) < folds:
        raise ValueError(f"{len(dist)} pairs and {len(issame)} labels for {folds} folds")
    # correct[t, i]: pair i is classified right at threshold t
    correct = np.less(dist[None, :], thresholds[:, None]) == issame[None, :]
    accuracies, chosen = [], []
    for test in np.array_split(np.arange(len(dist)), folds):
        train = np.ones(len(dist), dtype=bool)
        train[test] = False
        best = int(np.argmax(correct[:, train].mean(axis=1)))
        chosen.append(thresholds[best])
        accuracies.append(correct[best, test].mean())
    return VerificationResult(
        float(np.mean(accuracies)), float(np.std(accuracies)), float(np.mean(chosen))
    )


@torch.no_grad()
def embed_images(
    network: torch.nn.Module,
    images: Sequence[bytes],
    *,
    device: torch.device,
    batch_size: int = 256,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Unit embeddings ``(N, E)`` of image + flip, and P(masked) ``(N,)`` from the mask head
    (on the unflipped image; None without a mask head). The network is used in eval mode and
    left in the mode it was in."""
    was_training = network.training
    network.eval()
    embeddings, masked = [], []
    try:
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            rgb = np.stack([decode_rgb(data, f"image {start + i}") for i, data in enumerate(chunk)])
            both = np.concatenate([rgb, rgb[:, :, ::-1]])
            x = preprocess(both, device=device, channels_last=channels_last)
            with torch.autocast(
                device.type,
                dtype=autocast_dtype or torch.float32,
                enabled=autocast_dtype is not None,
            ):
                emb, mask_logits = network(x)
            emb = emb.float()
            summed = emb[: len(chunk)] + emb[len(chunk) :]
            embeddings.append(torch.nn.functional.normalize(summed, dim=1).cpu().numpy())
            if mask_logits is not None:
                masked.append(mask_logits[: len(chunk)].float().softmax(dim=1)[:, 1].cpu().numpy())
    finally:
        network.train(was_training)
    return np.concatenate(embeddings), (np.concatenate(masked) if masked else None)


def validate_bin(
    network: torch.nn.Module,
    bin_path: str | Path,
    masked_path: str | Path | None = None,
    **embed_kwargs: Any,
) -> dict[str, Any]:
    """Verification accuracy on a ``.bin`` and, with its masked twin, on the twin's pairs, on
    mixed pairs (original first image, masked second) and the mask-usage accuracy (originals
    are unmasked; a twin image is masked unless its bytes equal the original's, which is how
    a face that could not be masked is stored)."""
    images, issame = read_verification_bin(bin_path)
    emb, p_masked = embed_images(network, images, **embed_kwargs)
    result = verification_accuracy(emb[0::2], emb[1::2], issame)
    row: dict[str, Any] = {
        "set": Path(bin_path).stem,
        "accuracy": result.accuracy,
        "accuracy_std": result.std,
        "threshold": result.threshold,
    }
    if masked_path is None:
        return row
    twin_images, twin_issame = read_verification_bin(masked_path)
    if len(twin_images) != len(images) or list(twin_issame) != list(issame):
        raise ValueError(f"{masked_path}: not the masked twin of {bin_path} (pairs differ)")
    twin_emb, twin_p = embed_images(network, twin_images, **embed_kwargs)
    masked = verification_accuracy(twin_emb[0::2], twin_emb[1::2], issame)
    mixed = verification_accuracy(emb[0::2], twin_emb[1::2], issame)
    row.update(
        accuracy_masked=masked.accuracy,
        accuracy_masked_std=masked.std,
        accuracy_mixed=mixed.accuracy,
        accuracy_mixed_std=mixed.std,
    )
    if p_masked is not None and twin_p is not None:
        truth = np.array([a != b for a, b in zip(images, twin_images, strict=True)])
        predicted = np.concatenate([p_masked, twin_p]) >= 0.5
        expected = np.concatenate([np.zeros(len(images), dtype=bool), truth])
        row["mask_accuracy"] = float(np.mean(predicted == expected))
    return row
