"""Helpers for the training tests: a masked twin made here, arcface_torch-style state dicts.

Until ``maskgen augment`` output is used, the twin is made by a simple stand-in: the lower face
of each aligned 112x112 crop (below the nose in the ArcFace template, y > 62) is covered by a
flat-coloured mask polygon. Every 10th image is left unmasked, as a face that could not be
masked is stored (original bytes, label element 1 = 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from maskgen.formats.recordio import RecordIOReader, RecordIOWriter
from maskgen.seeding import item_rng
from maskgen.train.config import resolve_config
from maskgen.types import Sample

MASK_POLYGON = np.array(
    [(18, 63), (94, 63), (97, 82), (86, 101), (56, 111), (26, 101), (15, 82)], dtype=np.int32
)
"""A surgical-mask outline on the ArcFace 112x112 template (nose tip at y ~ 72)."""

UNMASKED_EVERY = 10


def draw_mask(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``rgb`` (112, 112, 3) uint8 with a flat, randomly tinted mask on the lower face."""
    out = rgb.copy()
    colour = np.clip(np.array([200, 215, 230]) + rng.integers(-30, 30, 3), 0, 255)
    jitter = rng.integers(-2, 3, size=MASK_POLYGON.shape)
    cv2.fillPoly(out, [(MASK_POLYGON + jitter).astype(np.int32)], tuple(int(c) for c in colour))
    return out


def encode_jpeg(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(
        ".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 95]
    )
    assert ok
    return buf.tobytes()


def write_masked_twin(
    source: Path, target: Path, *, identity_shift: dict[int, int] | None = None
) -> Path:
    """Write the masked twin of ``source`` to ``target`` (header and identity records copied;
    ``identity_shift`` maps keys to wrong identities, to make a broken twin)."""
    reader = RecordIOReader(source)
    with RecordIOWriter(target) as writer:
        keys = reader.keys()
        for key in keys:
            sample = reader.read(key)
            if not sample.is_image:
                writer.write(sample)
                continue
            identity = float(sample.label[0])
            if identity_shift and key in identity_shift:
                identity = float(identity_shift[key])
            if key % UNMASKED_EVERY == 0:
                data, masked = sample.data, 0.0
            else:
                bgr = cv2.imdecode(np.frombuffer(sample.data, np.uint8), cv2.IMREAD_COLOR)
                data = encode_jpeg(draw_mask(bgr[:, :, ::-1], item_rng(7, key)))
                masked = 1.0
            label = np.array([identity, masked], dtype=np.float32)
            writer.write(Sample(key=key, data=data, label=label, extra={"id": key, "id2": 0}))
    return target


def write_damaged_copy(source: Path, target: Path, damaged: set[int]) -> Path:
    """Copy ``source`` to ``target`` record by record, the image bytes of the keys in
    ``damaged`` replaced by a JPEG's first 200 bytes, which no decoder reads (as a transfer cut
    short leaves a record)."""
    reader = RecordIOReader(source)
    with RecordIOWriter(target) as writer:
        keys = reader.keys()
        for key in keys:
            sample = reader.read(key)
            if sample.is_image and key in damaged:
                sample = Sample(key=key, data=sample.data[:200], label=sample.label,
                                extra=sample.extra)  # fmt: skip
            writer.write(sample)
    (target.parent / "property").write_text((source.parent / "property").read_text())
    return target


# arcface_torch's iresnet layout, written out from the paper's layer spec (not from our code).
LAYERS = {"r18": [2, 2, 2, 2], "r34": [3, 4, 6, 3], "r50": [3, 4, 14, 3], "r100": [3, 13, 30, 3]}
CHANNELS = [64, 128, 256, 512]


def _bn(prefix: str, n: int) -> dict[str, tuple[int, ...]]:
    return {
        f"{prefix}.weight": (n,),
        f"{prefix}.bias": (n,),
        f"{prefix}.running_mean": (n,),
        f"{prefix}.running_var": (n,),
        f"{prefix}.num_batches_tracked": (),
    }


def arcface_torch_shapes(layers: list[int], embedding: int = 512) -> dict[str, tuple[int, ...]]:
    """Parameter and buffer names with shapes of an arcface_torch ``IResNet`` state dict."""
    shapes: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 3, 3)}
    shapes.update(_bn("bn1", 64))
    shapes["prelu.weight"] = (64,)
    inplanes = 64
    for stage, (blocks, planes) in enumerate(zip(layers, CHANNELS, strict=True), start=1):
        for index in range(blocks):
            p = f"layer{stage}.{index}"
            cin = inplanes if index == 0 else planes
            shapes.update(_bn(f"{p}.bn1", cin))
            shapes[f"{p}.conv1.weight"] = (planes, cin, 3, 3)
            shapes.update(_bn(f"{p}.bn2", planes))
            shapes[f"{p}.prelu.weight"] = (planes,)
            shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            shapes.update(_bn(f"{p}.bn3", planes))
            if index == 0:
                shapes[f"{p}.downsample.0.weight"] = (planes, cin, 1, 1)
                shapes.update(_bn(f"{p}.downsample.1", planes))
        inplanes = planes
    shapes.update(_bn("bn2", 512))
    shapes["fc.weight"] = (embedding, 512 * 7 * 7)
    shapes["fc.bias"] = (embedding,)
    shapes.update(_bn("features", embedding))
    return shapes


def synthetic_backbone(layers: list[int], seed: int = 0) -> dict[str, Any]:
    """A random state dict (name -> tensor) laid out like an arcface_torch ``backbone.pth``."""
    import torch

    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in arcface_torch_shapes(layers).items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(7)
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=g) + 0.5
        else:
            state[name] = torch.randn(shape, generator=g) * 0.05
    return state


def tiny_config(data: Path, output: Path, **overrides: Any) -> Any:
    """A resolved training config for a quick CPU run of the tiny network on ``data``
    (batch 32, lr 0.1, one loader worker); ``overrides`` win."""
    values = {
        "data": str(data),
        "output": str(output),
        "network": "tiny",
        "batch_size": 32,
        "lr": 0.1,
        "device": "cpu",
        "workers": 1,
        **overrides,
    }
    return resolve_config(overrides=values)
