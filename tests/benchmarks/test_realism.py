"""benchmarks/realism.py and paper_miniature.py with RMFD's labels checked: the figures without
the crops that show no masked face, and which cached evaluations are made again."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.benchmarks.conftest import load_benchmark


@pytest.fixture(scope="module")
def realism() -> ModuleType:
    return load_benchmark("realism")


def test_checked_figures_from_wrong_crops_and_from_eval_agree(realism: ModuleType) -> None:
    """10 masked (1 wrong), 5 unmasked (2 wrong), 8 RMFD crops (3, 5, 7 wrong) of which 3
    and 4 show no masked face: RMFD checked 4 of 6 right, all real 16 of 21."""
    data = {
        "real_faces": {"mfr2_masked": 10, "mfr2_unmasked": 5, "rwmfd": 8},
        "rwmfd_not_masked_positions": [3, 4],
    }
    wrong = {"mfr2_masked": [1], "mfr2_unmasked": [0, 2], "rwmfd": [3, 5, 7]}
    from_a = realism.checked_figures({"real_faces": 23, "wrong": wrong}, data)
    assert from_a["rwmfd_checked"] == (pytest.approx(4 / 6), 6)
    assert from_a["real_all_checked"] == (pytest.approx(16 / 21), 21)
    # (b): part_b's arithmetic from eval's per-set accuracies (the checked set evaluated)
    right = 9 + 3 + 5
    right_checked = right - (5 / 8) * 8 + (4 / 6) * 6
    from_b = {"real_faces": 23, "rwmfd_checked": 4 / 6, "real_all_checked": right_checked / 21}
    assert realism.checked_figures(from_b, data) == {
        key: (pytest.approx(value), count) for key, (value, count) in from_a.items()
    }
    unchecked = {"real_faces": data["real_faces"]}  # a result made before the checked labels
    assert realism.checked_figures({"real_faces": 23, "wrong": wrong}, unchecked) is None


@pytest.mark.shared
def test_the_checked_crops_are_found_by_name(realism: ModuleType, shared_data: Path) -> None:
    names = realism.rwmfd_not_masked()
    positions = realism.rwmfd_not_masked_positions(shared_data)
    assert len(positions) == len(names) == 5
    crops = sorted((shared_data / "real-masks" / "rwmfd-aligned").glob("*.jpg"))
    assert [crops[i].name for i in positions] == sorted(names)


def test_a_cached_evaluation_without_a_set_is_made_again(tmp_path: Path) -> None:
    miniature = load_benchmark("paper_miniature")
    sets = {name: str(tmp_path / f"{name}.rec") for name in miniature.EVAL_SETS}
    report = tmp_path / "eval.json"
    held = {path: {} for name, path in sets.items() if name != "rwmfd_checked"}
    report.write_text(json.dumps({"results": held}))
    assert not miniature._covers(report, list(sets.values()))
    report.write_text(json.dumps({"results": {**held, sets["rwmfd_checked"]: {}}}))
    assert miniature._covers(report, list(sets.values()))


def test_the_wilson_interval_of_an_accuracy(realism: ModuleType) -> None:
    """Textbook values (Wilson 1927; e.g. Newcombe, Stat. Med. 1998, Table I): 81 of 263 ->
    0.2553-0.3662; and the issue's figures on 377 photos."""
    low, high = realism.wilson_interval(81 / 263, 263)
    assert low == pytest.approx(0.2553, abs=5e-4) and high == pytest.approx(0.3662, abs=5e-4)
    low, high = realism.wilson_interval(1.0, 48)  # never 1 +- 0: 48 right leaves room
    assert 0.92 < low < 0.93 and high == pytest.approx(1.0)
    low, high = realism.wilson_interval(0.97, 377)
    assert low < 0.969 < high and low < 0.98 < high


def test_the_table_names_each_part_run(realism: ModuleType) -> None:
    """Session 29's (a) result alone, and with session 30's (b) beside it: each part's rows
    are there, (b)'s rotations named on (b)'s rows only (a run of (a) alone once raised
    KeyError 'b' writing its table)."""
    results = Path(realism.__file__).parent / "results"
    part_a = json.loads((results / "realism_s29_a_alignment_e16_s0.json").read_text())
    part_b = json.loads((results / "realism_s30_b_online_rot10_s0.json").read_text())
    alone = [row[0] for row in realism.table_rows(part_a)]
    prefix = "(a) tiny CNN, alignment augmentation: "
    assert alone and all(label.startswith(prefix) for label in alone)
    both = [row[0] for row in realism.table_rows({**part_a, "b": part_b["b"]})]
    assert [label for label in both if label.startswith("(a)")] == alone
    b_rows = [label for label in both if label.startswith("(b)")]
    assert b_rows and all("with rotations up to 10 degrees" in label for label in b_rows)
    assert "# Realism on real photos" in realism.markdown(part_a)


def test_a_twin_s_wear_and_how_the_report_names_it(realism: ModuleType) -> None:
    """(a)'s twin is the mix of placements unless --a-wear correct, or --augment-args gives a
    --wear of its own (either form), which the report names instead of calling it correct."""

    def args(*argv: str) -> object:
        return realism.parse_args(["--work", "/tmp/unused", *argv])

    assert realism.a_twin_wear(args()) == "training"
    assert realism.a_twin_wear(args("--a-wear", "correct")) is None
    for given in ("--wear correct=0.8,nose_uncovered=0.2", "--wear=correct=0.8,nose_uncovered=0.2"):
        parsed = args(f"--augment-args={given}")
        assert realism.a_twin_wear(parsed) is None
        assert realism._augment_wear(parsed) == "correct=0.8,nose_uncovered=0.2"
    note = realism._twin_wear_note
    assert note({"twin_wear": "training"}) == ", `maskgen augment --wear training`"
    assert note({"twin_wear": "correct"}) == note({"twin_wear": None}) == ""
    with pytest.raises(SystemExit):  # the online twin draws correct placements only
        args("--a-online-mask", "--classifiers", "cnn")
