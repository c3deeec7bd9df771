"""``maskgen augment``, ``merge`` and ``index`` through click's CliRunner: exit codes, messages,
and nothing written on a bad invocation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner, Result

from maskgen.cli.main import cli
from maskgen.formats.recordio import RecordIOReader
from tests.conftest import REPO, run_maskgen_limited

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def mini(rec_dir: Path) -> Path:
    return rec_dir / "lfw-mini" / "train.rec"


def _run(*args: object, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def _one_error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_augment_writes_the_twin_and_a_summary(tmp_path: Path, mini: Path) -> None:
    result = _run("augment", mini, "-o", tmp_path, "--workers", "2", "--seed", "5")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    summary = result.stderr.strip().splitlines()[-1]
    assert "294 images" in summary and "images/s" in summary and "train.rec" in summary
    assert len(RecordIOReader(tmp_path / "train.rec")) == 335
    again = _run("augment", mini, "-o", tmp_path)
    assert again.exit_code == 1 and "--overwrite" in _one_error_line(again)
    quiet = _run("augment", mini, "-o", tmp_path, "--seed", "5", "--overwrite", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == ""


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--mask-types", "surgical,bandana"], 2, "'--mask-types': unknown mask type 'bandana'"),
        (["--color-prob", "1.5"], 2, "'--color-prob'"),
        (["--texture-prob", "-0.1"], 2, "'--texture-prob'"),
        (["--shard", "4/4"], 2, "0 <= I < N (0-based)"),
        (["--shard", "two"], 2, "expected I/N"),
        (["--workers", "0"], 2, "'--workers'"),
        (["--face-mode", "sideways"], 2, "'--face-mode'"),
        (["--wear", "correct=0.7,nose=0.3"], 2, "'--wear': unknown placement 'nose'; known: "),
        (["--wear", "correct=0.5"], 2, "'--wear': wear probabilities must sum to 1, got 0.5"),
        (["--wear", "correct=0.7;chin_uncovered=0.3"], 2, "is not a number; expected NAME="),
        (["--wear", "correct=,chin_uncovered=1"], 2, "'correct=': expected NAME=PROBABILITY"),
        (["--wear", ""], 2, "NAME one of correct, nose_uncovered, mouth_uncovered, chin_unc"),
        (["--wear", "correct=0.5,Correct=0.5"], 2, "'--wear': placement 'correct' given twice"),
        (
            ["--wear", "correct=1.5,chin_uncovered=-0.5"],
            2,
            "chin_uncovered must be a finite number >= 0",
        ),
    ],
)
def test_bad_options_fail_before_writing(
    tmp_path: Path, mini: Path, args: list[str], code: int, message: str
) -> None:
    result = _run("augment", mini, "-o", tmp_path / "out", *args)
    assert result.exit_code == code
    assert message in _one_error_line(result)
    assert not (tmp_path / "out").exists()


def test_bad_locations_fail_with_one_line(tmp_path: Path, mini: Path, lfw_dir: Path) -> None:
    missing = _run("augment", tmp_path / "nothing.rec", "-o", tmp_path / "out")
    assert missing.exit_code == 2 and "nothing.rec' does not exist" in _one_error_line(missing)
    onto_input = _run("augment", mini, "-o", mini.parent)
    assert onto_input.exit_code == 1 and "overwrite the input" in _one_error_line(onto_input)
    inside = _run("augment", lfw_dir, "-o", lfw_dir / "masked")
    assert inside.exit_code == 1 and "overlap" in _one_error_line(inside)
    assert not (tmp_path / "out").exists() and not (lfw_dir / "masked").exists()


def test_damaged_rec_fails_with_one_line_and_no_output(tmp_path: Path, mini: Path) -> None:
    damaged = tmp_path / "train.rec"
    damaged.write_bytes(mini.read_bytes()[: mini.stat().st_size // 2])
    shutil.copyfile(mini.with_suffix(".idx"), damaged.with_suffix(".idx"))
    result = _run("augment", damaged, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.strip() == _one_error_line(result)
    assert "train.rec" in result.stderr and "offset" in result.stderr
    assert not (tmp_path / "out").exists()


def test_slurm_array_shards_then_merge(tmp_path: Path, mini: Path) -> None:
    env = {"SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "1"}
    first = _run("augment", mini, "-o", tmp_path, env={**env, "SLURM_ARRAY_TASK_ID": "2"})
    assert first.exit_code == 0 and "shard 1/2" in first.stderr and "maskgen merge" in first.stderr
    early = _run("merge", tmp_path)
    assert early.exit_code == 1 and "of 2 shards (0-based), shard 0 not done" in _one_error_line(
        early
    )
    second = _run("augment", mini, "-o", tmp_path, "--shard", "0/2", env=env)
    assert second.exit_code == 0, second.output
    merged = _run("merge", tmp_path)
    assert merged.exit_code == 0 and "merged 2 shards" in merged.stderr
    assert len(RecordIOReader(tmp_path / "train.rec")) == 335
    twice = _run("merge", tmp_path)
    assert twice.exit_code == 1 and "a finished twin, nothing to merge" in _one_error_line(twice)


def test_index_rebuilds_a_missing_idx(tmp_path: Path, mini: Path) -> None:
    rec = tmp_path / "train.rec"
    shutil.copyfile(mini, rec)
    result = _run("index", rec)
    assert result.exit_code == 0 and "train.idx" in result.stderr
    assert rec.with_suffix(".idx").read_bytes() == mini.with_suffix(".idx").read_bytes()
    elsewhere = _run("index", rec, "-o", tmp_path / "other.idx")
    assert elsewhere.exit_code == 0
    assert (tmp_path / "other.idx").read_bytes() == mini.with_suffix(".idx").read_bytes()


def test_index_replaces_an_existing_idx_only_with_overwrite(tmp_path: Path, mini: Path) -> None:
    rec = tmp_path / "train.rec"
    shutil.copyfile(mini, rec)
    damaged = rec.with_suffix(".idx")
    damaged.write_bytes(b"0\t0\n1\t99\n")
    refused = _run("index", rec)
    assert refused.exit_code == 1 and "pass --overwrite" in _one_error_line(refused)
    assert damaged.read_bytes() == b"0\t0\n1\t99\n"
    assert _run("index", rec, "--overwrite").exit_code == 0
    assert damaged.read_bytes() == mini.with_suffix(".idx").read_bytes()


def test_index_given_the_idx_names_the_rec(tmp_path: Path, mini: Path) -> None:
    """``maskgen index train.idx`` (the index itself) was told "train.idx exists; pass
    --overwrite", which then failed on a bad magic number; it now says to give the .rec, with
    --overwrite or without, and leaves the .idx alone."""
    rec, idx = tmp_path / "train.rec", tmp_path / "train.idx"
    shutil.copyfile(mini, rec)
    shutil.copyfile(mini.with_suffix(".idx"), idx)
    for extra in ((), ("--overwrite",)):
        result = _run("index", idx, *extra)
        assert result.exit_code == 1
        assert f"give the .rec, {rec}" in _one_error_line(result)
    assert idx.read_bytes() == mini.with_suffix(".idx").read_bytes()
    for extra in ((), ("--overwrite",)):  # with it, the .rec itself was replaced by its index
        same = _run("index", rec, "-o", rec, *extra)
        assert same.exit_code == 1 and "written over the file it indexes" in _one_error_line(same)
        assert rec.read_bytes() == mini.read_bytes()


def test_help_says_shards_are_zero_based() -> None:
    result = _run("augment", "--help")
    assert result.exit_code == 0
    assert "0-based" in result.stdout and "Example: maskgen augment" in result.stdout


def test_wear_default_is_byte_identical_and_wear_labels_the_twin(
    tmp_path: Path, mini: Path
) -> None:
    """--wear correct=1 (in any spelling) writes exactly what no --wear writes, labels
    [identity, masked]; another --wear gives [identity, masked, wear class], recorded in
    maskgen.json, and a --resume with another --wear is refused."""
    plain, default = tmp_path / "plain", tmp_path / "default"
    assert _run("augment", mini, "-o", plain, "-q").exit_code == 0
    assert _run("augment", mini, "-o", default, "-q", "--wear", " Correct = 1.0 ").exit_code == 0
    for name in ("train.rec", "train.idx", "property", "manifest.jsonl", "maskgen.json"):
        assert (plain / name).read_bytes() == (default / name).read_bytes(), name
    assert {RecordIOReader(plain / "train.rec").read(k).label.size for k in range(1, 295)} == {2}
    worn = tmp_path / "worn"
    result = _run("augment", mini, "-o", worn, "-q", "--wear", "chin_uncovered")
    assert result.exit_code == 0, result.output
    twin = RecordIOReader(worn / "train.rec")
    labels = [tuple(twin.read(k).label[1:]) for k in twin.image_keys()]
    rows = [json.loads(line) for line in (worn / "manifest.jsonl").read_text().splitlines()]
    assert set(labels) <= {(1.0, 4.0), (0.0, 0.0)}  # faces left unmasked (occluded): class 0
    assert labels.count((0.0, 0.0)) == sum(not row["masked"] for row in rows) < 15
    info = json.loads((worn / "maskgen.json").read_text())
    assert info["parameters"]["mask_spec"]["wear"] == {"chin_uncovered": 1.0}
    refused = _run("augment", mini, "-o", worn, "--resume", "--wear", "correct=1")
    assert refused.exit_code == 1 and "other parameters" in _one_error_line(refused)


def test_help_documents_wear() -> None:
    for command in ("augment", "preview", "mask"):
        result = _run(command, "--help")
        assert result.exit_code == 0 and "--wear NAME=P,..." in result.stdout, command
        assert "chin_uncovered" in result.stdout


def test_wear_training_mix_labels_the_twin_in_its_shares(tmp_path: Path, mini: Path) -> None:
    """--wear training: masks correct, under the nose or off the chin (never pulled onto the
    chin), all labelled masked, in roughly the mix's 0.8 / 0.15 / 0.05 shares."""
    out = tmp_path / "training"
    result = _run("augment", mini, "-o", out, "-q", "--wear", "training")
    assert result.exit_code == 0, result.output
    twin = RecordIOReader(out / "train.rec")
    labels = [tuple(twin.read(k).label[1:]) for k in twin.image_keys()]
    masked = [wear for flag, wear in labels if flag == 1.0]
    assert set(masked) == {1.0, 2.0, 4.0}  # correct, nose_uncovered, chin_uncovered
    assert set(labels) - {(1.0, 1.0), (1.0, 2.0), (1.0, 4.0)} <= {(0.0, 0.0)}
    shares = [masked.count(wear) / len(masked) for wear in (1.0, 2.0, 4.0)]
    # 280-odd draws: binomial standard errors of about 0.024, 0.021 and 0.013
    assert abs(shares[0] - 0.8) < 0.08 and abs(shares[1] - 0.15) < 0.07
    assert 0.0 < shares[2] < 0.11
    info = json.loads((out / "maskgen.json").read_text())
    wanted = {"correct": 0.8, "nose_uncovered": 0.15, "chin_uncovered": 0.05}
    assert info["parameters"]["mask_spec"]["wear"] == pytest.approx(wanted)


