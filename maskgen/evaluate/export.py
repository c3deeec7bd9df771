"""ONNX export of a trained network, checked against PyTorch before it is kept.

The exported graph (torch's ``torch.export``-based exporter) takes ``input``: float32
(N, 3, 112, 112) RGB, (pixel - 127.5) / 127.5, N dynamic; and gives ``embedding`` (N, E), not
normalised, and ``mask_prob`` (N,), the probability that a mask is worn (absent for a model
without a mask head); a wear-class model (``maskgen train --wear-classes``) also gives
``wear_prob`` (N, 5), the probabilities of ``maskgen.masks.wear.WEAR_CLASSES`` (no mask,
correct, nose/mouth/chin uncovered), whose last four sum to ``mask_prob``. ``metadata_props``
carry ``threshold`` (squared-L2 verification threshold; cosine = 1 - threshold / 2),
``network``, ``embedding_size``, ``mask_head``, ``mask_classes``, ``step``,
``maskgen_version`` and a description of the input.

After export, onnxruntime runs the file on a random batch of another size than the one traced
and the outputs are compared with PyTorch's. The largest absolute difference may be 1e-3 for
outputs of magnitude up to 1, and 1e-3 of the largest output beyond (float32 keeps about seven
significant digits: an untrained iresnet's embeddings can reach 1e26). Above that,
ExportParityError is raised and no file is left behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maskgen import __version__
from maskgen.atomic import discard_temporary, make_folder, os_error_in, temp_path_beside
from maskgen.errors import ConfigError, MaskgenError, OutputError

__all__ = [
    "DEFAULT_OPSET",
    "ExportParityError",
    "ExportReport",
    "Parity",
    "check_onnx_name",
    "check_parity",
    "export_onnx",
]

logger = logging.getLogger(__name__)

DEFAULT_OPSET = 18
"""The lowest opset torch's exporter writes natively; onnxruntime >= 1.14 runs it."""

PARITY_TOLERANCE = 1e-3
TRACE_BATCH = 2
CHECK_BATCH = 3
INPUT_DESCRIPTION = "float32 N x 3 x 112 x 112, RGB, (pixel - 127.5) / 127.5"


class ExportParityError(MaskgenError, RuntimeError):
    """The ONNX model's outputs differ from PyTorch's by more than the tolerance."""


@dataclass(frozen=True)
class Parity:
    """onnxruntime against PyTorch on one batch: the largest absolute differences, and the
    largest absolute PyTorch embedding value (the scale the tolerance is relative to above 1)."""

    max_abs_diff_embedding: float
    max_abs_diff_mask_prob: float | None
    embedding_scale: float
    max_abs_diff_wear_prob: float | None = None

    def worst(self) -> float:
        """The largest difference in units of the allowed one (tolerance 1 x max(1, scale))."""
        return max(
            self.max_abs_diff_embedding / max(1.0, self.embedding_scale),
            self.max_abs_diff_mask_prob or 0.0,
            self.max_abs_diff_wear_prob or 0.0,
        )


@dataclass(frozen=True)
class ExportReport:
    """What was exported and how closely onnxruntime matches PyTorch (max abs differences)."""

    path: Path
    opset: int
    network: str
    threshold: float | None
    mask_head: bool
    parity: Parity

    @property
    def max_abs_diff_embedding(self) -> float:
        return self.parity.max_abs_diff_embedding

    @property
    def max_abs_diff_mask_prob(self) -> float | None:
        return self.parity.max_abs_diff_mask_prob

    def summary(self) -> str:
        mask = (
            ""
            if self.max_abs_diff_mask_prob is None
            else f", mask_prob {self.max_abs_diff_mask_prob:.2e}"
        )
        if self.parity.max_abs_diff_wear_prob is not None:
            mask += f", wear_prob {self.parity.max_abs_diff_wear_prob:.2e}"

        return (
            f"wrote {self.path} ({self.network}, opset {self.opset}); onnxruntime vs PyTorch "
            f"max abs difference: embedding {self.max_abs_diff_embedding:.2e} (largest "
            f"value {self.parity.embedding_scale:.3g}){mask}"
        )


