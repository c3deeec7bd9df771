"""Seeds: 0 <= seed < 2**32, refused outside that range (the draw folds in the low 32 bits)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from maskgen.cli.main import cli
from maskgen.errors import ConfigError
from maskgen.pipeline import augment_dataset
from maskgen.seeding import item_rng


def test_item_rng_refuses_seeds_it_would_fold_onto_others() -> None:
    """Seed 2**32 drew exactly seed 0's numbers and -1 those of 2**32 - 1."""
    first = item_rng(0, "a.jpg").random(4)
    assert np.array_equal(first, item_rng(0, "a.jpg").random(4))
    assert not np.array_equal(first, item_rng(2**32 - 1, "a.jpg").random(4))
    for seed in (2**32, -1, 2**40, 1.5, True):
        with pytest.raises(ConfigError, match="seed"):
            item_rng(seed, "a.jpg")


def test_augment_refuses_an_out_of_range_seed_before_writing(
    tmp_path: Path, lfw_fold1_bin: Path
) -> None:
    with pytest.raises(ConfigError, match=r"seed: 4294967296, expected 0 <= seed < 2\*\*32"):
        augment_dataset(lfw_fold1_bin, tmp_path / "out", seed=2**32, progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["augment", "mask", "preview"])
def test_cli_seed_out_of_range_is_a_usage_error(tmp_path: Path, command: str) -> None:
    """``--seed 4294967296`` wrote the twin of ``--seed 0`` byte for byte, recorded as another
    seed in maskgen.json; ``--seed -1`` that of 4294967295."""
    source = tmp_path / "in.png"
    source.write_bytes(b"\x89PNG\r\n\x1a\n")  # never read: the option is refused first
    out = tmp_path / ("out" if command == "augment" else "out.png")
    for seed in ("4294967296", "-1"):
        result = CliRunner().invoke(cli, [command, str(source), "-o", str(out), f"--seed={seed}"])
        assert result.exit_code == 2, result.output
        assert f"Invalid value for '--seed': {seed} is not in the range" in result.stderr
        assert not out.exists()
    demo = CliRunner().invoke(cli, ["demo", "-o", str(tmp_path / "demo"), "--seed", "4294967296"])
    assert demo.exit_code == 2 and not (tmp_path / "demo").exists()
