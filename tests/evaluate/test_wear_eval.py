"""Wear-class evaluation and export: the confusion matrix, its report, and ``wear_prob``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from maskgen.masks.wear import WEAR_CLASSES
from maskgen.nn.mask_usage import wear_class_accuracy, wear_confusion

pytestmark = pytest.mark.torch

torch = pytest.importorskip("torch")

WEAR = "correct=0.25,nose_uncovered=0.25,mouth_uncovered=0.25,chin_uncovered=0.25"


def test_confusion_matrix_of_a_known_case() -> None:
    expected = np.array([0, 1, 1, 2, 4, 4])
    predicted = np.array([0, 1, 2, 2, 3, 4])
    prob = np.eye(5, dtype=np.float32)[predicted] * 0.6 + 0.08
    confusion = wear_confusion(expected, prob)
    want = np.zeros((5, 5), dtype=np.int64)
    for e, p in zip(expected, predicted, strict=True):
        want[e, p] += 1
    assert confusion.shape == (5, 5) and np.array_equal(confusion, want)
    assert wear_class_accuracy(confusion) == [1.0, 0.5, 1.0, None, 0.5]


@pytest.fixture(scope="module")
def wear_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from maskgen.nn.models import create_model
    from tests.nn.helpers import write_network_checkpoint

    torch.manual_seed(1)
    network = create_model("tiny", mask_classes=5).eval()
    return write_network_checkpoint(tmp_path_factory.mktemp("wear") / "last.pt", network)


@pytest.fixture(scope="module")
def wear_twin(rec_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from maskgen.cli.main import cli

    out = tmp_path_factory.mktemp("wear-twin")
    source = rec_dir / "lfw-mini" / "train.rec"
    args = ["augment", str(source), "-o", str(out), "--wear", WEAR, "--workers", "1", "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return out / "train.rec"


def test_eval_reports_the_confusion_of_the_twin_labels(
    wear_checkpoint: Path, wear_twin: Path, tmp_path: Path
) -> None:
    from maskgen.cli.main import cli
    from maskgen.formats.recordio import RecordIOReader

    reader = RecordIOReader(wear_twin)
    labels = [reader.read(k).label for k in reader.image_keys()]
    counts = np.bincount([int(lab[2]) if lab[1] >= 0.5 else 0 for lab in labels], minlength=5)
    out = tmp_path / "r.json"
    md = tmp_path / "r.md"
    args = ["eval", "--model", str(wear_checkpoint), "--rec", str(wear_twin), "-q"]
    result = CliRunner().invoke(cli, [*args, "--json", str(out), "--markdown", str(md)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())["results"][str(wear_twin)]
    confusion = np.array(figures["wear_confusion"])
    assert confusion.shape == (5, 5)
    assert np.array_equal(confusion.sum(axis=1), counts)  # rows are the labelled classes
    assert figures["wear_accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    assert list(figures["wear_class_accuracy"]) == list(WEAR_CLASSES)
    assert figures["mask_accuracy"] is not None
    assert "Wear classes of" in result.output and "chin_uncovered" in md.read_text()


def test_export_wear_prob_agrees_with_mask_prob(wear_checkpoint: Path, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from maskgen.evaluate.export import export_onnx

    report = export_onnx(wear_checkpoint, tmp_path / "m.onnx")
    assert report.parity.max_abs_diff_wear_prob is not None
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["embedding", "mask_prob", "wear_prob"]
    assert session.get_modelmeta().custom_metadata_map["mask_classes"] == "5"
    x = np.random.default_rng(0).uniform(-1, 1, size=(3, 3, 112, 112)).astype(np.float32)
    _, mask_prob, wear_prob = session.run(None, {"input": x})
    assert wear_prob.shape == (3, 5)
    assert np.allclose(wear_prob.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(mask_prob, wear_prob[:, 1:].sum(axis=1), atol=1e-5)