EXPORT_PACKAGES = ("torch", "onnx", "onnxscript", "onnxruntime")
"""What an export imports: PyTorch to read and trace the network, onnx and onnxscript for
torch's exporter, onnxruntime for the parity check."""


def _require_packages() -> None:
    """ConfigError naming the extras where a package an export needs is not installed: with
    ``pip install -e .`` alone, ``maskgen export`` ended in a ModuleNotFoundError traceback."""
    import importlib.util

    missing = [name for name in EXPORT_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"export needs PyTorch and ONNX ({', '.join(missing)} not installed): "
            "pip install 'maskgen[train,export]'"
        )


def _check_opset(opset: int) -> None:
    """ConfigError for an opset torch cannot write: below DEFAULT_OPSET, or above the newest
    the installed onnx package knows (``onnx.defs.onnx_opset_version()``), where onnx's
    version converter failed with a traceback on the terminal before maskgen's error line."""
    import onnx

    newest = onnx.defs.onnx_opset_version()
    if not DEFAULT_OPSET <= opset <= newest:
        raise ConfigError(
            f"opset: {opset} is not supported; use {DEFAULT_OPSET} to {newest} "
            f"(the newest the installed onnx {onnx.__version__} knows)"
        )


def check_onnx_name(out_path: Path) -> None:
    """OutputError for an output not named ``.onnx`` (any case): a checkpoint's name,
    ``last.pt``, would hide an ONNX file where training looks for one."""
    if out_path.suffix.lower() != ".onnx":
        raise OutputError(f"{out_path}: the ONNX model's name must end in .onnx")


def _check_output(model_path: Path, out_path: Path) -> None:
    """Refuse an output that would replace the checkpoint or that is not named ``.onnx``."""
    check_onnx_name(out_path)
    if out_path.exists() and model_path.exists() and out_path.samefile(model_path):
        raise OutputError(f"{out_path}: is the checkpoint being exported; name another file")


def export_onnx(
    model_path: str | Path,
    out_path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    rng: np.random.Generator | None = None,
    tolerance: float = PARITY_TOLERANCE,
) -> ExportReport:
    """Export the checkpoint at ``model_path`` to ``out_path`` and check it (see the module
    docstring). ``rng`` draws the check batch (default: seeded 0, so runs are repeatable)."""
    _require_packages()
    from maskgen.nn.inference_model import InferenceModel
    from maskgen.nn.models import load_model

    _check_opset(opset)
    out_path = Path(out_path)
    _check_output(Path(model_path), out_path)
    network, info = load_model(model_path, map_location="cpu")
    wrapped = InferenceModel(network, bool(info["mask_head"])).eval()
    tmp = _temp_path(out_path)
    try:
        with _interrupts_kept():
            _torch_export(wrapped, tmp, opset, _output_names(info))
        metadata = _metadata(info)
        written_opset = _finish_model(tmp, metadata)
        if written_opset != opset:
            raise ConfigError(
                f"opset: torch wrote opset {written_opset}, not the {opset} asked for "
                f"(use --opset {written_opset})"
            )
        parity = check_parity(wrapped, tmp, rng or np.random.default_rng(0), batch=CHECK_BATCH)
        if not np.isfinite(parity.worst()) or parity.worst() > tolerance:
            raise ExportParityError(
                f"{out_path}: onnxruntime differs from PyTorch: max abs difference "
                f"{parity.max_abs_diff_embedding:.3g} in the embedding (largest value "
                f"{parity.embedding_scale:.3g}), {parity.max_abs_diff_mask_prob} in mask_prob, "
                f"{parity.max_abs_diff_wear_prob} in wear_prob; "
                f"tolerance {tolerance:g}: the export was not kept"
            )
        os.replace(tmp, out_path)
    except (OSError, RuntimeError) as error:
        cause = os_error_in(error)
        if cause is None or isinstance(error, MaskgenError):
            raise
        # a full disk was a traceback ending in torch's or onnx's own write error
        raise OutputError(f"{out_path}: cannot write here ({cause.strerror or cause})") from error
    finally:
        discard_temporary(tmp)
    return ExportReport(
        path=out_path,
        opset=written_opset,
        network=str(info["network"]),
        threshold=info.get("threshold"),
        mask_head=bool(info["mask_head"]),
        parity=parity,
    )


