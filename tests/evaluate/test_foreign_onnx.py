"""ONNX recognition models not exported by maskgen (insightface's ``w600k_r50.onnx``,
``glintr100.onnx``, arcface_torch exports): any input and output names, fed as insightface's
``ArcFaceONNX`` feeds them. The models are tiny torch networks exported here."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from maskgen.cli.main import cli
from maskgen.errors import CheckpointError
from maskgen.evaluate import Embedder
from maskgen.formats.verification import read_verification_bin
from maskgen.nn.embedder import graph_normalises_input, pixel_normalisation
from maskgen.nn.preprocess import decode_face
from maskgen.nn.verification import evaluate_verification

pytestmark = pytest.mark.torch

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

EMBEDDING = 16
INPUT_NAME = "input.1"  # the names torch's exporter gave insightface's models
OUTPUT_NAME = "683"


class _TinyRecognition(torch.nn.Module):
    """(N, 3, 112, 112) -> (N, 16); with ``normalise``, ``(x - 127.5) * (1 / 128)`` first,
    in the graph, as MXNet's arcface models do; with ``feature_map``, a 4-D output first."""

    def __init__(self, *, normalise: bool = False, feature_map: bool = False) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv = torch.nn.Conv2d(3, 4, kernel_size=8, stride=8)
        self.fc = torch.nn.Linear(4 * 14 * 14, EMBEDDING)
        self.normalise = normalise
        self.feature_map = feature_map

    def forward(self, x):  # type: ignore[no-untyped-def]
        if self.normalise:
            x = (x - 127.5) * 0.0078125
        features = self.conv(x)
        embedding = self.fc(features.flatten(1))
        return (features, embedding) if self.feature_map else embedding


def _export(net: torch.nn.Module, path: Path, *, outputs: list[str], batch: int | None) -> Path:
    """torch's exporter, as arcface_torch's torch2onnx uses it; ``batch`` None: dynamic."""
    example = torch.zeros(batch or 2, 3, 112, 112)
    dynamic = None if batch else ({0: torch.export.Dim("batch")},)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net.eval(),
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=outputs,
            dynamic_shapes=dynamic,
            opset_version=18,
            external_data=False,
            verbose=False,
        )
    return path


def _rename_head(path: Path, names: dict[str, str]) -> Path:
    """Rename the graph's first Sub and Mul nodes the way MXNet's converter names them."""
    model = onnx.load(str(path))
    for node in model.graph.node:
        if node.op_type in names:
            node.name = names.pop(node.op_type)
    assert not names, f"the export has no {names} node"
    onnx.save(model, str(path))
    return path


