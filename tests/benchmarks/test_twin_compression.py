"""benchmarks/twin_compression.py: its "before" twin patches the pipeline's twin encoder, so
it breaks without a word when that encoder's signature changes (it did: a traceback)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.conftest import load_benchmark

pytestmark = [pytest.mark.shared, pytest.mark.slow]


def test_the_fixed_quality_twin_differs_in_its_tables_and_todays_does_not(
    rec_dir: Path, tmp_path: Path
) -> None:
    bench = load_benchmark("twin_compression")
    source = bench.requality(
        rec_dir / "lfw-mini" / "train.rec", tmp_path / "src" / "train.rec", 50, 95, seed=0
    )
    before = bench.compare(source, bench.twin(source, tmp_path / "before", before=True))
    after = bench.compare(source, bench.twin(source, tmp_path / "after", before=False))
    assert before["pairs"] == after["pairs"] > 250
    assert before["quality_twin_mean"] == 95.0  # written at the fixed quality
    assert after["same_quantisation_tables"] == after["pairs"]  # the source's own tables
    assert before["same_quantisation_tables"] < before["pairs"] / 10
