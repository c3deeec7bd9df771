"""``maskgen eval``, ``export``, ``embed`` and ``verify`` through click's CliRunner: outputs,
exit codes, and one clear line for each kind of bad input."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner, Result

from maskgen.cli.main import cli

pytestmark = pytest.mark.torch

torch = pytest.importorskip("torch")


def _write_checkpoint(path: Path, network_state: dict, network: str = "tiny") -> Path:
    from maskgen.nn.checkpoint import write_checkpoint

    return write_checkpoint(
        path,
        network=network,
        embedding_size=512,
        mask_head=True,
        model=network_state,
        arcface={},
        optimizer={},
        scheduler={},
        scaler={},
        step=3,
        epoch=0,
        config={},
        rng={},
        data_position={},
        threshold=1.3,
    )


@pytest.fixture(scope="module")
def tiny_state() -> dict:
    from maskgen.nn.models import create_model

    torch.manual_seed(1)
    return create_model("tiny").state_dict()


@pytest.fixture(scope="module")
def checkpoint(tiny_state: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_checkpoint(tmp_path_factory.mktemp("run") / "last.pt", tiny_state)


def _run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def _unread(folder: Path) -> Path:
    """An existing file for a --bin the command refuses to reach (the model fails first)."""
    path = folder / "x.bin"
    path.touch()
    return path


def _one_line_error(result: Result, *fragments: str) -> None:
    """Exit 1, and the error as one ``Error: ...`` line naming every fragment, last on stderr
    (after at most the command's own "model ..." line), with no traceback."""
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert errors == lines[-1:] and len(lines) <= 2, result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from maskgen.cli.main import cli; "
        "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0, r.output; "
        "assert 'eval' in r.output and 'verify' in r.output; "
        "print('torch' in sys.modules, 'onnxruntime' in sys.modules)"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.shared
def test_eval_writes_table_json_and_markdown(
    checkpoint: Path, lfw_fold1_bin: Path, rec_dir: Path, tmp_path: Path
) -> None:
    rec = rec_dir / "lfw-mini-flat" / "train.rec"
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    result = _run(
        "eval", "--model", checkpoint, "--bin", lfw_fold1_bin, "--rec", rec,
        "--json", out_json, "--markdown", out_md, "--batch-size", "50", "--device", "cpu",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = result.stdout.splitlines()
    assert table[0].split()[:2] == ["Set", "Verification"] and len(table) == 4
    assert table[2].startswith(str(lfw_fold1_bin)) and table[2].endswith("1200")
    data = json.loads(out_json.read_text())
    assert list(data["results"]) == [str(lfw_fold1_bin), str(rec)]
    for entry in data["results"].values():
        assert {"accuracy", "accuracy_std", "mask_accuracy", "images"} <= set(entry)
    assert 0.0 <= data["results"][str(lfw_fold1_bin)]["accuracy"] <= 1.0
    assert data["results"][str(rec)]["accuracy"] is None
    assert data["results"][str(rec)]["images"] == 294
    assert data["model"]["network"] == "tiny" and data["model"]["threshold"] == 1.3
    assert f"`{lfw_fold1_bin}`" in out_md.read_text()


def test_a_set_given_twice_is_refused_before_any_work(
    checkpoint: Path, lfw_fold1_bin: Path, tmp_path: Path
) -> None:
    """As --bin and --masked-bin, the JSON (keyed by path) kept only the last result."""
    out = tmp_path / "r.json"
    args = ("eval", "--model", checkpoint, "--json", out)
    result = _run(*args, "--bin", lfw_fold1_bin, "--masked-bin", lfw_fold1_bin)
    assert result.exit_code == 2
    assert "given twice (--bin and --masked-bin)" in result.stderr and not out.exists()
    result = _run(*args, "--bin", lfw_fold1_bin, "--bin", lfw_fold1_bin)
    assert result.exit_code == 2 and "given twice (--bin and --bin)" in result.stderr


def test_a_json_that_cannot_be_written_is_refused_before_any_work(
    checkpoint: Path, lfw_fold1_bin: Path, tmp_path: Path
) -> None:
    """Under a file, the JSON failed only after the whole evaluation; a missing folder is
    still made."""
    (tmp_path / "notes.txt").write_text("x")
    out = tmp_path / "notes.txt" / "r.json"
    result = _run("eval", "--model", checkpoint, "--bin", lfw_fold1_bin, "--json", out)
    _one_line_error(result, str(out), "is a file, not a folder")
    assert result.stdout == ""  # refused before evaluating
    out = tmp_path / "new" / "folder" / "r.json"
    result = _run("eval", "--model", checkpoint, "--bin", lfw_fold1_bin, "--json", out)
    assert result.exit_code == 0 and json.loads(out.read_text())["results"]


def test_eval_needs_a_set(checkpoint: Path) -> None:
    result = _run("eval", "--model", checkpoint)
    assert result.exit_code == 2 and "nothing to evaluate" in result.stderr


def test_not_a_verification_pickle(checkpoint: Path, tmp_path: Path) -> None:
    path = tmp_path / "notes.bin"
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    _one_line_error(_run("eval", "--model", checkpoint, "--bin", path), "notes.bin", "not a")


def test_images_not_112(checkpoint: Path, tmp_path: Path) -> None:
    ok, jpeg = cv2.imencode(".jpg", np.full((250, 250, 3), 90, np.uint8))
    assert ok
    path = tmp_path / "raw.bin"
    path.write_bytes(pickle.dumps(([jpeg.tobytes()] * 20, [True] * 10)))
    _one_line_error(
        _run("eval", "--model", checkpoint, "--masked-bin", path), "raw.bin", "250x250", "112x112"
    )


def test_checkpoint_of_another_architecture(tiny_state: dict, tmp_path: Path) -> None:
    # tiny weights under the name of an iresnet, and a bare tiny state dict
    mislabelled = _write_checkpoint(tmp_path / "r18.pt", tiny_state, network="r18")
    _one_line_error(_run("eval", "--model", mislabelled, "--bin", _unread(tmp_path)), "r18.pt")
    bare = tmp_path / "backbone.pth"
    torch.save(tiny_state, bare)
    _one_line_error(_run("export", "--model", bare, "-o", tmp_path / "m.onnx"), "backbone.pth")


def test_export_never_replaces_the_checkpoint(checkpoint: Path, tmp_path: Path) -> None:
    """``-o`` naming the checkpoint itself, or any file not named .onnx, is refused before
    anything is written: the checkpoint keeps its bytes and training can still resume."""
    before = checkpoint.read_bytes()
    for out in (checkpoint, tmp_path / "m.pt"):  # a bad option value: a usage error
        result = _run("export", "--model", checkpoint, "-o", out)
        assert result.exit_code == 2, result.output
        assert result.stderr.splitlines()[-1] == (
            f"Error: Invalid value for '-o' / '--output': {out}: the ONNX model's name must "
            "end in .onnx"
        )
    assert checkpoint.read_bytes() == before and not (tmp_path / "m.pt").exists()


@pytest.mark.shared
def test_an_index_given_as_rec_says_to_give_the_rec(checkpoint: Path, rec_dir: Path) -> None:
    """`eval --rec train.idx` (the index of a set, given for the set) read the .idx as
    records and said "line 3: key 2 points to byte offset 4964, past the end of
    train.idx"; now one line naming the .rec to give, as `augment` and `preview` say."""
    idx = rec_dir / "lfw-mini-flat" / "train.idx"
    result = _run("eval", "--model", checkpoint, "--rec", idx)
    _one_line_error(result)
    assert result.stderr.splitlines()[-1] == (
        f"Error: {idx}: is a RecordIO index; give the .rec, {idx.with_suffix('.rec')} "
        "(its .idx is read beside it)"
    )


@pytest.mark.shared
def test_rec_sets_alone_with_a_model_without_a_mask_head_are_refused(
    rec_dir: Path, tmp_path: Path
) -> None:
    """`eval --model backbone.pth --rec set.rec` (an arcface_torch backbone: no mask head)
    printed a table whose only row was "n/a n/a" and exited 0: a --rec set measures mask
    usage only. Now one line saying why nothing can be measured, before any inference (with a
    --bin beside it the --rec row stays n/a: tests/evaluate/test_sets.py)."""
    from maskgen.nn.models import create_model

    backbone = tmp_path / "backbone.pth"
    torch.save(create_model("r18", mask_head=False).state_dict(), backbone)
    rec = rec_dir / "lfw-mini-flat" / "train.rec"
    result = _run("eval", "--model", backbone, "--rec", rec, "--device", "cpu", "-q")
    _one_line_error(result)
    assert result.stderr == (
        f"Error: {backbone}: no mask head, and a RecordIO set (--rec) gives mask-usage accuracy "
        "only: nothing to evaluate (a .bin gives verification accuracy)\n"
    )
    assert result.stdout == ""


def test_not_a_model(tmp_path: Path) -> None:
    junk = tmp_path / "model.onnx"
    junk.write_bytes(b"\x00" * 64)
    _one_line_error(_run("eval", "--model", junk, "--bin", _unread(tmp_path)), "model.onnx")
    not_weights = tmp_path / "last.pt"
    torch.save({"hello": torch.zeros(2)}, not_weights)
    _one_line_error(_run("eval", "--model", not_weights, "--bin", _unread(tmp_path)), "last.pt")


def test_a_file_that_is_no_checkpoint_says_what_it_is(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("lr = 0.1\nbatch = 512\n")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(np.random.default_rng(0).bytes(3000))  # torch.load: IndexError
    empty = tmp_path / "empty.pt"
    empty.touch()
    photo = tmp_path / "face.jpg"  # a photo given as --model: "not a file torch.save writes"
    assert cv2.imwrite(str(photo), np.full((112, 112, 3), 90, np.uint8))
    rec = tmp_path / "train.rec"  # a dataset given as --model: its RecordIO magic
    rec.write_bytes(bytes.fromhex("0a23d7ce") + bytes(60))
    pairs = tmp_path / "lfw.bin"  # a verification set, a pickle
    pairs.write_bytes(pickle.dumps(([b"x"], [True]), protocol=2))
    legacy = tmp_path / "pytorch_model.bin"  # torch.save's old format, refused by weights_only
    torch.save({"note": object()}, legacy, _use_new_zipfile_serialization=False)
    cases = {
        rec: "a RecordIO dataset, not a checkpoint",
        pairs: "a pickle such as a verification .bin, not a checkpoint",
        legacy: "a pickle holding more than tensors and plain values, or damaged",
        notes: "a text file, not a checkpoint",
        garbage: "not a file torch.save writes",
        empty: "an empty file",
        photo: "a JPEG image, not a checkpoint (a run's last.pt or an arcface_torch backbone.pth)",
    }
    for path, what in cases.items():
        for args in (("eval", "--bin", _unread(tmp_path)), ("export", "-o", tmp_path / "m.onnx")):
            result = _run(*args, "--model", path)
            _one_line_error(result, f"{path}: not a readable PyTorch checkpoint: {what}")
            assert "Error" not in result.stderr.replace("Error: ", "", 1)  # no KeyError etc.
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.shared
def test_init_from_an_onnx_model_says_it_needs_a_checkpoint(rec_dir: Path, tmp_path: Path):
    """`train --init-from model.onnx` (the export, not the checkpoint) said "not a file
    torch.save writes (a zip archive)"; now that it is an ONNX model and what is needed."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    face = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 112, 112])
    graph = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["y"])],
        "g",
        [face],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph), str(model))
    data = rec_dir / "lfw-mini" / "train.rec"
    args = ("--network", "tiny", "--device", "cpu", "--steps", "1", "-q")
    result = _run("train", "--data", data, "--init-from", model, *args, "-o", tmp_path / "run")
    _one_line_error(result)
    assert result.stderr == (
        f"Error: {model}: not a readable PyTorch checkpoint: an ONNX model (eval, embed and "
        "verify run one; this needs a PyTorch checkpoint)\n"
    )


def test_export_refuses_an_onnx_model_and_its_help_says_so(checkpoint: Path, tmp_path: Path):
    onnx_model = tmp_path / "model.ONNX"
    onnx_model.write_bytes(b"\x08\x08")  # refused by name before it is read
    result = _run("export", "--model", onnx_model, "-o", tmp_path / "again.onnx")
    assert result.exit_code == 2
    assert "Invalid value for '--model': " in result.stderr
    assert "is an ONNX model already; export reads a PyTorch checkpoint" in result.stderr
    assert not (tmp_path / "again.onnx").exists()
    help_text = " ".join(_run("export", "--help").output.split())
    model_help = help_text.split("--model FILE ", 1)[1].split(" -o, ")[0]
    assert "checkpoint" in model_help and "onnx" not in model_help.lower()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_gpu(checkpoint: Path, tmp_path: Path) -> None:
    _one_line_error(
        _run("eval", "--model", checkpoint, "--bin", _unread(tmp_path), "--device", "cuda"), "cuda"
    )


@pytest.mark.shared
def test_export_embed_and_verify(checkpoint: Path, lfw_dir: Path, tmp_path: Path) -> None:
    onnx_path = tmp_path / "model.onnx"
    result = _run("export", "--model", checkpoint, "-o", onnx_path)
    assert result.exit_code == 0, result.output
    assert onnx_path.is_file() and "max abs difference" in result.stderr
    assert result.stdout == ""

    bush = sorted((lfw_dir / "George_W_Bush").glob("*.jpg"))[:2]
    blank = tmp_path / "blank.png"
    assert cv2.imwrite(str(blank), np.full((120, 160, 3), 200, np.uint8))
    npz = tmp_path / "emb.npz"
    result = _run("embed", bush[0], blank, bush[1], "--model", onnx_path, "-o", npz)
    assert result.exit_code == 0, result.output
    assert f"skipped {blank}: no face found" in result.stderr
    with np.load(npz) as data:
        assert data["paths"].tolist() == [str(p) for p in bush]
        embeddings = data["embeddings"]
    before = npz.read_bytes()
    refused = _run("embed", bush[0], "--model", onnx_path, "-o", npz)
    assert refused.exit_code == 1 and npz.read_bytes() == before
    assert refused.stderr == f"Error: {npz} exists; pass --overwrite to replace it\n"
    replaced = _run("embed", bush[0], "--model", onnx_path, "-o", npz, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    with np.load(npz) as data:
        assert data["paths"].tolist() == [str(bush[0])]

    result = _run("verify", bush[0], bush[1], "--model", onnx_path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    similarity = float(lines[0].split(":")[1])
    assert similarity == pytest.approx(float(embeddings[0] @ embeddings[1]), abs=1e-4)
    assert lines[1] == "threshold: 0.3500 cosine (squared L2 1.3000)"  # 1 - 1.3 / 2
    verdict = "same person" if similarity > 0.35 else "different people"
    assert lines[2] == f"verdict: {verdict}"
    assert len(lines) == 5 and lines[3].startswith("mask probability: ")

    # the checkpoint and its export agree on the photos too (both on CPU: a GPU's TF32
    # convolutions would move the similarity by about 1e-4)
    result = _run("verify", bush[0], bush[1], "--model", checkpoint, "--device", "cpu")
    assert float(result.stdout.splitlines()[0].split(":")[1]) == pytest.approx(similarity, abs=1e-4)


def test_a_crop_without_a_detection_is_told_of_aligned(checkpoint: Path, tmp_path: Path) -> None:
    """verify/embed on an aligned 112x112 crop the detector misses (a blank one here, as
    MFR2's masked crops often are to it) said "no face found" and left the user there: it
    now says --aligned takes it as one. A photo of another size gets no such hint."""
    crop = tmp_path / "crop.png"
    assert cv2.imwrite(str(crop), np.full((112, 112, 3), 128, np.uint8))
    blank = tmp_path / "blank.png"
    assert cv2.imwrite(str(blank), np.full((120, 160, 3), 128, np.uint8))
    hint = "no face found (an aligned 112x112 crop? --aligned takes it as one)"
    result = _run("verify", crop, blank, "--model", checkpoint, "--threshold", 1.2)
    _one_line_error(result)
    assert result.stderr == f"Error: {crop}: {hint}, nothing to compare\n"
    result = _run("embed", crop, blank, "--model", checkpoint, "-o", tmp_path / "e.npz")
    assert result.stderr.splitlines() == [
        f"skipped {crop}: {hint}",
        f"skipped {blank}: no face found",
        "Error: none of the 2 photos gave a face (each skipped above), nothing to write",
    ]
    aligned = _run("verify", crop, crop, "--model", checkpoint, "--threshold", 1.2, "--aligned")
    assert aligned.exit_code == 0, aligned.output


def test_embed_fails_only_if_no_photo_has_a_face(checkpoint: Path, tmp_path: Path) -> None:
    """Every photo skipped ended in "no face found in the photo" / "in any of the N photos",
    also where none was an image or each was too small to hold a face: a lone photo's error
    is now its own reason, as `verify` gives it; several say each was skipped above."""
    blank = tmp_path / "blank.png"
    assert cv2.imwrite(str(blank), np.zeros((100, 150, 3), np.uint8))
    tiny = tmp_path / "tiny.png"
    assert cv2.imwrite(str(tiny), np.full((20, 20, 3), 128, np.uint8))
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo\n")
    out = tmp_path / "e.npz"
    for photo, reason in (
        (blank, "no face found"),
        (tiny, "too small to hold a face (a side under 32 px)"),
        (notes, "not a readable image"),
    ):
        result = _run("embed", photo, "--model", checkpoint, "-o", out)
        _one_line_error(result)
        assert result.stderr == f"Error: {photo}: {reason}, nothing to write\n"
    result = _run("embed", notes, tiny, "--model", checkpoint, "-o", out)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"skipped {notes}: not a readable image",
        f"skipped {tiny}: too small to hold a face (a side under 32 px)",
        "Error: none of the 2 photos gave a face (each skipped above), nothing to write",
    ]
    assert not out.exists()


@pytest.mark.shared
def test_embed_refuses_an_output_not_named_npz(
    checkpoint: Path, lfw_dir: Path, tmp_path: Path
) -> None:
    """`embed -o emb.txt` wrote an .npz archive under the name emb.txt; as `export -o m.pt`
    it is now a usage error naming the option, before the model is read, and nothing is
    written."""
    photo = sorted((lfw_dir / "George_W_Bush").glob("*.jpg"))[0]
    out = tmp_path / "emb.txt"
    result = _run("embed", photo, "--model", checkpoint, "-o", out)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"Error: Invalid value for '-o' / '--output': {out}: the embeddings' file name must "
        "end in .npz"
    )
    assert list(tmp_path.iterdir()) == []
    assert _run("embed", photo, "--model", checkpoint, "-o", tmp_path / "E.NPZ").exit_code == 0


@pytest.mark.shared
def test_verify_without_a_threshold_says_how_to_give_one(
    tiny_state: dict, lfw_dir: Path, tmp_path: Path
) -> None:
    """A model with no stored threshold printed "verdict: unknown" and exited 0."""
    from maskgen.nn.models import create_model
    from tests.nn.helpers import write_network_checkpoint

    network = create_model("tiny")
    network.load_state_dict(tiny_state)
    model = write_network_checkpoint(tmp_path / "last.pt", network, threshold=None)
    bush = sorted((lfw_dir / "George_W_Bush").glob("*.jpg"))[:2]
    refused = _run("verify", bush[0], bush[1], "--model", model, "--device", "cpu")
    _one_line_error(refused, "last.pt", "no verification threshold", "--threshold T")
    assert refused.stdout == "" and "verdict" not in refused.output
    given = _run(
        "verify", bush[0], bush[1], "--model", model, "--device", "cpu", "--threshold", "4"
    )
    assert given.exit_code == 0, given.output
    lines = given.stdout.splitlines()
    assert lines[1] == "threshold: -1.0000 cosine (squared L2 4.0000)"
    assert lines[2] == "verdict: same person"  # every cosine is above -1


@pytest.mark.shared
def test_aligned_crops_of_masked_faces_are_embedded_as_they_are(
    checkpoint: Path, shared_data: Path, lfw_dir: Path, tmp_path: Path
) -> None:
    """`embed` and `verify` on MFR2's aligned crops of real masked faces skipped 32 of the 86
    ("no face found": dlib's detector misses many masked faces), and nothing made them take
    the crops as aligned. `--aligned` embeds each crop as it is, as `eval` embeds a .bin's
    faces, and skips a photo of another size, saying so."""
    from maskgen.evaluate import Embedder
    from maskgen.images import read_rgb

    images = shared_data / "real-masks" / "mfr2-dev" / "images"
    if not images.is_dir():
        pytest.skip(f"needs {images}")
    # masked crops of one person, the detector finding a face on the first only
    crops = [images / "YurikoKoike" / f"YurikoKoike_000{i}.jpg" for i in (2, 4)]
    crops.append(images / "ZuzanaCaputova" / "ZuzanaCaputova_0002.jpg")
    out = tmp_path / "e.npz"
    result = _run("embed", *crops, "--model", checkpoint, "-o", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[:2] == [
        f"skipped {crop}: no face found (an aligned 112x112 crop? --aligned takes it as one)"
        for crop in crops[1:]
    ]
    result = _run("embed", *crops, "--model", checkpoint, "-o", out, "--aligned",
                  "--device", "cpu", "--overwrite")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "skipped" not in result.stderr
    expected = Embedder.from_path(checkpoint, device="cpu").embed_images(
        [read_rgb(crop) for crop in crops]
    )
    with np.load(out) as data:
        assert data["paths"].tolist() == [str(crop) for crop in crops]
        np.testing.assert_allclose(data["embeddings"], expected.embeddings, atol=1e-6)
        np.testing.assert_allclose(data["mask_prob"], expected.mask_prob, atol=1e-6)

    refused = _run("verify", crops[0], crops[1], "--model", checkpoint, "--device", "cpu")
    hint = "no face found (an aligned 112x112 crop? --aligned takes it as one)"
    _one_line_error(refused, f"{crops[1]}: {hint}, nothing to compare")
    result = _run("verify", crops[0], crops[1], "--model", checkpoint, "--device", "cpu",
                  "--aligned")  # fmt: skip
    assert result.exit_code == 0, result.output
    similarity = float(result.stdout.splitlines()[0].split(":")[1])
    cosine = float(expected.embeddings[0] @ expected.embeddings[1])
    assert similarity == pytest.approx(cosine, abs=1e-4)  # printed to 4 decimals
    photo = sorted((lfw_dir / "George_W_Bush").glob("*.jpg"))[0]  # 250x250: not a crop
    result = _run("verify", photo, crops[0], "--model", checkpoint, "--aligned")
    _one_line_error(result, f"{photo}: not an aligned 112x112 crop, nothing to compare")


def test_a_foreign_pickle_is_refused_without_torchs_warning(tmp_path: Path) -> None:
    """A verification .bin (pickle protocol 5) given as --model printed torch's paragraph
    about pickle protocols ("please file an issue") above maskgen's one-line error."""
    import warnings

    from maskgen.errors import CheckpointError
    from maskgen.nn.checkpoint import load_torch_file

    fake = tmp_path / "fake.pt"
    fake.write_bytes(pickle.dumps(([b"x"], [True]), protocol=5))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
            load_torch_file(fake)
    assert not [w for w in seen if "pickle protocol" in str(w.message)]


@pytest.mark.shared
def test_a_damaged_face_in_a_bin_is_named_not_printed_by_libjpeg(
    checkpoint: Path, lfw_dir: Path, tmp_path: Path, capfd, caplog
) -> None:
    """eval decodes in a thread pool, where libjpeg's "Corrupt JPEG data: ..." printed on its
    own, naming no face, in the middle of the progress bar. It is kept off stderr in any
    thread now, and a warning names the set, the image and libjpeg's words."""
    photo = cv2.imread(str(lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg"))
    faces = [cv2.imencode(".jpg", photo[69 + i : 181 + i, 69:181])[1].tobytes() for i in range(20)]
    middle = len(faces[3]) // 2
    faces[3] = faces[3][:middle] + b"\xff\xd0" + faces[3][middle + 2 :]  # a stray restart marker
    assert cv2.imdecode(np.frombuffer(faces[3], np.uint8), cv2.IMREAD_COLOR) is not None
    assert "Corrupt JPEG data" in capfd.readouterr().err  # libjpeg's own line, unasked
    path = tmp_path / "damaged.bin"
    path.write_bytes(pickle.dumps((faces, [True, False] * 5)))
    result = _run("eval", "--model", checkpoint, "--bin", path, "--device", "cpu")
    assert result.exit_code == 0, result.output
    words = "the decoder said: Corrupt JPEG data: premature end of data segment"
    assert f"{path}: image 3: {words} (read as it decoded)" in caplog.text, caplog.text
    err = capfd.readouterr().err
    assert not any(line.startswith("Corrupt JPEG data") for line in err.splitlines()), err
