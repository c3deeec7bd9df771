"""Fixtures for the evaluation tests: small networks saved as maskgen checkpoints, and exports."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.nn.helpers import write_network_checkpoint


def write_tiny_checkpoint(
    path: Path, *, seed: int = 0, mask_head: bool = True, threshold: float | None = 1.25
) -> Path:
    """A freshly initialised tiny network (fixed seed) saved the way the trainer saves it."""
    torch = pytest.importorskip("torch")
    from maskgen.nn.models import create_model

    torch.manual_seed(seed)
    network = create_model("tiny", mask_head=mask_head).eval()
    return write_network_checkpoint(path, network, threshold=threshold)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "last.pt")


@pytest.fixture(scope="session")
def tiny_checkpoint_no_mask(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-no-mask") / "last.pt"
    return write_tiny_checkpoint(path, mask_head=False, threshold=None)


@pytest.fixture(scope="session")
def tiny_onnx(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnxruntime")
    from maskgen.evaluate.export import export_onnx

    out = tmp_path_factory.mktemp("tiny-onnx") / "model.onnx"
    export_onnx(tiny_checkpoint, out)
    return out
