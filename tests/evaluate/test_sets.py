"""Evaluation sets: .bin, masked .bin and RecordIO sets labelled with the mask flag."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from maskgen.errors import ConfigError, DatasetFormatError
from maskgen.evaluate import Embedder, EvalSet, evaluate_model
from maskgen.formats.recordio import RecordIOReader
from maskgen.nn.preprocess import decode_face

pytestmark = [pytest.mark.torch, pytest.mark.shared]

pytest.importorskip("torch")


def test_rec_mask_accuracy_follows_the_labels(tiny_checkpoint: Path, rec_dir: Path) -> None:
    rec = rec_dir / "lfw-mini-flat" / "train.rec"
    embedder = Embedder.from_path(tiny_checkpoint)
    report = evaluate_model(embedder, [EvalSet(str(rec), "rec")])
    (result,) = report.results
    # by hand: every label is [identity, 0.0], so the accuracy is the share of faces the
    # network calls unmasked (probability, the mean of the face's and its mirror image's, not
    # above 0.5)
    reader = RecordIOReader(rec)
    samples = [reader.read(key) for key in reader.image_keys()]
    assert all(s.label[1] == 0.0 for s in samples)
    faces = embedder.embed_encoded([s.data for s in samples], flip=False).mask_prob
    decoded = [decode_face(s.data, "rec", i) for i, s in enumerate(samples)]
    mirrors = embedder.embed_images(
        [np.ascontiguousarray(face[:, ::-1]) for face in decoded], flip=False
    ).mask_prob
    probs = (faces + mirrors) / 2
    assert result.images == len(samples) == 294
    assert result.mask_accuracy == pytest.approx(float(np.mean(probs <= 0.5)))
    assert result.accuracy is None and result.tar_at_far is None


def test_rec_without_mask_flags_is_refused(tiny_checkpoint: Path, rec_dir: Path) -> None:
    rec = rec_dir / "lfw-mini" / "train.rec"  # insightface layout: scalar identity labels
    embedder = Embedder.from_path(tiny_checkpoint)
    with pytest.raises(DatasetFormatError, match=r"expected \[identity, mask flag\]"):
        evaluate_model(embedder, [EvalSet(str(rec), "rec")])


def test_rec_without_image_records_is_refused(
    tiny_checkpoint: Path, tiny_checkpoint_no_mask: Path, tmp_path: Path
) -> None:
    """An empty .rec (as an interrupted copy leaves one) gave a row of 0 images and exit
    code 0, as if it had been evaluated."""
    from maskgen.formats.recordio import RecordIOWriter

    rec = tmp_path / "train.rec"
    with RecordIOWriter(rec):
        pass
    assert rec.is_file() and rec.stat().st_size == 0
    for model in (tiny_checkpoint, tiny_checkpoint_no_mask):
        embedder = Embedder.from_path(model)
        with pytest.raises(DatasetFormatError, match=r"train\.rec: no image records"):
            evaluate_model(embedder, [EvalSet(str(rec), "rec")])


def test_model_without_mask_head_reports_no_mask_accuracy(
    tiny_checkpoint_no_mask: Path, lfw_fold1_bin: Path, rec_dir: Path
) -> None:
    embedder = Embedder.from_path(tiny_checkpoint_no_mask)
    rec = rec_dir / "lfw-mini-flat" / "train.rec"
    report = evaluate_model(
        embedder, [EvalSet(str(lfw_fold1_bin), "bin"), EvalSet(str(rec), "rec")]
    )
    assert [r.mask_accuracy for r in report.results] == [None, None]
    assert report.results[0].accuracy is not None and report.results[1].images == 294
    assert "n/a" in report.format_table().splitlines()[2]


def test_every_path_is_checked_before_any_work(
    tiny_checkpoint: Path, lfw_fold1_bin: Path, tmp_path: Path
) -> None:
    embedder = Embedder.from_path(tiny_checkpoint)
    calls: list[str] = []
    sets = [EvalSet(str(lfw_fold1_bin), "bin"), EvalSet(str(tmp_path / "cfp.bin"), "bin")]
    with pytest.raises(DatasetFormatError, match=r"cfp\.bin: no such file"):
        evaluate_model(embedder, sets, progress=lambda name, done, total: calls.append(name))
    with pytest.raises(DatasetFormatError, match=r": a folder, not a file$"):  # was "no such"
        evaluate_model(embedder, [EvalSet(str(tmp_path), "rec")])
    assert calls == []


def test_every_set_format_is_checked_before_any_work(
    tiny_checkpoint: Path, lfw_fold1_bin: Path, rec_dir: Path, tmp_path: Path
) -> None:
    """A .rec given as --bin (or a .bin as --rec: each says which kind it is), a .rec without
    mask flags or a .bin of too few pairs after a good set fails at once, not after the good
    set's inference."""
    from maskgen.formats.verification import read_verification_bin, write_verification_bin

    images, issame = read_verification_bin(lfw_fold1_bin)
    few = write_verification_bin(tmp_path / "few.bin", images[:10], issame[:5])
    rec = str(rec_dir / "lfw-mini" / "train.rec")
    embedder = Embedder.from_path(tiny_checkpoint)
    good = EvalSet(str(rec_dir / "lfw-mini-flat" / "train.rec"), "rec")
    cases = [
        (
            EvalSet(rec, "bin"),
            r"a RecordIO file, not a verification \.bin; .* \(maskgen eval --rec\)",
        ),
        (EvalSet(rec, "masked-bin"), "a RecordIO file, not a verification .bin"),
        (EvalSet(str(lfw_fold1_bin), "rec"), r"a pickle .*, not a RecordIO file; .* --masked-bin"),
        (EvalSet(rec, "rec"), r"expected \[identity, mask flag\]"),
        (EvalSet(str(few), "masked-bin"), "5 pairs, fewer than the 10 folds"),
    ]
    calls: list[str] = []
    for bad, message in cases:
        with pytest.raises(DatasetFormatError, match=message):
            evaluate_model(
                embedder, [good, bad], progress=lambda name, done, total: calls.append(name)
            )
    assert calls == []