def _flip_summed(net: torch.nn.Module, faces: np.ndarray, *, normalise: bool) -> np.ndarray:
    """The reference: the torch network on RGB faces, (x - 127.5) / 127.5 unless the network
    normalises itself, face plus mirror image, L2-normalised (maskgen's Embedder)."""
    x = torch.from_numpy(faces).permute(0, 3, 1, 2).float()
    if normalise:
        x = (x - 127.5) / 127.5
    with torch.inference_mode():
        out = net(x) + net(torch.flip(x, dims=[3]))
    out = out.numpy()
    return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    """Seven (112, 112, 3) uint8 RGB faces (random pixels: a unit test of the feeding)."""
    return np.random.default_rng(5).integers(0, 256, (7, 112, 112, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def plain_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("foreign") / "w600k_tiny.onnx"
    return _export(_TinyRecognition(), out, outputs=[OUTPUT_NAME], batch=None)


def test_foreign_model_is_fed_like_insightface(plain_onnx: Path, faces: np.ndarray) -> None:
    """Input 'input.1', output '683', no normalisation in the graph: RGB, (x - 127.5) / 127.5."""
    embedder = Embedder.from_path(plain_onnx, device="cpu", batch_size=3)
    result = embedder.embed_images(list(faces))
    reference = _flip_summed(_TinyRecognition(), faces, normalise=True)
    assert result.embeddings.shape == (7, EMBEDDING)
    assert np.max(np.abs(result.embeddings - reference)) < 1e-5
    # RGB, not BGR: the channel order matters to the network
    bgr = _flip_summed(_TinyRecognition(), faces[..., ::-1].copy(), normalise=True)
    assert np.max(np.abs(result.embeddings - bgr)) > 1e-2
    assert result.mask_prob is None and result.wear_prob is None
    info = embedder.info
    assert (info.format, info.mask_head, info.threshold, info.embedding_size) == (
        "onnx", False, None, EMBEDDING
    )  # fmt: skip
    assert info.input == "RGB, (x - 127.5) / 127.5"


def test_graph_that_normalises_itself_gets_raw_pixels(tmp_path: Path, faces: np.ndarray) -> None:
    """A graph whose first nodes are named as MXNet's (``_minusscalar0``, ``_mulscalar0``)
    subtracts and scales itself: fed 0-255 (insightface's mean 0, std 1)."""
    net = _TinyRecognition(normalise=True)
    exported = _export(net, tmp_path / "mxnet_style.onnx", outputs=["fc1"], batch=None)
    reference = _flip_summed(net, faces, normalise=False)  # raw pixels in
    twice = _flip_summed(net, faces, normalise=True)  # normalised, then again in the graph
    # insightface tests the node names: torch's own names ('node_sub') are not recognised,
    # so insightface (and maskgen) would normalise before the graph does
    unrenamed = Embedder.from_path(exported, device="cpu").embed_images(list(faces))
    assert np.max(np.abs(unrenamed.embeddings - twice)) < 1e-5
    renamed = _rename_head(exported, {"Sub": "_minusscalar0", "Mul": "_mulscalar0"})
    embedder = Embedder.from_path(renamed, device="cpu")
    result = embedder.embed_images(list(faces))
    assert np.max(np.abs(result.embeddings - reference)) < 1e-5
    assert np.max(np.abs(result.embeddings - twice)) > 1e-2
    assert embedder.info.input.startswith("RGB 0-255, not normalised")


def test_insightface_normalisation_rule() -> None:
    """Both a Sub/_minus and a Mul/_mul node name among the first 8 nodes, or neither counts."""
    assert graph_normalises_input(["_minusscalar0", "_mulscalar0", "conv0"])
    assert graph_normalises_input(["Constant_0", "Sub_1", "Constant_2", "Mul_3"])
    assert not graph_normalises_input(["Sub_0", "Conv_1"])  # insightface needs both
    assert not graph_normalises_input(["node_sub", "node_mul"])  # names, not op types
    assert not graph_normalises_input([f"Conv_{i}" for i in range(8)] + ["Sub_8", "Mul_9"])
    assert pixel_normalisation(["_minusscalar0", "_mulscalar0"]) == (0.0, 1.0)
    assert pixel_normalisation(["Conv_0"]) == (127.5, 127.5)


def test_first_2d_output_and_a_fixed_batch(tmp_path: Path, faces: np.ndarray) -> None:
    """Several outputs: the first 2-D one is the embedding. A model exported with a fixed
    batch (4) gets batches of 4, the last padded."""
    net = _TinyRecognition(feature_map=True)
    path = _export(net, tmp_path / "two.onnx", outputs=["features", "embedding_out"], batch=4)
    result = Embedder.from_path(path, device="cpu", batch_size=5).embed_images(list(faces))
    x = torch.from_numpy(faces).permute(0, 3, 1, 2).float().sub(127.5).div(127.5)
    with torch.inference_mode():
        raw = net(x)[1] + net(torch.flip(x, dims=[3]))[1]
    reference = (raw / raw.norm(dim=1, keepdim=True)).numpy()
    assert np.max(np.abs(result.embeddings - reference)) < 1e-5


def _graph_model(path: Path, input_shape: list, output_shape: list, op: str) -> Path:
    from onnx import TensorProto, helper

    nodes = [helper.make_node(op, ["x"], ["y"])]
    graph = helper.make_graph(
        nodes,
        "other",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_models_that_are_no_face_recognition_are_refused(tmp_path: Path) -> None:
    wrong_size = _graph_model(tmp_path / "r224.onnx", ["N", 3, 224, 224], ["N", 3, 1, 1],
                              "GlobalAveragePool")  # fmt: skip
    with pytest.raises(CheckpointError, match=r"input 'x' is \['N', 3, 224, 224\]"):
        Embedder.from_path(wrong_size)
    no_2d = _graph_model(tmp_path / "map.onnx", ["N", 3, 112, 112], ["N", 3, 1, 1],
                         "GlobalAveragePool")  # fmt: skip
    with pytest.raises(CheckpointError, match=r"no 2-D output \(has 'y' \['N', 3, 1, 1\]\)"):
        Embedder.from_path(no_2d)


def test_cli_refuses_a_wrong_input_shape_in_one_line(tmp_path: Path) -> None:
    bad = _graph_model(tmp_path / "r224.onnx", ["N", 3, 224, 224], ["N", 3, 1, 1],
                       "GlobalAveragePool")  # fmt: skip
    bin_path = tmp_path / "x.bin"  # never read: the model is refused first
    bin_path.write_bytes(b"")
    result = CliRunner().invoke(cli, ["eval", "--model", str(bad), "--bin", str(bin_path)])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in lines[0]
    assert "r224.onnx" in lines[0] and "(N, 3, 112, 112)" in lines[0]


@pytest.mark.shared
def test_eval_of_a_foreign_model_on_a_bin(
    plain_onnx: Path, lfw_fold1_bin: Path, tmp_path: Path
) -> None:
    """``maskgen eval --model foreign.onnx --bin lfw-fold1.bin``: the accuracy of the torch
    network's own flip-summed embeddings; no mask head, so mask accuracy n/a."""
    out = tmp_path / "r.json"
    args = ["eval", "--model", plain_onnx, "--bin", lfw_fold1_bin, "--json", out, "-q"]
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    row = result.stdout.splitlines()[2].split()
    assert row[0] == str(lfw_fold1_bin) and row[-2:] == ["n/a", "1200"]
    data = json.loads(out.read_text())
    model = data["model"]
    assert model["mask_head"] is False and model["threshold"] is None
    assert model["format"] == "onnx" and model["embedding_size"] == EMBEDDING
    images, issame = read_verification_bin(lfw_fold1_bin)
    faces = np.stack([decode_face(d, "bin", i) for i, d in enumerate(images)])
    reference = _flip_summed(_TinyRecognition(), faces, normalise=True)
    expected = evaluate_verification(reference, issame, 10)
    got = data["results"][str(lfw_fold1_bin)]
    assert got["accuracy"] == pytest.approx(expected.accuracy)
    assert got["mask_accuracy"] is None and got["images"] == 1200


@pytest.mark.shared
def test_embed_and_verify_photos_with_a_foreign_model(
    plain_onnx: Path, lfw_dir: Path, tmp_path: Path
) -> None:
    """No threshold comes with another model: verify says to pass --threshold."""
    photos = [str(p) for p in sorted((lfw_dir / "George_W_Bush").glob("*.jpg"))[:2]]
    npz = tmp_path / "e.npz"
    result = CliRunner().invoke(cli, ["embed", *photos, "--model", str(plain_onnx), "-o", str(npz)])
    assert result.exit_code == 0, result.output
    with np.load(npz) as data:
        assert data["embeddings"].shape == (2, EMBEDDING) and "mask_prob" not in data
        cosine = float(data["embeddings"][0] @ data["embeddings"][1])
    verify = ["verify", *photos, "--model", str(plain_onnx)]
    refused = CliRunner().invoke(cli, verify)
    assert refused.exit_code == 1 and refused.stdout == ""
    assert refused.stderr.splitlines() == [
        f"Error: {plain_onnx}: no verification threshold stored with this model; pass "
        "--threshold T (squared L2, 0-4: the 'threshold' that `maskgen eval --bin X.bin "
        "--json R.json` reports for a set)"
    ]
    from maskgen.errors import ConfigError
    from maskgen.evaluate.photos import verification_threshold

    with pytest.raises(ConfigError, match=r"no verification threshold .*; pass threshold=T \("):
        verification_threshold(Embedder.from_path(plain_onnx, device="cpu"))  # the library's
    given = CliRunner().invoke(cli, [*verify, "--threshold", "1.2"])
    assert given.exit_code == 0, given.output
    lines = given.stdout.splitlines()
    assert float(lines[0].split(":")[1]) == pytest.approx(cosine, abs=1e-4)
    assert lines[2] == f"verdict: {'same person' if cosine > 0.4 else 'different people'}"
    assert len(lines) == 3  # no mask probabilities without a mask head


def test_an_empty_batch_gives_empty_results(
    tiny_onnx: Path, plain_onnx: Path, tmp_path: Path
) -> None:
    """``embed_batch`` takes any N, none included: (0, E) embeddings, as onnxruntime gives a
    dynamic batch of none (maskgen's export: (0,) mask probabilities), and a fixed-batch
    model its padding's outputs, all dropped."""
    fixed = _export(_TinyRecognition(), tmp_path / "b4.onnx", outputs=["e"], batch=4)
    none = np.zeros((0, 112, 112, 3), dtype=np.uint8)
    for path, size in ((tiny_onnx, 512), (plain_onnx, EMBEDDING), (fixed, EMBEDDING)):
        embedder = Embedder.from_path(path, device="cpu")
        result = embedder.embed_batch(none)
        assert result.embeddings.shape == (0, size) and result.embeddings.dtype == np.float32
        if embedder.info.mask_head:
            assert result.mask_prob is not None and result.mask_prob.shape == (0,)
        else:
            assert result.mask_prob is None
