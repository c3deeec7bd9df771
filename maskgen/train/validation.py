"""Validation during training: insightface's 10-fold verification and mask-usage accuracy.

Kept small on purpose: the 10-fold protocol itself is ``maskgen.evaluate.verification``'s.
Each image's embedding is that of the image plus that of its horizontal flip, L2-normalised.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maskgen.evaluate.verification import VerificationResult, evaluate_verification
from maskgen.formats.verification import read_verification_bin
from maskgen.train.data import decode_rgb, preprocess


def pair_verification(
    first: np.ndarray, second: np.ndarray, issame: Sequence[bool] | np.ndarray
) -> VerificationResult:
    """10-fold verification of pairs ``(first[i], second[i])`` (each ``(n, E)``, unit rows),
    by the evaluation's own protocol, so training and ``maskgen eval`` report alike."""
    both = np.empty((2 * len(first), first.shape[1]), dtype=first.dtype)
    both[0::2], both[1::2] = first, second
    return evaluate_verification(both, issame)


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
    result = pair_verification(emb[0::2], emb[1::2], issame)
    row: dict[str, Any] = {
        "set": Path(bin_path).stem,
        "accuracy": result.accuracy,
        "accuracy_std": result.accuracy_std,
        "threshold": result.threshold,
    }
    if masked_path is None:
        return row
    twin_images, twin_issame = read_verification_bin(masked_path)
    if len(twin_images) != len(images) or list(twin_issame) != list(issame):
        raise ValueError(f"{masked_path}: not the masked twin of {bin_path} (pairs differ)")
    twin_emb, twin_p = embed_images(network, twin_images, **embed_kwargs)
    masked = pair_verification(twin_emb[0::2], twin_emb[1::2], issame)
    mixed = pair_verification(emb[0::2], twin_emb[1::2], issame)
    row.update(
        accuracy_masked=masked.accuracy,
        accuracy_masked_std=masked.accuracy_std,
        accuracy_mixed=mixed.accuracy,
        accuracy_mixed_std=mixed.accuracy_std,
    )
    if p_masked is not None and twin_p is not None:
        truth = np.array([a != b for a, b in zip(images, twin_images, strict=True)])
        predicted = np.concatenate([p_masked, twin_p]) >= 0.5
        expected = np.concatenate([np.zeros(len(images), dtype=bool), truth])
        row["mask_accuracy"] = float(np.mean(predicted == expected))
    return row