def test_reproducing_md_twins_every_evaluation_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/reproducing.md's loop over the evaluation .bin files, run as written: every set
    gets its twin, at the paths its training and eval commands then read (all four used to be
    written into one OUTDIR, which refuses the second set)."""
    import re

    import cv2
    import numpy as np

    from maskgen.formats.verification import write_verification_bin
    from tests.conftest import REPO

    text = (REPO / "docs" / "reproducing.md").read_text()
    loop = re.search(r"for set in ([\w ]+); do\n\s*(maskgen augment [^\n]+)\ndone", text)
    assert loop is not None
    grey = cv2.imencode(".jpg", np.full((112, 112, 3), 128, np.uint8))[1].tobytes()
    monkeypatch.chdir(tmp_path)
    for name in loop.group(1).split():
        write_verification_bin(Path("faces_emore") / f"{name}.bin", [grey] * 20, [True] * 10)
        args = loop.group(2).replace("$set", name).split()[1:]
        result = _run(*args, "--workers", "1", "-q")
        assert result.exit_code == 0, (name, result.output)
    read = set(re.findall(r"masked_bins/[\w/]+\.bin", text))
    assert len(read) == 4 and all(Path(path).is_file() for path in read), read


def test_reproducing_md_masks_every_face_of_an_evaluation_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lfw_fold1_bin: Path
) -> None:
    """docs/reproducing.md tells the reader to check that the twin of an evaluation set reads
    "0 not masked" (eval counts every face of a --masked-bin as masked). Its loop, run as
    written on real crops with something in front of the chin (lfw-fold1's images 1 and 2),
    read "2 masked, 2 not masked (occluded 2)": the command lacked --no-face-checks."""
    import re

    from maskgen.formats.verification import read_verification_bin, write_verification_bin
    from tests.conftest import REPO

    text = (REPO / "docs" / "reproducing.md").read_text()
    loop = re.search(r"for set in ([\w ]+); do\n\s*(maskgen augment [^\n]+)\ndone", text)
    assert loop is not None and '"0 not masked"' in text
    images, issame = read_verification_bin(lfw_fold1_bin)
    monkeypatch.chdir(tmp_path)
    write_verification_bin(Path("faces_emore") / "lfw.bin", images[:4], issame[:2])
    args = loop.group(2).replace("$set", "lfw").split()[1:]
    result = _run(*args, "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "4 images: 4 masked, 0 not masked" in result.stderr


def test_tiffs_leave_no_decoder_log_lines_on_stderr(tmp_path: Path, lfw_dir: Path) -> None:
    """A 16-bit RGBA TIFF as OpenCV writes it (masked) and a truncated TIFF (a cut-off
    download: unreadable, copied). OpenCV logged "[ WARN:0@0.16] ... TIFF_Warning
    TIFFReadDirectory: Sum of Photometric type-related color channels ..." for the first and
    "[ERROR:0@0.27] ... imdecode_(''): can't read data" for the second, Pillow "UserWarning:
    Corrupt EXIF data", none naming a file, on a run that ended well: they read as its errors.
    The real program, in its own process (OpenCV logs from C++)."""
    source = tmp_path / "in"
    source.mkdir()
    photo = cv2.imread(str(lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg"))
    rgba16 = np.dstack([photo, np.full(photo.shape[:2], 200, np.uint8)]).astype(np.uint16) * 257
    assert cv2.imwrite(str(source / "rgba16.tif"), rgba16)
    data = cv2.imencode(".tif", photo)[1].tobytes()
    (source / "cut.tif").write_bytes(data[: len(data) * 2 // 3])
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_LOG_LEVEL"}
    env["PYTHONPATH"] = str(REPO)
    command = [sys.executable, "-m", "maskgen", "augment", source, "-o", tmp_path / "out"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr  # the summary alone
    assert done.stderr.startswith("2 images: 1 masked, 1 not masked (unreadable 1)")
    rows = [json.loads(line) for line in (tmp_path / "out" / "manifest.jsonl").open()]
    assert [row["reason"] for row in rows] == ["unreadable", None]


def test_damaged_pngs_and_jpegs_leave_no_libpng_or_libjpeg_lines_on_stderr(
    tmp_path: Path, lfw_dir: Path
) -> None:
    """A PNG cut short (unreadable, copied) and a JPEG cut short with its end marker put back
    (decoded, grey below the cut). OpenCV's libpng and libjpeg wrote "libpng error: PNG input
    buffer is incomplete" and "Corrupt JPEG data: premature end of data segment" straight to
    descriptor 2, on a run that recorded both files and ended well. Now nothing, in this
    process and in forked workers (--workers 2, a chunk per file); -vv shows them, and the
    manifest keeps libjpeg's line as the decoded JPEG's ``decoder_warning``."""
    source = tmp_path / "in"
    source.mkdir()
    jpeg = (lfw_dir / "Al_Gore" / "Al_Gore_0001.jpg").read_bytes()
    png = cv2.imencode(".png", cv2.imdecode(np.frombuffer(jpeg, np.uint8), 1))[1].tobytes()
    for i in range(2):
        (source / f"cut{i}.png").write_bytes(png[:-30])
        (source / f"cut{i}.jpg").write_bytes(jpeg[: len(jpeg) // 2] + b"\xff\xd9")
    lines = ("libpng error: PNG input buffer is incomplete", "Corrupt JPEG data: premature end")
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        done = run_maskgen_limited(
            ["augment", source, "-o", out, "--workers", workers, "--chunk-size", 1], None
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr  # the summary
        assert (  # named there, not in the manifest alone
            ", 2 images read though damaged (decoder_warning in the manifest); " in done.stderr
        ), done.stderr
        assert json.loads((out / "maskgen.json").read_text())["counts"]["damaged"] == 2
        rows = [json.loads(line) for line in (out / "manifest.jsonl").open()]
        reasons = {row["key"]: row["reason"] for row in rows}
        assert reasons["cut0.png"] == reasons["cut1.png"] == "unreadable"
        assert reasons["cut0.jpg"] != "unreadable"  # decoded, as far as it goes
        said = {row["key"]: row["decoder_warning"] for row in rows}
        assert said["cut0.jpg"] == said["cut1.jpg"], said  # the damage, kept in the manifest
        assert said["cut0.jpg"].startswith("Corrupt JPEG data: premature end"), said
        assert said["cut0.png"] is None  # unreadable says it already
    done = run_maskgen_limited(["-vv", "augment", source, "-o", tmp_path / "debug"], None)
    assert done.returncode == 0, done.stderr
    assert all(line in done.stderr for line in lines), done.stderr


def _augment_limited(
    args: list[object], file_size_limit: int | None
) -> subprocess.CompletedProcess[str]:
    """``maskgen augment ARGS`` in one worker, its files held under ``file_size_limit`` bytes."""
    return run_maskgen_limited(["augment", *args, "--workers", "1"], file_size_limit)


def test_a_failed_write_is_one_line_and_keeps_the_finished_chunks(
    tmp_path: Path, mini: Path
) -> None:
    """A .rec twin on a disk that fills up: the part writer's and the final join's OSError
    reached the command line as two tracebacks (a worker's and the pool's). Now one line
    naming the file, and the finished chunks stay for --resume (a .bin twin's were removed
    as if its input were bad)."""
    out = tmp_path / "out"
    parts = out / ".maskgen-parts"
    # chunks of 16 records: 79, 81, 81 and 87 KB of the twin; the fourth cannot be written
    done = _augment_limited([mini, "-o", out], 84_000)
    assert done.returncode == 1
    expected = f"Error: {parts / 'chunk-000003.part'}: cannot write here (File too large)"
    assert done.stderr.strip() == expected, done.stderr
    assert sorted(p.name for p in parts.glob("chunk-*.jsonl"))[:3] == [
        f"chunk-00000{i}.jsonl" for i in range(3)
    ]
    # every part fits now, but not the 1.5 MB twin they are joined into
    done = _augment_limited([mini, "-o", out, "--resume"], 1_000_000)
    assert done.returncode == 1
    assert done.stderr.strip() == f"Error: {out / 'train.rec'}: cannot write here (File too large)"
    assert not (out / "train.rec").exists() and not list(out.glob(".train.*.tmp"))
    assert _augment_limited([mini, "-o", out, "--resume", "-q"], None).returncode == 0
    reference = _run("augment", mini, "-o", tmp_path / "reference", "-q")
    assert reference.exit_code == 0
    for name in ("train.rec", "train.idx", "manifest.jsonl"):
        assert (out / name).read_bytes() == (tmp_path / "reference" / name).read_bytes()