def test_not_a_verification_pickle(tiny_checkpoint: Path, tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(DatasetFormatError, match=r"weights\.bin: not a verification set"):
        evaluate_model(Embedder.from_path(tiny_checkpoint), [EvalSet(str(path), "bin")])


def test_a_set_kind_it_does_not_know_is_refused_and_a_path_is_kept_as_text(
    tiny_checkpoint: Path, lfw_fold1_bin: Path, rec_dir: Path, tmp_path: Path
) -> None:
    """From Python, ``EvalSet(path, "masked")`` (for "masked-bin") was evaluated as an
    unmasked ``bin``: its mask-usage accuracy counted masked faces as errors without a word.
    An ``EvalSet`` of a ``Path`` (the type a script has at hand) named its row with it, and
    ``write_json`` then failed ("keys must be str"). The kind is now checked when the set is
    made, and the path kept as the string the report needs."""
    from maskgen.errors import ConfigError

    for kind in ("masked", "Bin", "bins"):
        with pytest.raises(ConfigError, match=rf"set kind '{kind}' is not one of bin, masked-bin"):
            EvalSet(str(lfw_fold1_bin), kind)
    rec = rec_dir / "lfw-mini-flat" / "train.rec"
    eval_set = EvalSet(rec, "rec")
    assert eval_set.path == str(rec)
    report = evaluate_model(Embedder.from_path(tiny_checkpoint), [eval_set])
    out = report.write_json(tmp_path / "report.json")
    assert list(json.loads(out.read_text())["results"]) == [str(rec)]


def test_a_masked_bin_finds_the_bin_it_is_the_twin_of(tmp_path: Path) -> None:
    """maskgen eval --bin a --bin b --masked-bin B --masked-bin A: each twin is paired with the
    .bin it shares images with byte for byte (its copies of faces augment could not mask),
    among those whose pairs it repeats; insightface's bins can hold identical pair lists, so
    the pairs alone do not decide. A twin sharing no image with any keeps every image expected
    masked."""
    from maskgen.evaluate.sets import with_twin_originals
    from maskgen.formats.verification import write_verification_bin

    issame = [True, False] * 6

    def bin_of(name: str, images: list[bytes], pairs: list[bool] = issame) -> str:
        return str(write_verification_bin(tmp_path / name, images, pairs))

    def faces(tag: bytes) -> list[bytes]:
        return [b"\xff\xd8 " + tag + b" %d" % i for i in range(24)]

    a, b = bin_of("a.bin", faces(b"a")), bin_of("b.bin", faces(b"b"))
    twin_a = bin_of("A.bin", faces(b"a")[:2] + faces(b"A")[2:])  # two faces left unmasked
    twin_b = bin_of("B.bin", faces(b"B")[:23] + faces(b"b")[23:])  # one
    all_masked = bin_of("C.bin", faces(b"C"))
    other_pairs = bin_of("D.bin", faces(b"a"), [True] * 12)
    sets = [EvalSet(a, "bin"), EvalSet(b, "bin"), EvalSet(twin_b, "masked-bin")]
    sets += [EvalSet(p, "masked-bin") for p in (twin_a, all_masked, other_pairs)]
    assert [s.original for s in with_twin_originals(sets)] == [None, None, b, a, None, None]
    given = with_twin_originals([EvalSet(a, "bin"), EvalSet(twin_b, "masked-bin", original=a)])
    assert given[1].original == a  # one given is kept
    with pytest.raises(ConfigError, match="only a masked-bin set has an original"):
        EvalSet(a, "bin", original=b)


def test_a_masked_bin_alone_finds_its_original_through_the_run_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``maskgen eval --masked-bin twin/x.bin`` without ``--bin``: the faces augment left
    unmasked were counted as should-be-masked without a word. The run record beside the twin
    names its input, which is now the original; where that file is gone, a warning says so."""
    from maskgen.evaluate.sets import with_twin_originals
    from maskgen.formats.verification import write_verification_bin

    issame = [True, False] * 6
    faces = [b"\xff\xd8 a %d" % i for i in range(24)]
    original = write_verification_bin(tmp_path / "x.bin", faces, issame)
    (tmp_path / "twin").mkdir()
    twin = write_verification_bin(
        tmp_path / "twin" / "x.bin",
        faces[:3] + [b"\xff\xd8 A %d" % i for i in range(3, 24)],
        issame,
    )
    counts = {"items": 24, "images": 24, "masked": 21, "not_masked": {"occluded": 3}}
    record = {"input": str(original), "output": "x.bin", "counts": counts}
    (tmp_path / "twin" / "maskgen.json").write_text(json.dumps(record))
    (found,) = with_twin_originals([EvalSet(twin, "masked-bin")])
    assert found.original == str(original)
    original.unlink()
    with caplog.at_level("WARNING", logger="maskgen.evaluate.sets"):
        (found,) = with_twin_originals([EvalSet(twin, "masked-bin")])
    assert found.original is None
    assert (
        "says 3 image(s) were left unmasked" in caplog.text and "give the original" in caplog.text
    )


def test_a_twin_given_as_bin_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``maskgen eval --bin twin/x.bin``: a ``bin``'s faces are expected unmasked, so the
    twin's masked faces were all scored as misses without a word. Its run record says it
    is a twin; an original without one, and a twin whose record counts no masked image,
    are not warned about."""
    from maskgen.evaluate.sets import warn_twins_given_as_bins
    from maskgen.formats.verification import write_verification_bin

    issame = [True, False] * 6
    faces = [b"\xff\xd8 a %d" % i for i in range(24)]
    original = write_verification_bin(tmp_path / "x.bin", faces, issame)
    (tmp_path / "twin").mkdir()
    twin = write_verification_bin(tmp_path / "twin" / "x.bin", faces, issame)
    counts = {"items": 24, "images": 24, "not_masked": {"occluded": 3}}
    record = {"input": str(original), "output": "x.bin", "counts": counts}
    run_record = tmp_path / "twin" / "maskgen.json"
    with caplog.at_level("WARNING", logger="maskgen.evaluate.sets"):
        run_record.write_text(json.dumps({**record, "counts": {**record["counts"], "masked": 21}}))
        warn_twins_given_as_bins([EvalSet(original, "bin"), EvalSet(twin, "masked-bin")])
        assert caplog.text == ""
        warn_twins_given_as_bins([EvalSet(twin, "bin")])
        assert f"{twin}: a masked twin (maskgen augment wrote it from {original}" in caplog.text
        assert "21 image(s) masked" in caplog.text and "--masked-bin" in caplog.text
        caplog.clear()
        run_record.write_text(json.dumps({**record, "counts": {**record["counts"], "masked": 0}}))
        warn_twins_given_as_bins([EvalSet(twin, "bin")])
        assert caplog.text == ""


@pytest.mark.parametrize("bias", [8.0, -8.0])
def test_a_set_whose_faces_the_model_calls_the_other_way_is_warned_about(
    tmp_path: Path, lfw_fold1_bin: Path, caplog: pytest.LogCaptureFixture, bias: float
) -> None:
    """MFR2's pairs.bin (real masked photos) given as --bin read "mask usage 30 %" with no
    word that a --bin's faces all count as unmasked: the head was right and looked broken. A
    model calling most of a --bin's faces masked (here a mask head biased to "masked") now
    warns; one calling them unmasked does not."""
    import torch

    from maskgen.nn.models import create_model
    from tests.nn.helpers import write_network_checkpoint

    torch.manual_seed(0)
    network = create_model("tiny", mask_head=True).eval()
    with torch.no_grad():
        network.mask_fc.weight.zero_()
        network.mask_fc.bias.copy_(torch.tensor([0.0, bias]))  # logit of "masked"
    checkpoint = write_network_checkpoint(tmp_path / "last.pt", network, threshold=1.25)
    embedder = Embedder.from_path(checkpoint, device="cpu", batch_size=64)
    with caplog.at_level("WARNING", logger="maskgen.evaluate.sets"):
        report = evaluate_model(embedder, [EvalSet(lfw_fold1_bin, "bin")])
    usage = report.results[0].mask_accuracy
    if bias > 0:
        assert usage == 0.0
        assert f"{lfw_fold1_bin}: the model calls 100% of its faces masked" in caplog.text
        assert "--masked-bin for a maskgen twin" in caplog.text
    else:
        assert usage == 1.0 and caplog.text == ""
    caplog.clear()
    with caplog.at_level("WARNING", logger="maskgen.evaluate.sets"):  # bare faces as a twin
        report = evaluate_model(embedder, [EvalSet(lfw_fold1_bin, "masked-bin")])
    if bias > 0:
        assert report.results[0].mask_accuracy == 1.0 and caplog.text == ""
    else:
        assert f"{lfw_fold1_bin}: the model calls 100% of its faces unmasked" in caplog.text
        assert "--bin for bare faces" in caplog.text