def check_parity(
    model: Any, onnx_path: str | Path, rng: np.random.Generator, *, batch: int = CHECK_BATCH
) -> Parity:
    """Compare PyTorch ``model`` (an InferenceModel) and onnxruntime on one random batch of
    inputs in [-1, 1]."""
    import onnxruntime as ort
    import torch

    x = rng.uniform(-1.0, 1.0, size=(batch, 3, 112, 112)).astype(np.float32)
    with torch.inference_mode():
        expected = [t.numpy() for t in model(torch.from_numpy(x))]
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = session.run(names, {"input": x})
    diffs = [float(np.max(np.abs(e - g))) for e, g in zip(expected, got, strict=True)]
    return Parity(
        max_abs_diff_embedding=diffs[0],
        max_abs_diff_mask_prob=diffs[1] if len(diffs) > 1 else None,
        embedding_scale=float(np.max(np.abs(expected[0]))),
        max_abs_diff_wear_prob=diffs[2] if len(diffs) > 2 else None,
    )


def _output_names(info: dict[str, Any]) -> list[str]:
    """The graph's outputs, in InferenceModel's order."""
    if not info["mask_head"]:
        return ["embedding"]
    if int(info.get("mask_classes", 2)) != 2:
        return ["embedding", "mask_prob", "wear_prob"]
    return ["embedding", "mask_prob"]


def _temp_path(out_path: Path) -> Path:
    """A temporary name beside ``out_path`` (its folder created) for the exporter to fill."""
    make_folder(out_path.parent)
    return temp_path_beside(out_path)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's chatter (e.g. "torchvision is not installed") for the export."""
    # onnxscript's version converter warns on every opset above torch's own (its fallback works)
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [each.level for each in loggers]
    for each in loggers:
        each.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        for each, level in zip(loggers, levels, strict=True):
            each.setLevel(level)


@contextlib.contextmanager
def _interrupts_kept() -> Iterator[None]:
    """Let an interrupt stop the block even where the code inside catches it.

    torch's exporter catches the KeyboardInterrupt of a Ctrl-C in places and raises its own
    error in its place (a 120-line TorchExportError about a half-imported module), or carries
    on. While the block runs, the Python handlers of SIGINT and SIGTERM are wrapped: what they
    raise is remembered, and raised again when the block ends, whatever the block did."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised: list[BaseException] = []
    wrapped: dict[int, Any] = {}

    def keep(signum: int, frame: Any) -> None:
        try:
            wrapped[signum](signum, frame)
        except BaseException as exc:
            raised.append(exc)
            raise

    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if callable(handler):
            wrapped[signum] = handler
            signal.signal(signum, keep)
    try:
        yield
    except BaseException:
        if raised:
            raise raised[0] from None
        raise
    finally:
        for signum, handler in wrapped.items():
            signal.signal(signum, handler)
    if raised:
        raise raised[0]


def _torch_export(model: Any, path: Path, opset: int, outputs: list[str]) -> None:
    import torch

    example = torch.zeros(TRACE_BATCH, 3, 112, 112)
    with _quiet_exporter():
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["input"],
            output_names=outputs,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            opset_version=opset,
            external_data=False,
            verbose=False,
        )


def _metadata(info: dict[str, Any]) -> dict[str, str]:
    threshold = info.get("threshold")
    step = info.get("step")
    return {
        "network": str(info["network"]),
        "embedding_size": str(int(info["embedding_size"])),
        "mask_head": "true" if info["mask_head"] else "false",
        "mask_classes": str(int(info.get("mask_classes", 2))) if info["mask_head"] else "none",
        "threshold": "none" if threshold is None else repr(float(threshold)),
        "step": "none" if step is None else str(int(step)),
        "maskgen_version": __version__,
        "input": INPUT_DESCRIPTION,
    }


def _finish_model(path: Path, metadata: dict[str, str]) -> int:
    """Add ``metadata`` as metadata_props, check the graph, save; returns the default-domain
    opset."""
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "maskgen"
    model.producer_version = __version__
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return next(op.version for op in model.opset_import if op.domain in ("", "ai.onnx"))
