"""Placements in the records a run writes: the manifest's ``wear``, the ``.rec`` twin's third
label element (the wear class), ``maskgen.json`` and resume, on lfw-mini's 294 real crops."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from maskgen.errors import ConfigError
from maskgen.formats.recordio import RecordIOReader
from maskgen.images import decode_rgb, encode_image
from maskgen.masks import WEAR_CLASSES, MaskAugment, MaskSpec
from maskgen.pipeline.step import MaskerConfig, load_masker, mask_label, mask_sample
from maskgen.types import Sample

pytestmark = pytest.mark.shared

WEAR = {"correct": 0.7, "nose_uncovered": 0.1, "mouth_uncovered": 0.1, "chin_uncovered": 0.1}


def _rows(out: Path) -> dict:
    lines = (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["key"]: row for row in map(json.loads, lines)}


@pytest.fixture(scope="module")
def wear_twin(tmp_path_factory: pytest.TempPathFactory, lfw_mini: Path, run_augment) -> Path:
    """lfw-mini masked with WEAR (seed 0, as the reference), in two workers and chunks."""
    out = tmp_path_factory.mktemp("wear-twin")
    run_augment(lfw_mini, out, MaskSpec(wear=WEAR), workers=2, chunk_size=100)
    return out


def test_wear_twin_labels_carry_the_manifest_wear_class(
    wear_twin: Path, mini_reference: Path, lfw_mini: Path
) -> None:
    """Every image record: [identity, masked, wear class of the manifest's wear], float32,
    identity and flag as the default run's; other records copied byte for byte."""
    source = RecordIOReader(lfw_mini)
    twin = RecordIOReader(wear_twin / "train.rec")
    reference = RecordIOReader(mini_reference / "train.rec")
    rows = _rows(wear_twin)
    keys = source.keys()
    assert list(twin.keys()) == list(keys) and len(rows) == 294
    for key in keys:
        original, masked = source.read(key), twin.read(key)
        if not original.is_image:
            assert masked.data == original.data and masked.label.tolist() == original.label.tolist()
            continue
        row = rows[key]
        assert masked.label.dtype == np.float32 and masked.label.shape == (3,)
        assert masked.label[:2].tolist() == reference.read(key).label.tolist()
        expected = WEAR_CLASSES.index(row["wear"]) if row["masked"] else 0
        assert masked.label[2] == expected, key
        assert row["wear"] == (row["face_masks"][0]["wear"] if row["masked"] else None)


def test_wear_changes_only_the_placement(wear_twin: Path, mini_reference: Path) -> None:
    """Faces drawn ``correct`` are byte for byte the default run's; the others differ only in
    the placement (same type, colour, texture, jitter)."""
    twin = RecordIOReader(wear_twin / "train.rec")
    reference = RecordIOReader(mini_reference / "train.rec")
    rows, plain = _rows(wear_twin), _rows(mini_reference)
    for key, row in rows.items():
        same = twin.read(key).data == reference.read(key).data
        if not row["masked"]:  # a face left unmasked (occluded, ...): in both runs alike
            assert same and row["reason"] == plain[key]["reason"]
            continue
        assert same == (row["wear"] == "correct"), key
        drawn = {**row["face_masks"][0], "wear": "correct"}
        assert drawn == plain[key]["face_masks"][0]
        assert plain[key]["wear"] == "correct"


def test_placement_frequencies_match_the_request(wear_twin: Path) -> None:
    """On lfw-mini's masked records each placement's share is within 3 binomial standard
    deviations of its probability."""
    counts = Counter(row["wear"] for row in _rows(wear_twin).values() if row["masked"])
    n = sum(counts.values())
    assert n >= 270 and set(counts) == set(WEAR)  # less the faces the checks leave unmasked
    for name, probability in WEAR.items():
        spread = 3 * math.sqrt(probability * (1 - probability) / n)
        assert abs(counts[name] / n - probability) <= spread, (name, counts)


def test_run_record_holds_the_wear(wear_twin: Path, mini_reference: Path) -> None:
    info = json.loads((wear_twin / "maskgen.json").read_text())
    assert info["parameters"]["mask_spec"]["wear"] == WEAR
    plain = json.loads((mini_reference / "maskgen.json").read_text())
    assert "wear" not in plain["parameters"]["mask_spec"]  # the default records as before


def test_mask_augment_draws_what_the_wear_twin_holds(wear_twin: Path, lfw_mini: Path) -> None:
    """MaskAugment(wear=...) with the run's seed gives the twin's records, with the row's
    placement in its params, for keys of every placement."""
    rows = _rows(wear_twin)
    source, twin = RecordIOReader(lfw_mini), RecordIOReader(wear_twin / "train.rec")
    keys = [next(k for k, r in rows.items() if r["wear"] == name) for name in WEAR]
    aug = MaskAugment(p=1.0, seed=0, wear=WEAR)
    for key in keys:
        out = aug(image=decode_rgb(source.read(key).data), key=key)
        assert out["params"]["wear"] == rows[key]["wear"] == out["params"]["faces"][0]["wear"]
        assert encode_image(out["image"], "jpeg", 95, key) == twin.read(key).data


def test_train_reader_takes_the_three_element_labels(wear_twin: Path, lfw_mini: Path) -> None:
    """maskgen.train reads label[0] and label[1]: a wear twin opens as a twin, and its
    samples carry the mask label 1."""
    pytest.importorskip("torch")
    from maskgen.train.data import FaceDataset, open_train_data

    data = open_train_data(lfw_mini, wear_twin / "train.rec")
    assert len(data) == 294
    dataset = FaceDataset(data)
    _, identity, mask = dataset[(3, True, False)]
    assert mask == 1 and identity == data.identities[3]
    assert dataset[(3, False, False)][2] == 0


def test_resume_with_another_wear_is_refused(
    tmp_path: Path, lfw_mini: Path, wear_twin: Path, run_augment
) -> None:
    """Parts of an interrupted run and a finished run both refuse a --resume whose wear
    differs, naming it; the same wear resumes."""
    first = MaskSpec(wear={"correct": 0.5, "chin_uncovered": 0.5})
    run_augment(lfw_mini, tmp_path, first, workers=1, chunk_size=100, shard=(0, 2))
    other = MaskSpec(wear={"correct": 0.5, "nose_uncovered": 0.5})
    with pytest.raises(ConfigError, match=r"mask_spec\.wear: .*'chin_uncovered': 0\.5.* there"):
        run_augment(lfw_mini, tmp_path, other, workers=1, resume=True, shard=(1, 2))
    with pytest.raises(ConfigError, match=r"mask_spec\.wear: \{.*\} there, default now"):
        run_augment(lfw_mini, tmp_path, MaskSpec(), workers=1, resume=True, shard=(1, 2))
    # a finished run named no field ("used other parameters; use another -o")
    with pytest.raises(
        ConfigError,
        match=r"other parameters \(parameters\.mask_spec\.wear: \{.*'nose_uncovered': 0\.5\} now\)",
    ):
        run_augment(lfw_mini, wear_twin, other, workers=1, resume=True)
    with pytest.raises(ConfigError, match=r"\(parameters\.seed: 0 there, 3 now\); use another"):
        run_augment(lfw_mini, wear_twin, MaskSpec(wear=WEAR), seed=3, workers=1, resume=True)
    done = run_augment(lfw_mini, wear_twin, MaskSpec(wear=WEAR), workers=1, resume=True)
    assert done.complete and done.processed == 0


def test_folder_manifest_wear_is_null_where_no_mask(
    tmp_path: Path, photo_folder: Path, run_augment
) -> None:
    run_augment(photo_folder, tmp_path, MaskSpec(wear={"nose_uncovered": 1.0}), workers=1)
    rows = _rows(tmp_path)
    masked = [row for row in rows.values() if row["masked"]]
    assert len(masked) >= 8
    assert all(r["wear"] == "nose_uncovered" for r in masked)
    assert {f["wear"] for r in masked for f in r["face_masks"]} == {"nose_uncovered"}
    assert rows["odd/no_face.jpg"]["wear"] is None
    assert rows["odd/not_an_image.jpg"]["wear"] is None


def test_label_of_an_unmasked_record_has_wear_class_zero(lfw_mini: Path) -> None:
    record = RecordIOReader(lfw_mini).read(5)
    garbage = Sample(key=5, data=b"\x00garbage", label=record.label, extra=record.extra)
    masker = load_masker(MaskerConfig(MaskSpec(wear=WEAR), "aligned"))
    twin, result = mask_sample(garbage, masker, seed=0, jpeg_quality=95, wear_labels=True)
    assert twin.label.tolist() == [record.label[0], 0.0, 0.0] and result.wear is None
    plain, _ = mask_sample(garbage, masker, seed=0, jpeg_quality=95)
    assert plain.label.tolist() == [record.label[0], 0.0]
    assert mask_label(np.array([7.0, 3.0], np.float32), True, 4).tolist() == [7.0, 1.0, 4.0]
    assert mask_label(None, True, 2) is None
