"""Embeddings of photos: ``maskgen.nn``'s Embedder plus detection and alignment.

The network side (backends, batching, the flip sum) is :class:`maskgen.nn.embedder.Embedder`,
the same code training validates with; this subclass only adds :meth:`Embedder.embed_faces`,
which finds and aligns the face in each photo first (``maskgen embed``, ``maskgen verify``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from maskgen.atomic import write_bytes_atomic
from maskgen.nn import embedder as nn_embedder
from maskgen.nn.embedder import Embeddings

__all__ = ["Embedder", "PhotoEmbeddings"]


@dataclass(frozen=True)
class PhotoEmbeddings(Embeddings):
    """Embeddings of photos: ``paths`` of the photos embedded (row order), ``skipped`` maps each
    photo that gave no face to the reason (``no_face``, ``unreadable``)."""

    paths: tuple[str, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)

    def write_npz(self, path: str | Path) -> Path:
        """Save ``paths`` (str), ``embeddings`` (N, E) float32 and, with a mask head,
        ``mask_prob`` (N,) float32 (and, for a wear-class model, ``wear_prob`` (N, 5) float32)
        to an .npz (no pickled objects), via a temporary file."""
        path = Path(path)
        arrays = {"paths": np.array(self.paths, dtype=str), "embeddings": self.embeddings}
        if self.mask_prob is not None:
            arrays["mask_prob"] = self.mask_prob
        if self.wear_prob is not None:
            arrays["wear_prob"] = self.wear_prob
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return write_bytes_atomic(path, buffer.getvalue())


class Embedder(nn_embedder.Embedder):
    """:class:`maskgen.nn.embedder.Embedder` that also embeds faces found in photos."""

    def embed_faces(
        self,
        photo_paths: str | Path | Sequence[str | Path],
        *,
        models_dir: str | Path | None = None,
        aligned: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> PhotoEmbeddings:
        """Detect, align and embed the main face of each photo (one path, or several);
        photos without a face, or not readable as an image, are skipped and listed in
        ``skipped``. ``aligned``: the photos are ArcFace-aligned 112x112 crops, embedded as
        they are (:func:`~maskgen.evaluate.photos.align_photos`). DatasetFormatError for a
        path that does not exist. ``progress`` is called with 1 as each photo is read and
        aligned (the slow part: detection), e.g. a tqdm bar's ``update``."""
        from maskgen.evaluate.photos import align_photos

        if isinstance(photo_paths, str | Path):  # one photo, not its letters
            photo_paths = [photo_paths]
        photos = align_photos(
            photo_paths, models_dir=models_dir, aligned=aligned, progress=progress
        )
        result = self.embed_images(list(photos.faces))
        return PhotoEmbeddings(
            embeddings=result.embeddings,
            mask_prob=result.mask_prob,
            wear_prob=result.wear_prob,
            paths=photos.paths,
            skipped=photos.skipped,
        )
