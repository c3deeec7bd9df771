"""Face network registry: ``create_model(name)`` and ``load_model(path)``.

Every network maps ``(N, 3, 112, 112)`` normalised RGB (see ``maskgen.nn.preprocess``) to
``(embedding (N, E), mask_logits (N, K) | None)``, K = 2 (no mask / mask) or 5 (the wear
classes of ``maskgen.masks.wear.WEAR_CLASSES``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from maskgen.errors import CheckpointError, ConfigError
from maskgen.nn.checkpoint import check_checkpoint, is_maskgen_checkpoint, load_torch_file
from maskgen.nn.models.base import FEATURE_SIZE, FaceNet
from maskgen.nn.models.iresnet import IRESNET_LAYERS, STAGE_CHANNELS, create_iresnet
from maskgen.nn.models.tiny import TinyNet


def _iresnet_factory(name: str) -> Callable[..., FaceNet]:
    def factory(
        *, embedding_size: int, dropout: float, mask_head: bool, mask_classes: int = 2
    ) -> FaceNet:
        return create_iresnet(
            name,
            embedding_size=embedding_size,
            dropout=dropout,
            mask_head=mask_head,
            mask_classes=mask_classes,
        )

    return factory


MODELS: dict[str, Callable[..., FaceNet]] = {
    name: _iresnet_factory(name) for name in IRESNET_LAYERS
}
MODELS["tiny"] = TinyNet

MASK_HEAD_SIZES = (2, 5)
"""Mask-head sizes: 2 (no mask / mask) and 5 (the wear classes, ``--wear-classes``)."""

_LAYER_KEY = re.compile(r"^layer([1-4])\.(\d+)\.")


def create_model(
    name: str,
    *,
    embedding_size: int = 512,
    dropout: float = 0.4,
    mask_head: bool = True,
    mask_classes: int = 2,
) -> FaceNet:
    """A freshly initialised network from the registry (``r18``, ``r34``, ``r50``, ``r100``,
    ``tiny``); ``mask_classes``: logits of the mask head, 2 or 5 (:data:`MASK_HEAD_SIZES`). An
    unknown name or size raises ConfigError."""
    factory = MODELS.get(name)
    if factory is None:
        raise ConfigError(f"network: unknown name {name!r} (choose from {', '.join(MODELS)})")
    if embedding_size < 1:
        raise ConfigError(f"embedding_size: must be positive, got {embedding_size}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout: must be in [0, 1), got {dropout}")
    if mask_classes not in MASK_HEAD_SIZES:
        raise ConfigError(f"mask_classes: must be 2 or 5, got {mask_classes}")
    return factory(
        embedding_size=embedding_size,
        dropout=dropout,
        mask_head=mask_head,
        mask_classes=mask_classes,
    )


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[FaceNet, dict[str, Any]]:
    """The network stored at ``path`` in eval mode, and ``info`` (network, embedding_size,
    mask_head, mask_classes, step, threshold, source). A checkpoint without ``mask_classes``
    (written before wear classes existed) has a 2-way mask head.

    ``path`` is a maskgen training checkpoint or a plain arcface_torch ``backbone.pth`` state
    dict (r18/r34/r50/r100, recognised by counting its blocks; loaded without a mask head), or
    arcface_torch's training checkpoint ``checkpoint_gpu_N.pt`` (its backbone).
    Anything else raises CheckpointError.
    """
    obj = load_torch_file(path, map_location)
    if is_maskgen_checkpoint(obj):
        ckpt = check_checkpoint(obj, path)
        name = ckpt["network"]
        if name not in MODELS:
            raise CheckpointError(
                f"{path}: checkpoint network {name!r} is not one of {list(MODELS)}"
            )
        mask_classes = int(ckpt.get("mask_classes", 2))
        network = create_model(
            name,
            embedding_size=ckpt["embedding_size"],
            mask_head=ckpt["mask_head"],
            mask_classes=mask_classes,
        )
        _load_state(network, ckpt["model"], path)
        info = {
            "network": name,
            "embedding_size": ckpt["embedding_size"],
            "mask_head": ckpt["mask_head"],
            "mask_classes": mask_classes,
            "step": ckpt["step"],
            "threshold": ckpt["threshold"],
            "source": "maskgen",
        }
    else:
        state = _as_state_dict(obj, path)
        name = iresnet_name_for(state, path)
        embedding_size = int(state["fc.weight"].shape[0])
        network = create_model(name, embedding_size=embedding_size, mask_head=False)
        _load_state(network, state, path)
        info = {
            "network": name,
            "embedding_size": embedding_size,
            "mask_head": False,
            "mask_classes": 2,
            "step": None,
            "threshold": None,
            "source": "arcface_torch",
        }
    network.to(map_location).eval()
    return network, info


def load_backbone_weights(network: FaceNet, path: str | Path) -> list[str]:
    """Initialise ``network`` from a maskgen checkpoint or an arcface_torch ``backbone.pth``:
    every parameter except the mask head must be present with the same shape. Returns the
    names left at their fresh initialisation (the mask head's, if the file has none or one of
    another size: a 2-way head does not initialise a 5-way one)."""
    obj = load_torch_file(path)
    ours = is_maskgen_checkpoint(obj)
    source = check_checkpoint(obj, path)["model"] if ours else obj
    state = _as_state_dict(source, path, iresnet=not ours)  # ours may be the tiny network
    own = network.state_dict()
    if network.mask_fc is None:  # a multi-task checkpoint into a network without mask head
        state = {k: v for k, v in state.items() if not k.startswith("mask_fc.")}
    state = {
        k: v
        for k, v in state.items()
        if not (k.startswith("mask_fc.") and k in own and v.shape != own[k].shape)
    }
    fresh = [k for k in own if k.startswith("mask_fc.") and k not in state]
    missing = [k for k in own if k not in state and k not in fresh]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        held = str(obj.get("network")) if ours else _iresnet_or_none(state)
        raise CheckpointError(
            _mismatch_message(path, missing, unexpected) + _other_network(held, network)
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise CheckpointError(
                f"{path}: {key} has shape {tuple(value.shape)}, the network "
                f"needs {tuple(own[key].shape)} (another architecture or embedding size?)"
            )
    network.load_state_dict(state, strict=False)
    return fresh


def iresnet_name_for(state: Mapping[str, torch.Tensor], path: str | Path = "state dict") -> str:
    """Which iresnet a state dict belongs to, from the number of blocks in each stage."""
    blocks = [0, 0, 0, 0]
    for key in state:
        match = _LAYER_KEY.match(key)
        if match:
            stage, index = int(match.group(1)) - 1, int(match.group(2))
            blocks[stage] = max(blocks[stage], index + 1)
    for name, layers in IRESNET_LAYERS.items():
        if tuple(blocks) == layers:
            return name
    raise CheckpointError(
        f"{path}: not an arcface_torch iresnet state dict (blocks per stage {tuple(blocks)}; "
        f"known: {', '.join(f'{n} {list(v)}' for n, v in IRESNET_LAYERS.items())})"
    )


def _as_state_dict(obj: Any, path: str | Path, *, iresnet: bool = True) -> dict[str, torch.Tensor]:
    """A plain ``{name: tensor}`` dict (a DistributedDataParallel ``module.`` prefix removed),
    or the backbone's of an arcface_torch training checkpoint (``checkpoint_gpu_N.pt``: epoch,
    step, optimizer and ``state_dict_backbone``, as its ``train_v2.py`` saves it; it was
    refused as "neither a maskgen checkpoint nor a network state dict"). ``iresnet``: also
    check the embedding layer's input is an iresnet's (arcface_torch files; a maskgen
    checkpoint may hold the tiny network, and is checked against its own)."""
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict_backbone"), Mapping):
        obj = obj["state_dict_backbone"]
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{path}: neither a maskgen checkpoint nor a network state dict")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise CheckpointError(f"{path}: neither a maskgen checkpoint nor a network state dict")
    state = {k.removeprefix("module."): v for k, v in obj.items()}
    needed = ("conv1.weight", "fc.weight", "features.weight")
    absent = [k for k in needed if k not in state]
    if absent:
        raise CheckpointError(f"{path}: state dict lacks {', '.join(absent)}: not a face network")
    flat = STAGE_CHANNELS[-1] * FEATURE_SIZE * FEATURE_SIZE
    if iresnet and (state["fc.weight"].ndim != 2 or state["fc.weight"].shape[1] != flat):
        raise CheckpointError(
            f"{path}: fc.weight has shape {tuple(state['fc.weight'].shape)}, an iresnet needs "
            f"(E, {flat})"
        )
    return state


def _load_state(network: nn.Module, state: Mapping[str, torch.Tensor], path: str | Path) -> None:
    own = network.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise CheckpointError(_mismatch_message(path, missing, unexpected))
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise CheckpointError(f"{path}: weights do not fit the network ({detail})") from exc


def _iresnet_or_none(state: Mapping[str, torch.Tensor]) -> str | None:
    try:
        return iresnet_name_for(state)
    except CheckpointError:
        return None


def _other_network(held: str | None, network: FaceNet) -> str:
    """``"; the file holds an r18, the network is r50 (--network r18)"`` where the file's network
    is known and another: an r18 backbone.pth given to the default r50 run said only "missing
    48 keys (e.g. layer1.bn1.weight)"."""
    own = "tiny" if isinstance(network, TinyNet) else _iresnet_or_none(network.state_dict())
    if held is None or own is None or held == own:
        return ""
    article = "an" if held[0] in "r" else "a"
    return f"; the file holds {article} {held}, the network is {own} (--network {held})"


def _mismatch_message(path: str | Path, missing: list[str], unexpected: list[str]) -> str:
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} keys (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"unexpected {len(unexpected)} keys (e.g. {unexpected[0]})")
    return f"{path}: weights do not fit the network: {'; '.join(parts)}"


__all__ = [
    "MASK_HEAD_SIZES",
    "MODELS",
    "FaceNet",
    "create_model",
    "iresnet_name_for",
    "load_backbone_weights",
    "load_model",
]
