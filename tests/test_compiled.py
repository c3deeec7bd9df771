"""numpy or numba for the inner loops (:mod:`maskgen.compiled`): when each is used, and that a
small run in numpy writes the same twin as one in numba without loading numba at all.

Each case runs in a fresh interpreter: the choice is per process, and a test process that
loaded numba before would use it whatever the rule."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from maskgen.compiled import COMPILE_AFTER
from tests.conftest import REPO, lfw_sample_paths, run_maskgen_limited


def _python(code: str, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter (its last stdout line is JSON) and return that."""
    environ = {k: v for k, v in os.environ.items() if k != "MASKGEN_KERNELS"}
    environ.update(PYTHONPATH=str(REPO), **env)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


RULE = """
import json, sys
from maskgen import compiled
count = compiled.FaceCount()
steps = [count.use_compiled(0), count.use_compiled({first}), compiled.use_compiled(),
         count.use_compiled({second})]
loaded = "numba" in sys.modules
compiled.prefer_compiled()
steps.append(compiled.use_compiled())
print(json.dumps({{"steps": steps, "numba": loaded, "after": "numba" in sys.modules}}))
"""


def test_numpy_first_then_numba_after_enough_faces() -> None:
    """A model fits its first COMPILE_AFTER faces in numpy, then numba; what does not count
    faces (the warp) follows numba once it is loaded, as prefer_compiled does."""
    found = _python(RULE.format(first=COMPILE_AFTER, second=1))
    assert found == {"steps": [False, False, False, True, True], "numba": False, "after": True}


def test_a_batch_beyond_the_threshold_goes_to_numba_at_once() -> None:
    found = _python(RULE.format(first=COMPILE_AFTER + 1, second=0))
    assert found["steps"] == [False, True, False, True, True]


@pytest.mark.parametrize(("value", "expected"), [("numba", True), ("NumPy", False)])
def test_the_environment_fixes_the_choice(value: str, expected: bool) -> None:
    found = _python(RULE.format(first=COMPILE_AFTER + 1, second=0), MASKGEN_KERNELS=value)
    assert found["steps"] == [expected] * 5
    assert found["after"] == expected  # numpy: prefer_compiled loads nothing


AUGMENT = """
import json, sys
from maskgen.cli.main import cli
try:
    cli(["augment", sys.argv[1], "-o", sys.argv[2], "-q", *sys.argv[3:]])
except SystemExit as stop:
    assert not stop.code, stop.code
print(json.dumps({"numba": "numba" in sys.modules}))
"""


@pytest.mark.shared
@pytest.mark.parametrize("workers", [["--workers", "1"], ["--workers", "2", "--chunk-size", "1"]])
def test_a_small_run_loads_no_numba_and_writes_numbas_twin(
    lfw_dir: Path, tmp_path: Path, workers: list[str]
) -> None:
    """Six LFW photos masked in numpy (the default for so few, in this process or in forked
    workers) and in numba: the same bytes, file for file, and the same manifest."""
    photos = tmp_path / "photos"
    for path in lfw_sample_paths(lfw_dir, 6):
        (photos / path.parent.name).mkdir(parents=True)
        shutil.copyfile(path, photos / path.parent.name / path.name)
    runs = {}
    for kernels in ("auto", "numba"):
        out = tmp_path / kernels
        code = AUGMENT.replace("sys.argv[1]", repr(str(photos)))
        code = code.replace("sys.argv[2]", repr(str(out))).replace("sys.argv[3:]", repr(workers))
        runs[kernels] = _python(code, MASKGEN_KERNELS=kernels)
    assert runs == {"auto": {"numba": False}, "numba": {"numba": True}}
    files = sorted(p.relative_to(tmp_path / "auto") for p in (tmp_path / "auto").rglob("*"))
    assert any(p.suffix == ".jpg" for p in files)
    for name in files:
        if (tmp_path / "auto" / name).is_file() and name.name != "maskgen.json":
            left, right = (tmp_path / k / name for k in ("auto", "numba"))
            assert left.read_bytes() == right.read_bytes(), name
    rows = [json.loads(r) for r in (tmp_path / "auto" / "manifest.jsonl").read_text().split()]
    assert sum(row["masked"] for row in rows) >= 5


@pytest.mark.slow
@pytest.mark.shared
def test_kernels_whose_cache_cannot_be_written_still_run(rec_dir: Path, tmp_path: Path) -> None:
    """The first run after an install on a nearly full disk (here: the OS refuses any file
    over 40 KB, as a quota does) compiled the kernels and ended in a traceback from numba's
    cache ("OSError: [Errno 27] File too large" in caching.py's _save_data). The kernels now
    run uncached and the run ends in maskgen's own one-line error, at its own write; with room
    again, the next run completes and writes the same twin as a run in numpy."""
    rec = rec_dir / "lfw-mini" / "train.rec"
    cold = tmp_path / "numba-cache"  # numba's cache goes here first, and starts empty
    cold.mkdir()
    env = {"NUMBA_CACHE_DIR": str(cold), "MASKGEN_KERNELS": "numba"}
    out = tmp_path / "twin"
    done = run_maskgen_limited(["augment", rec, "-o", out, "--workers", "1", "-q"], 40_000, **env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: {out}/.maskgen-parts/chunk-000000.part: cannot write here (File too large)"
    ], done.stderr
    done = run_maskgen_limited(["augment", rec, "-o", out, "--overwrite", "-q"], None, **env)
    assert done.returncode == 0, done.stderr
    numpy = tmp_path / "numpy"
    env["MASKGEN_KERNELS"] = "numpy"
    assert run_maskgen_limited(["augment", rec, "-o", numpy, "-q"], None, **env).returncode == 0
    assert (out / "train.rec").read_bytes() == (numpy / "train.rec").read_bytes()


def test_a_run_knows_whether_its_kernels_are_compiled_on_this_machine(tmp_path: Path) -> None:
    """The first augment after an install sat at 0 % for about 20 s, compiling the kernels
    without a word; its bar now says so where the cache has no kernels yet. Here: an empty
    cache says not compiled, and one warp (which compiles and caches the kernel) says
    compiled, in the next process too."""
    ask = (
        "import numpy as np\n"
        "from maskgen.masks import warp\n"
        "print(warp.kernels_compiled_here())\n"
        "if len(__import__('sys').argv) > 1:\n"
        "    triangle = np.array([[[1.0, 1.0], [9.0, 1.0], [1.0, 9.0]]])\n"
        "    warp.dense_map(triangle, triangle, 12, 12)\n"
        "    print(warp.kernels_compiled_here())\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "MASKGEN_KERNELS": "numba"}

    def run(*args: str) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", ask, *args], env=env, capture_output=True, text=True, cwd=REPO
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert run() == ["False"]  # NUMBA_CACHE_DIR: numba caches there, not in __pycache__
    assert run("warp") == ["False", "True"]
    assert run() == ["True"]
