"""Training checkpoints: one ``torch.save``d dict, written under a temporary name and renamed.

Keys (version 1): ``format`` ("maskgen-mtarcface"), ``version``, ``network``, ``embedding_size``,
``mask_head``, ``model`` (the network's state dict: backbone, embedding and mask heads),
``arcface`` (the class centres, always whole: a sharded run gathers them), ``optimizer``,
``scheduler``, ``scaler``, ``step``, ``epoch``, ``config`` (the resolved config as a dict),
``rng`` (RNG states, one per rank), ``data_position`` (where the data order resumes) and
``threshold`` (the last validation's verification threshold, or None); optionally
``mask_classes`` (logits of the mask head: 2, or 5 for a ``--wear-classes`` model; a
checkpoint without it is 2-way, as every one written before wear classes) and ``train_model``
(a run with ``ema_decay``: the weights being trained, which ``--resume`` continues; ``model``
then holds their moving average, the weights to use).

Everything stored is a tensor or a plain Python value, so files load with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import codecs
import os
import warnings
from pathlib import Path
from typing import Any, NoReturn

import torch

from maskgen.atomic import discard_temporary, os_error_in
from maskgen.errors import CheckpointError, OutputError, no_such_file
from maskgen.formats.recordio import is_recordio_head
from maskgen.images import sniff_image_format

CHECKPOINT_FORMAT = "maskgen-mtarcface"
CHECKPOINT_VERSION = 1
CHECKPOINT_KEYS = (
    "format",
    "version",
    "network",
    "embedding_size",
    "mask_head",
    "model",
    "arcface",
    "optimizer",
    "scheduler",
    "scaler",
    "step",
    "epoch",
    "config",
    "rng",
    "data_position",
    "threshold",
)


def write_checkpoint(
    path: str | Path,
    *,
    network: str,
    embedding_size: int,
    mask_head: bool,
    model: dict[str, torch.Tensor],
    arcface: dict[str, torch.Tensor],
    optimizer: dict[str, Any],
    scheduler: dict[str, Any],
    scaler: dict[str, Any],
    step: int,
    epoch: int,
    config: dict[str, Any],
    rng: dict[str, Any],
    data_position: dict[str, Any],
    threshold: float | None,
    mask_classes: int = 2,
    train_model: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write a checkpoint to ``path`` via ``path.tmp`` + rename, so ``path`` is never partial.
    ``train_model`` (optional): the trained weights where ``model`` is their moving average."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "network": network,
        "embedding_size": int(embedding_size),
        "mask_head": bool(mask_head),
        "mask_classes": int(mask_classes),
        "model": model,
        "arcface": arcface,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "scaler": scaler,
        "step": int(step),
        "epoch": int(epoch),
        "config": config,
        "rng": rng,
        "data_position": data_position,
        "threshold": None if threshold is None else float(threshold),
    }
    if train_model is not None:
        payload["train_model"] = train_model
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as handle:  # a file object: torch then passes on write errors
            torch.save(payload, handle)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as error:
        _raise_write_error(error, path, tmp)
    return path


def link_checkpoint(source: Path, target: Path) -> Path:
    """Make ``target`` the same file as ``source`` (hard link, else copy), replaced atomically."""
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:
            tmp.write_bytes(source.read_bytes())
        os.replace(tmp, target)
    except OSError as error:
        _raise_write_error(error, target, tmp)
    return target


def _raise_write_error(error: BaseException, path: Path, tmp: Path) -> NoReturn:
    """OutputError naming ``path`` and the OS's reason, for a write that failed (a full disk,
    a quota, a lost file system), with ``tmp`` removed; ``error`` itself where it is no
    write's failure. A full disk reached the command line as a traceback ending in torch's
    ``RuntimeError: [enforce fail at inline_container.cc:672] . unexpected pos 155776 vs
    155664`` and left ``last.pt.tmp`` behind."""
    cause = os_error_in(error)
    if cause is None:
        raise error
    discard_temporary(tmp)
    reason = cause.strerror or str(cause)
    raise OutputError(f"{path}: cannot write the checkpoint ({reason})") from error


def load_torch_file(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load`` (tensors and plain values only) with every failure as a one-line
    CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise no_such_file(path, "checkpoint file", CheckpointError)
    try:
        with warnings.catch_warnings():
            # torch warns of a foreign pickle's protocol before refusing it: the refusal
            # below says what the file is, in one line
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    except Exception as exc:
        # torch.load fails on a foreign file in many ways (KeyError, IndexError, pickle
        # errors...) and its messages run to paragraphs or say only the type: describe the file
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint: {_what_it_is(path)}"
        ) from exc


_CHECKPOINTS = "a run's last.pt or an arcface_torch backbone.pth"


LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."
"""The start of a file ``torch.save`` wrote in its pre-1.6 format (``pytorch_model.bin`` files
are often such): a pickle of torch's magic number, 0x1950a86a20f9469cfc6c."""
"""The first four bytes of a RecordIO file (a dataset given where a model goes)."""


def _what_it_is(path: Path) -> str:
    """What a file torch.load refused looks like, from its first bytes: torch.save writes a
    zip archive (a pickle before torch 1.6)."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if not head:
        return "an empty file"
    image_format = sniff_image_format(head)
    if image_format is not None:  # a photo given as --model was "not a file torch.save writes"
        return f"a {image_format.upper()} image, not a checkpoint ({_CHECKPOINTS})"
    if path.suffix.lower() == ".onnx":  # --init-from model.onnx
        return "an ONNX model (eval, embed and verify run one; this needs a PyTorch checkpoint)"
    if is_recordio_head(head):
        return f"a RecordIO dataset, not a checkpoint ({_CHECKPOINTS})"
    if head.startswith(b"PK\x03\x04"):
        if path.suffix.lower() == ".npz":  # embed -o's embeddings
            return f"a numpy .npz archive, not a checkpoint ({_CHECKPOINTS})"
        return "a zip archive torch.load cannot read (damaged, or not written by torch.save)"
    legacy_torch = head.startswith(LEGACY_TORCH_MAGIC)  # torch.save before torch 1.6
    if head.startswith(b"\x80"):
        if path.suffix.lower() == ".bin" and not legacy_torch:  # insightface's sets are pickles
            return f"a pickle such as a verification .bin, not a checkpoint ({_CHECKPOINTS})"
        return "a pickle holding more than tensors and plain values, or damaged"
    try:
        # incremental: a character cut at the 4096th byte is not an error
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in "\t\r\n" for c in text):
        return f"a text file, not a checkpoint ({_CHECKPOINTS})"
    return "not a file torch.save writes (a zip archive or a pickle)"


def is_maskgen_checkpoint(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a maskgen checkpoint (format, version, every key present)."""
    obj = load_torch_file(path, map_location)
    if not is_maskgen_checkpoint(obj):
        raise CheckpointError(f"{path}: not a maskgen training checkpoint (no format field)")
    return check_checkpoint(obj, path)


def check_checkpoint(obj: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """Raise CheckpointError unless ``obj`` is a complete version-1 maskgen checkpoint."""
    if obj.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {obj.get('version')!r} is not supported "
            f"(this maskgen reads version {CHECKPOINT_VERSION})"
        )
    missing = [key for key in CHECKPOINT_KEYS if key not in obj]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return obj
