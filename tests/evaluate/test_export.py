"""ONNX export: signature, metadata, dynamic batch, parity with PyTorch, loud failure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from maskgen.errors import ConfigError
from tests.conftest import run_maskgen_limited, run_maskgen_without

pytestmark = pytest.mark.torch

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def test_signature_and_metadata(tiny_onnx: Path) -> None:
    session = ort.InferenceSession(str(tiny_onnx), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == "input" and inp.type == "tensor(float)"
    assert inp.shape[1:] == [3, 112, 112] and not isinstance(inp.shape[0], int)  # dynamic
    outputs = {o.name: o.shape for o in session.get_outputs()}
    assert list(outputs) == ["embedding", "mask_prob"]
    assert outputs["embedding"][1] == 512 and len(outputs["mask_prob"]) == 1
    meta = session.get_modelmeta().custom_metadata_map
    assert float(meta["threshold"]) == 1.25
    assert meta["network"] == "tiny" and meta["mask_head"] == "true"
    assert meta["maskgen_version"] and "127.5" in meta["input"]


def test_parity_on_another_batch_size(tiny_checkpoint: Path, tiny_onnx: Path) -> None:
    from maskgen.nn.models import load_model
    from maskgen.nn.preprocess import preprocess_faces

    # five faces of random pixels: a batch size other than the one traced at export
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, size=(5, 112, 112, 3), dtype=np.uint8)
    x = preprocess_faces(faces)
    network, _ = load_model(tiny_checkpoint)
    with torch.inference_mode():
        embedding, logits = network(torch.from_numpy(x))
    session = ort.InferenceSession(str(tiny_onnx), providers=["CPUExecutionProvider"])
    onnx_embedding, onnx_prob = session.run(["embedding", "mask_prob"], {"input": x})
    assert onnx_embedding.shape == (5, 512) and onnx_prob.shape == (5,)
    assert np.max(np.abs(onnx_embedding - embedding.numpy())) < 1e-4
    assert np.max(np.abs(onnx_prob - torch.softmax(logits, 1)[:, 1].numpy())) < 1e-5


def test_report_gives_the_measured_differences(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from maskgen.evaluate.export import export_onnx

    report = export_onnx(tiny_checkpoint, tmp_path / "m.onnx", rng=np.random.default_rng(1))
    assert report.path.is_file() and report.opset == 18 and report.threshold == 1.25
    assert 0.0 <= report.max_abs_diff_embedding < 1e-4
    assert report.max_abs_diff_mask_prob is not None and report.max_abs_diff_mask_prob < 1e-5
    assert "max abs difference" in report.summary()


def test_failed_parity_keeps_no_file(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from maskgen.evaluate.export import ExportParityError, export_onnx

    # a tolerance nothing can meet (float32 rounding differs between the two runtimes)
    with pytest.raises(ExportParityError, match="differs from PyTorch: max abs difference"):
        export_onnx(tiny_checkpoint, tmp_path / "m.onnx", tolerance=-1.0)
    assert list(tmp_path.iterdir()) == []


def test_old_opset_is_refused(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from maskgen.evaluate.export import export_onnx

    with pytest.raises(ConfigError, match="opset"):
        export_onnx(tiny_checkpoint, tmp_path / "m.onnx", opset=11)


def test_an_opset_onnx_does_not_know_is_one_line_and_the_newest_exports_quietly(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """`maskgen export --opset 99` printed onnxscript's warnings and a RuntimeError traceback
    from onnx's version converter ("invalid version (must be between 1 and 28)") before its
    own error line; the newest opset onnx knows exported with two WARNING lines. Now the first
    is one line naming the range, before any work, and the second prints only its summary."""
    newest = onnx.defs.onnx_opset_version()
    out = tmp_path / "m.onnx"
    done = run_maskgen_limited(
        ["export", "--model", tiny_checkpoint, "-o", out, "--opset", newest + 1], None
    )
    assert done.returncode == 1
    assert done.stderr == (
        f"Error: opset: {newest + 1} is not supported; use 18 to {newest} "
        f"(the newest the installed onnx {onnx.__version__} knows)\n"
    )
    assert list(tmp_path.iterdir()) == []
    done = run_maskgen_limited(
        ["export", "--model", tiny_checkpoint, "-o", out, "--opset", newest], None
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(f"wrote {out} (tiny, opset {newest}); onnxruntime vs")
    assert len(done.stderr.splitlines()) == 1, done.stderr
    opsets = {op.domain: op.version for op in onnx.load(str(out)).opset_import}
    assert opsets[""] == newest


def test_model_without_mask_head(tiny_checkpoint_no_mask: Path, tmp_path: Path) -> None:
    from maskgen.evaluate.export import export_onnx

    report = export_onnx(tiny_checkpoint_no_mask, tmp_path / "m.onnx")
    assert report.max_abs_diff_mask_prob is None and not report.mask_head
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["embedding"]
    assert session.get_modelmeta().custom_metadata_map["threshold"] == "none"


@pytest.mark.parametrize("package", ["torch", "onnx", "onnxruntime"])
def test_a_missing_package_is_one_line_naming_the_extras(
    package: str, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """`maskgen export` after `pip install -e .` (no [train]/[export] extras) ended in a
    ModuleNotFoundError traceback ("No module named 'torch'"); it now says what to install,
    before any work and without leaving a file. A package is hidden by a None in sys.modules,
    which makes importing it fail as if it were not installed."""

    out = tmp_path / "model.onnx"
    result = run_maskgen_without(package, ["export", "--model", tiny_checkpoint, "-o", out])
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        f"Error: export needs PyTorch and ONNX ({package} not installed): "
        "pip install 'maskgen[train,export]'\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_export_that_cannot_be_written_is_one_line(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """The disk fills up during the export (here: the OS refuses any file over 100 KB, as a
    quota does), in the real program: the OSError from torch's ONNX writer reached the
    command line as a traceback; now one line naming the file, exit code 1, nothing left."""
    out = tmp_path / "out"
    out.mkdir()

    done = run_maskgen_limited(
        ["export", "--model", tiny_checkpoint, "-o", out / "m.onnx"], 100_000
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"Error: {out / 'm.onnx'}: cannot write here (File too large)"
    ), done.stderr
    assert "Traceback" not in done.stderr
    assert list(out.iterdir()) == []


def test_an_export_under_a_regular_file_is_refused_before_any_work(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """It said "cannot write here (File exists)", the OS's reason for a mkdir over a file,
    after building the model; now the reason embed and eval give, before anything is built."""
    from click.testing import CliRunner

    from maskgen.cli.main import cli

    (tmp_path / "afile").write_text("hi")
    out = tmp_path / "afile" / "m.onnx"
    result = CliRunner().invoke(cli, ["export", "--model", str(tiny_checkpoint), "-o", str(out)])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {out}: {tmp_path / 'afile'} is a file, not a folder"


def test_an_export_made_fixed_batch_is_fed_that_many_faces_a_run(
    tiny_onnx: Path, tmp_path: Path
) -> None:
    """Deployment often fixes an export's batch (onnxruntime's ``make_dynamic_shape_fixed``);
    eval, embed and verify fed such a model 128 faces at once and ended in onnxruntime's
    traceback (``Got invalid dimensions for input``). It is fed its batch, the last one
    padded, and embeds as the dynamic export does."""
    from onnxruntime.tools.onnx_model_utils import fix_output_shapes, make_dim_param_fixed

    from maskgen.evaluate import Embedder

    model = onnx.load(str(tiny_onnx))
    (batch_param,) = {model.graph.input[0].type.tensor_type.shape.dim[0].dim_param}
    make_dim_param_fixed(model.graph, batch_param, 4)  # 5 faces and their mirrors: 4, 4, 2
    fix_output_shapes(model)
    fixed = tmp_path / "fixed4.onnx"
    onnx.save(model, str(fixed))
    faces = np.random.default_rng(0).integers(0, 256, size=(5, 112, 112, 3), dtype=np.uint8)
    dynamic = Embedder.from_path(tiny_onnx).embed_images(faces)
    four_at_a_time = Embedder.from_path(fixed).embed_images(faces)
    assert four_at_a_time.embeddings.shape == (5, 512)
    assert np.allclose(four_at_a_time.embeddings, dynamic.embeddings, atol=1e-5)
    assert np.allclose(four_at_a_time.mask_prob, dynamic.mask_prob, atol=1e-6)
