"""Report renderings: the JSON layout is a contract (``maskgen eval --json``)."""

from __future__ import annotations

import json
from pathlib import Path

from maskgen.evaluate.report import EvalReport, SetResult

REQUIRED = {"accuracy", "accuracy_std", "mask_accuracy", "images"}
OPTIONAL = {
    "tar_at_far",
    "threshold",
    "expected_mask",
    "unmasked_copies",
    "wear_accuracy",
    "wear_class_accuracy",
    "wear_confusion",
}


def _report() -> EvalReport:
    return EvalReport(
        results=(
            SetResult("data/lfw.bin", 12000, 0.99667, 0.00307, 0.9995, {"1e-03": 0.98}, 1.42),
            SetResult("twin/lfw.bin", 12000, 0.985, 0.004, None, None, 1.3, "masked"),
            SetResult("twin/train.rec", 294, mask_accuracy=0.99, expected_mask="label"),
        ),
        model={"path": "run/last.pt", "network": "r50"},
    )


def test_json_layout(tmp_path: Path) -> None:
    path = _report().write_json(tmp_path / "out" / "results.json")
    data = json.loads(path.read_text())
    assert set(data) == {"results", "model"}
    assert list(data["results"]) == ["data/lfw.bin", "twin/lfw.bin", "twin/train.rec"]
    for entry in data["results"].values():
        assert REQUIRED <= set(entry) <= REQUIRED | OPTIONAL
        assert isinstance(entry["images"], int)
    assert data["results"]["data/lfw.bin"]["accuracy"] == 0.99667
    assert data["results"]["data/lfw.bin"]["tar_at_far"] == {"1e-03": 0.98}
    assert data["results"]["twin/lfw.bin"]["mask_accuracy"] is None
    rec = data["results"]["twin/train.rec"]
    assert rec["accuracy"] is None and rec["accuracy_std"] is None and rec["images"] == 294
    assert list(tmp_path.joinpath("out").iterdir()) == [path]  # no temporary file left


def test_table_shows_percentages_and_na() -> None:
    lines = _report().format_table().splitlines()
    assert lines[0].split()[0] == "Set" and len(lines) == 5
    assert "99.67 ± 0.31" in lines[2] and "99.95" in lines[2] and lines[2].endswith("12000")
    assert "n/a" in lines[3]  # no mask head
    assert lines[4].split()[1] == "n/a" and "99.00" in lines[4]  # a rec set has no pairs


def test_markdown_table(tmp_path: Path) -> None:
    text = _report().write_markdown(tmp_path / "results.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert rows[0].startswith("| Set | Verification accuracy (%)") and "TAR@FAR=1e-03" in rows[0]
    assert len(rows) == 5
    assert "| `data/lfw.bin` | 99.67 ± 0.31 | 99.95 | 98.00 | 12000 |" in rows


def test_copies_of_originals_are_said_under_the_table() -> None:
    report = EvalReport(
        results=(
            SetResult("lfw.bin", 1200, 0.99, 0.003, 0.99),
            SetResult("twin/lfw.bin", 1200, 0.98, 0.004, 0.978, None, 1.3, "masked", 27),
        ),
        model={"path": "run/last.pt"},
    )
    note = "twin/lfw.bin: 27 of 1200 images are their original's bytes"
    assert report.format_table().splitlines()[4].startswith(note)
    assert note in report.format_markdown()
    assert report.to_json()["results"]["twin/lfw.bin"]["unmasked_copies"] == 27


def test_the_wear_confusion_table_lines_up() -> None:
    """Class names to the left, counts under their class's name: the header and rows were all
    right-justified, one space apart, and read as one run of words."""
    confusion = ((10, 0, 0, 0, 0), (1, 100, 2, 3, 0), (0, 5, 60, 0, 0), (0, 1, 0, 90, 0))
    result = SetResult(
        "wtwin/train.rec", 300, mask_accuracy=0.9, expected_mask="label", wear_accuracy=0.8,
        wear_class_accuracy=(1.0, 0.9, 0.8, 0.7, None), wear_confusion=(*confusion, (0,) * 5),
    )  # fmt: skip
    lines = EvalReport(results=(result,), model={}).format_table().splitlines()
    header = lines.index(next(line for line in lines if line.startswith("Labelled")))
    table = lines[header : header + 6]
    assert [line.split("  ")[0].strip() for line in table[1:]] == [
        "none", "correct", "nose_uncovered", "mouth_uncovered", "chin_uncovered"
    ]  # fmt: skip
    ends = {name: table[0].index(name) + len(name) for name in ("correct", "mouth_uncovered")}
    assert table[2][: ends["correct"]].endswith(" 100")  # correct row, correct column
    assert table[4][: ends["mouth_uncovered"]].endswith(" 90")
