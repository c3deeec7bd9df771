"""The paper's experiment in miniature: does training on the masked twin carry over to real masks?

One command builds everything from LFW's photos with maskgen itself, trains ArcFace (originals
only, no mask head: ``maskgen train`` without ``--masked``) and Multi-Task ArcFace (originals +
twin, 50/50) with the same steps, augmentations and seeds, evaluates both, and writes tables shaped
like the paper's Tables I-III with the paper's figures beside ours (``../shared/PAPER.md``)::

    python benchmarks/paper_miniature.py --work /tmp/miniature            # tiny, CPU, 4000 steps
    python benchmarks/paper_miniature.py --work /data/mini --network r18 --device cuda \\
        --batch-size 256 --steps 6000 --workers 8                          # a GPU

Sets (identities of training and evaluation are disjoint):

- training: LFW people with at least ``--min-photos`` photos (at most ``--max-photos`` each)
  who appear in none of the evaluated folds of ``pairs.txt`` and are none of MFR2-dev's people;
  aligned by ``maskgen align`` into a ``.rec``; its twin by ``maskgen augment``;
- LFW: the first ``--folds`` folds of ``pairs.txt`` aligned by ``maskgen align --pairs``, and
  the same pairs masked by ``maskgen augment``;
- real masks: MFR2-dev's 325 pairs (``pairs.bin``); mask-usage accuracy on MFR2-dev's masked and
  unmasked photos (split from ``mask-label.rec``) and on the 243 RMFD crops (all labelled
  masked), as labelled and without the five that show no masked face
  (``benchmarks/rwmfd_not_masked.json``).

Intermediate artefacts are cached under ``--work`` (aligned sets, twins, real-set .recs, runs,
evaluations): a rerun redoes only what is missing. ``--augment`` is ``maskgen train
--augment`` (``none`` or ``realism``: ``maskgen.train.augment``), applied alike to both arms;
``--masked-prob``, ``--mask-weight``, ``--mask-smoothing``, ``--twin-wear`` (the training
twin's ``maskgen augment --wear``) and ``--online-mask`` change the MTArcFace arm only (ArcFace
has no twin and no mask head), so ArcFace runs are shared between candidates that differ only
there. Mask usage is read as ``maskgen eval`` reads it: the mean probability of a face and its
mirror image, above 0.5.

Timings are CPU seconds (this process and its reaped children, ``getrusage``) beside wall
seconds; on a shared machine only the CPU figures mean much.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"

# The paper's figures (Montero et al., Tables I-III; ../shared/PAPER.md): (MTArcFace, ArcFace).
PAPER_MASKED = {"masked LFW": (98.92, 94.75), "MFR2 (real masks)": (99.41, 97.17)}
PAPER_ORIGINAL = {"LFW": (99.45, 99.62)}
PAPER_MASK_USAGE = {"LFW": 99.99, "masked LFW": 99.98, "average (8 sets)": 99.78}

EVAL_SETS = (
    "lfw",
    "mfr2_pairs",
    "lfw_masked",
    "mfr2_masked",
    "mfr2_unmasked",
    "rwmfd",
    "rwmfd_checked",
)
"""The sets every run is evaluated on (keys of the sets' paths)."""
RWMFD_NOT_MASKED = ROOT / "benchmarks" / "rwmfd_not_masked.json"
TARGETS = {
    "real_masked_gain": 3.0,
    "maskgen_masked_gain": 5.0,
    "lfw_loss_max": 2.0,
    "mask_usage_min": 97.0,
}


# --- small helpers --------------------------------------------------------------------------


THREAD_ENV: dict[str, str] = {}
"""Thread-count variables for child processes (set by ``--threads``)."""


def cpu_seconds() -> float:
    """CPU seconds of this process and of every child it has reaped (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Clock:
    """CPU and wall seconds per named phase."""

    def __init__(self) -> None:
        self.phases: dict[str, dict[str, float]] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        cpu, wall = cpu_seconds(), time.perf_counter()
        try:
            yield
        finally:
            entry = self.phases.setdefault(name, {"cpu_s": 0.0, "wall_s": 0.0})
            entry["cpu_s"] += cpu_seconds() - cpu
            entry["wall_s"] += time.perf_counter() - wall


class Commands:
    """The ``maskgen`` commands that make the results (listed whether run now or cached)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ran = False

    def run(self, args: list[str], output: Path) -> None:
        """Run ``maskgen ARGS`` (this checkout's code) in a child process unless ``output``
        is already there (every maskgen output is written atomically); stop on failure."""
        self.lines.append("maskgen " + " ".join(args))
        if output.is_file():
            return
        self.ran = True
        maskgen_cli(args)


def maskgen_cli(args: list[str]) -> None:
    """Run ``maskgen ARGS`` (this checkout's code) in a child process; stop on failure."""
    print("$ maskgen " + " ".join(args), flush=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), **THREAD_ENV}
    code = "import sys; from maskgen.cli.main import cli; sys.exit(cli())"
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, cwd=ROOT, check=False, text=True
    )
    if done.returncode:
        raise SystemExit(f"maskgen {args[0]} failed (exit {done.returncode})")


# --- sets -----------------------------------------------------------------------------------


def pair_folds(pairs_txt: Path) -> list[list[str]]:
    """The lines of each fold of an LFW pairs file (first line ``folds size``)."""
    lines = pairs_txt.read_text().splitlines()
    n_folds, size = (int(v) for v in lines[0].split())
    body = lines[1:]
    per = 2 * size
    return [body[i * per : (i + 1) * per] for i in range(n_folds)]


def people_in(lines: list[str]) -> set[str]:
    """Every name in LFW pair lines (``name i j`` or ``name1 i name2 j``)."""
    names: set[str] = set()
    for line in lines:
        fields = line.split()
        names.add(fields[0])
        if len(fields) == 4:
            names.add(fields[2])
    return names


def training_people(
    lfw: Path, excluded: set[str], mfr2_names: set[str], min_photos: int, max_photos: int
) -> dict[str, list[Path]]:
    """LFW people with >= ``min_photos`` photos, none in ``excluded`` (evaluation pairs) and none
    of MFR2's people (MFR2 writes names without underscores); the first ``max_photos`` each."""
    chosen: dict[str, list[Path]] = {}
    for folder in sorted(p for p in lfw.iterdir() if p.is_dir()):
        name = folder.name
        if name in excluded or name.replace("_", "") in mfr2_names:
            continue
        photos = sorted(folder.glob("*.jpg"))
        if len(photos) >= min_photos:
            chosen[name] = photos[:max_photos]
    return chosen


def link_photo_tree(people: dict[str, list[Path]], out: Path) -> None:
    """``out/<name>/<photo>`` symlinks: the folder ``maskgen align`` reads."""
    if out.exists():
        shutil.rmtree(out)
    for name, photos in people.items():
        (out / name).mkdir(parents=True)
        for photo in photos:
            (out / name / photo.name).symlink_to(photo)


def write_label_rec(path: Path, items: list[tuple[bytes, int, float]]) -> None:
    """A flat RecordIO set of JPEGs labelled ``[identity, mask flag]`` (``maskgen eval --rec``)."""
    from maskgen.formats.insightface import RecordHeader, pack_record
    from maskgen.formats.recordio import RecordIOWriter

    with RecordIOWriter(path) as writer:
        for key, (jpeg, identity, masked) in enumerate(items):
            header = RecordHeader(flag=2, label=[float(identity), masked], id=key, id2=0)
            writer.write_raw(key, pack_record(header, jpeg))


def rwmfd_not_masked() -> dict[str, str]:
    """RMFD crops labelled masked that show no masked face, with what they show
    (``benchmarks/rwmfd_not_masked.json``: every crop was looked at)."""
    return json.loads(RWMFD_NOT_MASKED.read_text())["crops"]


def build_real_sets(work: Path, mfr2: Path, rwmfd: Path) -> dict[str, Path]:
    """MFR2-dev's masked and unmasked photos (from ``mask-label.rec``) and RMFD's crops (all
    masked, identity 0) as labelled .recs, RMFD twice: as labelled, and without the crops of
    :func:`rwmfd_not_masked` (``rwmfd_checked``); kept if already there."""
    from maskgen.formats.recordio import RecordIOReader

    out = {
        "mfr2_masked": work / "real" / "mfr2-dev-masked.rec",
        "mfr2_unmasked": work / "real" / "mfr2-dev-unmasked.rec",
        "rwmfd": work / "real" / "rwmfd-aligned.rec",
        "rwmfd_checked": work / "real" / "rwmfd-aligned-checked.rec",
    }
    if not out["rwmfd_checked"].is_file():
        not_masked = rwmfd_not_masked()
        checked = [p for p in sorted(rwmfd.glob("*.jpg")) if p.name not in not_masked]
        write_label_rec(out["rwmfd_checked"], [(p.read_bytes(), 0, 1.0) for p in checked])
    if all(p.is_file() for p in out.values()):
        return out
    reader = RecordIOReader(mfr2 / "mask-label.rec")
    masked, unmasked = [], []
    for key in reader.image_keys():
        sample = reader.read(key)
        identity, flag = float(sample.label[0]), float(sample.label[1])
        (masked if flag >= 0.5 else unmasked).append((sample.data, int(identity), flag))
    write_label_rec(out["mfr2_masked"], masked)
    write_label_rec(out["mfr2_unmasked"], unmasked)
    crops = [(p.read_bytes(), 0, 1.0) for p in sorted(rwmfd.glob("*.jpg"))]
    write_label_rec(out["rwmfd"], crops)
    return out


def prepare(args: argparse.Namespace, clock: Clock, log: Commands) -> dict[str, Any]:
    """Aligned training set and twin, LFW pairs and their masked twin, real-mask sets."""
    work: Path = args.work
    lfw_root = args.shared / "lfw"
    mfr2 = args.shared / "real-masks" / "mfr2-dev"
    folds = pair_folds(lfw_root / "pairs.txt")[: args.folds]
    evaluated = [line for fold in folds for line in fold]
    mfr2_names = {p.name for p in (mfr2 / "images").iterdir() if p.is_dir()}
    people = training_people(
        lfw_root / "lfw-deepfunneled",
        people_in(evaluated),
        mfr2_names,
        args.min_photos,
        args.max_photos,
    )
    tag = f"f{args.folds}-min{args.min_photos}-max{args.max_photos}"
    sets = {
        "train": work / f"train-{tag}" / "train.rec",
        "train_masked": work / f"train-{tag}-masked" / "train.rec",
        "lfw": work / f"lfw-{args.folds}folds" / "lfw.bin",
        "lfw_masked": work / f"lfw-{args.folds}folds-masked" / "lfw.bin",
        "mfr2_pairs": mfr2 / "pairs.bin",
    }
    workers = str(args.prep_workers)
    pairs = work / f"pairs-{args.folds}folds.txt"
    photos = work / f"photos-{tag}"
    with clock.phase("align lfw pairs (this call)"):
        if not sets["lfw"].is_file():
            pairs.write_text(f"{args.folds} {len(folds[0]) // 2}\n" + "\n".join(evaluated) + "\n")
            sets["lfw"].parent.mkdir(parents=True, exist_ok=True)
        log.run(
            ["align", str(lfw_root / "lfw-deepfunneled"), "--pairs", str(pairs),
             "-o", str(sets["lfw"]), "--workers", workers, "-q"],
            sets["lfw"],
        )  # fmt: skip
    with clock.phase("align training set (this call)"):
        if not sets["train"].is_file():
            link_photo_tree(people, photos)
            sets["train"].parent.mkdir(parents=True, exist_ok=True)
        log.run(  # --no-face centre: the published runs' sets (the default before it skipped)
            ["align", str(photos), "-o", str(sets["train"]), "--no-face", "centre",
             "--workers", workers, "-q"],
            sets["train"],
        )  # fmt: skip
    if args.twin_wear:
        slug = args.twin_wear.replace("=", "").replace(",", "-").replace("_uncovered", "")
        sets["train_masked"] = work / f"train-{tag}-masked-{slug}" / "train.rec"
    with clock.phase("augment (twins) (this call)"):
        for source, twin in (("train", "train_masked"), ("lfw", "lfw_masked")):
            wear = ["--wear", args.twin_wear] if args.twin_wear and twin == "train_masked" else []
            log.run(
                ["augment", str(sets[source]), "-o", str(sets[twin].parent),
                 "--seed", "0", *wear, "--workers", workers, "-q"],
                sets[twin],
            )  # fmt: skip
    with clock.phase("real-mask sets (this call)"):
        sets.update(build_real_sets(work, mfr2, args.shared / "real-masks" / "rwmfd-aligned"))
    from maskgen.formats.recordio import RecordIOReader

    n_train = len(RecordIOReader(sets["train"]).image_keys())
    return {
        "sets": {k: str(v) for k, v in sets.items()},
        "training_identities": len(people),
        "training_faces": n_train,
        "lfw_pairs": len(evaluated),
        "folds": args.folds,
    }


# --- training -------------------------------------------------------------------------------


def schedule_file(args: argparse.Namespace) -> Path:
    """The ``--config`` TOML shared by every run: the schedule the flags cannot set."""
    path = args.work / f"schedule-warmup{args.warmup}.toml"
    text = (
        f'schedule = "poly"\npoly_power = 2.0\nwarmup_steps = {args.warmup}\n'
        "momentum = 0.9\nweight_decay = 5e-4\n"
    )
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def train_flags(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """Settings shared by both arms (as ``maskgen train`` flags); only ``masked`` differs."""
    flags = {
        "network": args.network,
        "device": args.device,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "lr": args.lr,
        "seed": seed,
        "workers": args.workers,
        "log_every": max(args.steps // 10, 1),
        "save_every": args.steps,
        "masked_prob": 0.5,
        "augment": args.augment,
    }
    if getattr(args, "ema_decay", None) is not None:  # absent: the keys of earlier runs stay
        flags["ema_decay"] = args.ema_decay
    if getattr(args, "rotate_limit", 0.0):  # likewise
        flags["rotate_limit"] = args.rotate_limit
    return flags


def mtarcface_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The MTArcFace arm's own settings, every one passed to ``maskgen train`` (its default
    mask smoothing is 0.1, so a 0 must be said)."""
    flags: dict[str, Any] = {"masked_prob": args.masked_prob}
    if args.mask_weight != 1.0:
        flags["mask_weight"] = args.mask_weight
    flags["mask_smoothing"] = args.mask_smoothing
    if args.online_mask:
        flags["online_mask"] = True
        if getattr(args, "online_wear", None):  # placements drawn while loading
            flags["wear"] = args.online_wear
    return flags


KEYED_ONLY_IF: dict[str, Any] = {"mask_smoothing": 0.0}
"""Settings left out of a run's cache key at these values: what runs made before the setting
existed trained with, so that they keep their cache keys."""


def cache_key(flags: dict[str, Any]) -> dict[str, Any]:
    """``flags`` less those at their :data:`KEYED_ONLY_IF` values."""
    return {k: v for k, v in flags.items() if k not in KEYED_ONLY_IF or v != KEYED_ONLY_IF[k]}


def run_arm(
    args: argparse.Namespace, sets: dict[str, str], arm: str, seed: int, log: Commands
) -> tuple[Path, dict[str, float]]:
    """Train one arm with one seed through ``maskgen.train`` (kept if its run folder already
    holds ``last.pt``); returns the run folder and its CPU/wall seconds (RUN/time.json)."""
    from maskgen.atomic import write_text_atomic
    from maskgen.train.config import resolve_config
    from maskgen.train.loop import train

    flags = train_flags(args, seed)
    if arm == "mtarcface":
        flags.update(mtarcface_flags(args))
        if not args.online_mask:
            flags["masked"] = sets["train_masked"]
    config_file = schedule_file(args)
    key = {**cache_key(flags), "data": sets["train"], "schedule": config_file.read_text()}
    if getattr(args, "online_renderer", None) and flags.get("online_mask"):
        key["renderer"] = args.online_renderer  # masks drawn in training: the renderer's too
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
    run_dir = args.work / "runs" / f"{arm}-{args.network}-{args.augment}-s{seed}-{digest}"
    shown = " ".join(
        f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
        for k, values in flags.items()
        for v in (values if isinstance(values, list) else [values])
    )
    log.lines.append(
        f"maskgen train --data {sets['train']} {shown} --config {config_file} -o {run_dir}"
    )
    timing = run_dir / "time.json"
    if (run_dir / "last.pt").is_file() and timing.is_file():
        return run_dir, json.loads(timing.read_text())
    if run_dir.exists():
        shutil.rmtree(run_dir)  # an interrupted run: start it again
    config = resolve_config(
        config_file=config_file, overrides={**flags, "data": sets["train"], "output": str(run_dir)}
    )
    print(f"train {arm} seed {seed} -> {run_dir}", flush=True)
    cpu, wall = cpu_seconds(), time.perf_counter()
    summary = train(config, on_log=lambda row: print(json.dumps(row), flush=True))
    if summary.last_checkpoint is None:
        raise SystemExit(f"{run_dir}: training wrote no checkpoint")
    spent = {"cpu_s": cpu_seconds() - cpu, "wall_s": time.perf_counter() - wall}
    write_text_atomic(timing, json.dumps(spent) + "\n")
    return run_dir, spent


def evaluate_run(
    args: argparse.Namespace, sets: dict[str, str], run_dir: Path, log: Commands
) -> dict[str, Any]:
    """``maskgen eval`` of one run on every set (cached in RUN/eval.json)."""
    out = run_dir / "eval.json"
    if out.is_file() and not _covers(out, [sets[name] for name in EVAL_SETS]):
        out.unlink()  # made before a set was added: made again (about 6 CPU s)
    log.run(
        ["eval", "--model", str(run_dir / "last.pt"),
         "--bin", sets["lfw"], "--bin", sets["mfr2_pairs"],
         "--masked-bin", sets["lfw_masked"],
         "--rec", sets["mfr2_masked"], "--rec", sets["mfr2_unmasked"], "--rec", sets["rwmfd"],
         "--rec", sets["rwmfd_checked"],
         "--device", args.device, "--json", str(out), "-q"],
        out,
    )  # fmt: skip
    return json.loads(out.read_text())


def _covers(report: Path, paths: list[str]) -> bool:
    """Whether an evaluation's JSON holds every set in ``paths``."""
    held = {str(Path(name).resolve()) for name in json.loads(report.read_text())["results"]}
    return all(str(Path(path).resolve()) in held for path in paths)


# --- tables ---------------------------------------------------------------------------------


def figures(report: dict[str, Any], sets: dict[str, str]) -> dict[str, float | None]:
    """The figures the tables use (percent) from one ``maskgen eval`` JSON. Sets are matched
    by their resolved paths: a cached evaluation may name a set through a link (another
    checkout's ``../shared``)."""
    by_name = {str(Path(name).resolve()): result for name, result in report["results"].items()}
    sets = {key: str(Path(path).resolve()) for key, path in sets.items()}

    def acc(key: str) -> float | None:
        value = by_name[sets[key]]["accuracy"]
        return None if value is None else 100 * value

    def mask(key: str) -> float | None:
        value = by_name[sets[key]]["mask_accuracy"]
        return None if value is None else 100 * value

    return {
        "lfw": acc("lfw"),
        "lfw_masked": acc("lfw_masked"),
        "mfr2": acc("mfr2_pairs"),
        "mask_lfw": mask("lfw"),
        "mask_lfw_masked": mask("lfw_masked"),
        "mask_mfr2_masked": mask("mfr2_masked"),
        "mask_mfr2_unmasked": mask("mfr2_unmasked"),
        "mask_rwmfd": mask("rwmfd"),
        "mask_rwmfd_checked": mask("rwmfd_checked"),
    }


def summarise(values: list[float | None]) -> dict[str, Any] | None:
    """Mean, sample standard deviation, min and max over seeds (None if not measured)."""
    real = [v for v in values if v is not None]
    if not real:
        return None
    return {
        "mean": statistics.fmean(real),
        "std": statistics.stdev(real) if len(real) > 1 else 0.0,
        "min": min(real),
        "max": max(real),
        "values": real,
    }


def cell(stat: dict[str, Any] | None) -> str:
    if stat is None:
        return "n/a"
    return f"{stat['mean']:.2f} ± {stat['std']:.2f}"


def markdown(result: dict[str, Any]) -> str:
    """Tables shaped like the paper's I-III, the paper's figures beside ours, and the targets."""
    arms = result["arms"]
    mt, arc = arms.get("mtarcface", {}), arms.get("arcface", {})
    meta = result["setup"]
    lines = [
        f"# Paper in miniature ({meta['network']}, {meta['steps']} steps x batch "
        f"{meta['batch_size']}, lr {meta['lr']} poly, augment {meta['augment']}, "
        f"{_mtarcface_setup(meta)}seeds {', '.join(map(str, meta['seeds']))})",
        "",
        f"Training: {result['data']['training_faces']} aligned LFW faces of "
        f"{result['data']['training_identities']} people who are in none of the evaluated pairs; "
        f"LFW: the first {result['data']['folds']} folds of pairs.txt "
        f"({result['data']['lfw_pairs']} pairs). Ours: mean ± sample std over seeds; "
        "paper: ResNet-50 on MS1MV2, 300k steps.",
        "",
        "## Table I: verification (%) on masked sets",
        "| set | paper MTArcFace | paper ArcFace | ours MTArcFace | ours ArcFace | ours gain |",
        "|---|---|---|---|---|---|",
    ]
    gain = result["gains"]
    rows = (
        ("masked LFW (maskgen twin)", "masked LFW", "lfw_masked"),
        ("MFR2-dev (real masks, 325 pairs)", "MFR2 (real masks)", "mfr2"),
    )
    for label, paper_key, key in rows:
        p_mt, p_arc = PAPER_MASKED[paper_key]
        lines.append(
            f"| {label} | {p_mt} | {p_arc} | {cell(mt.get(key))} | {cell(arc.get(key))} | "
            f"{_signed(gain.get(key))} |"
        )
    lines += [
        "",
        "## Table II: verification (%) on the original set",
        "| set | paper MTArcFace | paper ArcFace | ours MTArcFace | ours ArcFace | ours gain |",
        "|---|---|---|---|---|---|",
        f"| LFW | {PAPER_ORIGINAL['LFW'][0]} | {PAPER_ORIGINAL['LFW'][1]} | {cell(mt.get('lfw'))} "
        f"| {cell(arc.get('lfw'))} | {_signed(gain.get('lfw'))} |",
        "",
        "## Table III: mask-usage accuracy (%) of MTArcFace (threshold 0.5, on the mean "
        "probability of face and mirror image)",
        "| set | paper | ours |",
        "|---|---|---|",
        f"| LFW (real, unmasked) | {PAPER_MASK_USAGE['LFW']} | {cell(mt.get('mask_lfw'))} |",
        f"| masked LFW (maskgen twin) | {PAPER_MASK_USAGE['masked LFW']} | "
        f"{cell(mt.get('mask_lfw_masked'))} |",
        f"| MFR2-dev real masked (86) | – | {cell(mt.get('mask_mfr2_masked'))} |",
        f"| MFR2-dev real unmasked (48) | – | {cell(mt.get('mask_mfr2_unmasked'))} |",
        f"| RMFD crops, real masked, as labelled (243) | – | {cell(mt.get('mask_rwmfd'))} |",
        f"| RMFD crops, labels checked (238: 5 crops without a masked face left out, "
        f"benchmarks/rwmfd_not_masked.json) | – | {cell(mt.get('mask_rwmfd_checked'))} |",
        f"| average | {PAPER_MASK_USAGE['average (8 sets)']} (8 sets) | – |",
        "",
        "## Targets (issue #9)",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for name, text, value, ok in result["targets"]:
        shown = "n/a" if value is None else f"{value:+.2f}" if "gain" in name else f"{value:.2f}"
        lines.append(f"| {text} | {shown} | {'yes' if ok else 'no'} |")
    lines += ["", "## Time (training: when each run was made)", "| phase | CPU s | wall s |"]
    lines.append("|---|---|---|")
    for name, t in result["time"].items():
        lines.append(f"| {name} | {t['cpu_s']:.0f} | {t['wall_s']:.0f} |")
    first = result.get("time_of_first_prepare")
    if first:
        lines += ["", "Building the sets (when first done):", "| phase | CPU s | wall s |"]
        lines.append("|---|---|---|")
        for name, t in first.items():
            lines.append(f"| {name} | {t['cpu_s']:.0f} | {t['wall_s']:.0f} |")
    lines += ["", f"Machine: {result['machine']}", "", "Commands:", "```"]
    lines += result["commands"] + ["```", ""]
    return "\n".join(lines)


def _mtarcface_setup(meta: dict[str, Any]) -> str:
    """The MTArcFace arm's settings where they differ from the first tables' (for the title)."""
    parts = []
    if meta.get("twin_wear"):
        parts.append(f"twin --wear {meta['twin_wear']}")
    if meta.get("online_mask"):
        parts.append("online masks")
    if meta.get("mask_smoothing"):
        parts.append(f"mask smoothing {meta['mask_smoothing']}")
    if meta.get("masked_prob", 0.5) != 0.5:
        parts.append(f"masked-prob {meta['masked_prob']}")
    if meta.get("mask_weight", 1.0) != 1.0:
        parts.append(f"mask weight {meta['mask_weight']}")
    return "".join(f"{part}, " for part in parts)


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f}"


def check_targets(mt: dict[str, Any], arc: dict[str, Any]) -> list[tuple]:
    """(name, description, measured value, met) for each of issue #9's targets."""

    def mean(stats: dict[str, Any], key: str) -> float | None:
        s = stats.get(key)
        return None if s is None else s["mean"]

    def diff(key: str) -> float | None:
        a, b = mean(mt, key), mean(arc, key)
        return None if a is None or b is None else a - b

    rows = []
    real, synth, bare = diff("mfr2"), diff("lfw_masked"), diff("lfw")
    rows.append(("real_gain", "MTArcFace - ArcFace on real masked pairs >= +3", real,
                 real is not None and real >= TARGETS["real_masked_gain"]))  # fmt: skip
    rows.append(("synth_gain", "MTArcFace - ArcFace on maskgen-masked LFW >= +5", synth,
                 synth is not None and synth >= TARGETS["maskgen_masked_gain"]))  # fmt: skip
    rows.append(("bare_gain", "MTArcFace - ArcFace on LFW >= -2", bare,
                 bare is not None and bare >= -TARGETS["lfw_loss_max"]))  # fmt: skip
    for key, text in (
        ("mask_mfr2_masked", "mask usage on real masked (MFR2-dev) >= 97"),
        ("mask_rwmfd", "mask usage on real masked (RMFD as labelled, 243) >= 97"),
        ("mask_rwmfd_checked", "mask usage on real masked (RMFD, labels checked, 238) >= 97"),
        ("mask_mfr2_unmasked", "mask usage on real unmasked (MFR2-dev) >= 97"),
        ("mask_lfw", "mask usage on real unmasked (LFW) >= 97"),
    ):
        value = mean(mt, key)
        rows.append((key, text, value, value is not None and value >= TARGETS["mask_usage_min"]))
    return rows


@contextlib.contextmanager
def work_lock(work: Path) -> Iterator[None]:
    """Hold ``WORK/.prepare-lock`` (a blocking ``flock``) while the block builds what the work
    folder caches, so that several runs started together (one per seed) wait for one another
    there instead of two making one twin at once, which ``maskgen augment`` refuses. Where no
    ``fcntl`` exists (Windows) or the file system has no ``flock``, the block runs unlocked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(work / ".prepare-lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        except OSError as exc:  # a file system without flock (some NFS, Lustre): unlocked
            print(f"{work}: no lock here ({exc.strerror}); runs on it may collide", file=sys.stderr)
        yield


def limit_threads(threads: int) -> None:
    """Use ``threads`` torch CPU threads here and in the commands this script runs (0: torch's
    default)."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
        THREAD_ENV.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))


def write_results(
    out: Path, result: dict[str, Any], render: Callable[[dict[str, Any]], str]
) -> None:
    """Write ``out``.json and ``out``.md (``render(result)``) atomically and print the Markdown."""
    from maskgen.atomic import write_text_atomic

    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out.with_suffix(".json"), json.dumps(result, indent=2) + "\n")
    text = render(result)
    write_text_atomic(out.with_suffix(".md"), text)
    print(text)


def machine() -> str:
    """CPU model and count (from /proc/cpuinfo where there is one)."""
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} CPUs, torch threads {THREAD_ENV or 'default'}"


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="cache folder")
    parser.add_argument("--shared", type=Path, default=SHARED, help="../shared/data")
    parser.add_argument("--folds", type=int, default=2, help="LFW folds evaluated (1-10)")
    parser.add_argument("--min-photos", type=int, default=5)
    parser.add_argument("--max-photos", type=int, default=15)
    parser.add_argument("--network", default="tiny", choices=("tiny", "r18", "r34", "r50"))
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--steps",
        type=int,
        default=4000,
        help="training steps of each run (4000: every issue #9 target met over 5 seeds; "
        "2000 and 3000 fell short, docs/experiments.md)",
    )
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--warmup", type=int, default=100, help="linear warm-up steps")
    parser.add_argument(
        "--ema-decay", type=float, default=None, help="maskgen train --ema-decay (default: none)"
    )
    parser.add_argument("--seeds", default="0,1", help="comma-separated training seeds")
    parser.add_argument("--arms", default="arcface,mtarcface")
    parser.add_argument(
        "--augment", default="realism", choices=("none", "realism"), help="maskgen train --augment"
    )
    parser.add_argument(
        "--rotate-limit",
        type=float,
        default=0.0,
        help="maskgen train --rotate-limit (degrees; default 0: no rotation)",
    )
    parser.add_argument(
        "--masked-prob", type=float, default=0.5, help="MTArcFace: chance of a twin sample"
    )
    parser.add_argument(
        "--mask-weight", type=float, default=1.0, help="MTArcFace: weight of the mask loss"
    )
    parser.add_argument(
        "--mask-smoothing",
        type=float,
        default=None,
        help="MTArcFace: label smoothing of the mask loss (default: maskgen train's)",
    )
    parser.add_argument(
        "--online-mask",
        action="store_true",
        help="MTArcFace: mask the training faces while loading (a new mask each epoch) "
        "instead of reading the twin",
    )
    parser.add_argument(
        "--twin-wear",
        default="training",
        help="MTArcFace: make the training twin with `maskgen augment --wear` this mix "
        "(default: training, the mix for mask-head twins; e.g. correct=0.8,nose_uncovered=0.2;"
        " every placement labelled masked); '' for the plain twin (every mask correct)",
    )
    parser.add_argument("--tag", default="", help="suffix of the default --out name")
    parser.add_argument("--workers", type=int, default=1, help="training loader processes")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (training and eval); 0: torch's default. On this 2-core VM, "
        "shared with other jobs, 2 threads made a tiny-network step 25x slower than 1",
    )
    parser.add_argument("--prep-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--prepare-only", action="store_true", help="build (or check) the sets, train nothing"
    )
    parser.add_argument("--out", type=Path, default=None, help="RESULTS/paper_miniature[.json|.md]")
    args = parser.parse_args(argv)
    if not 1 <= args.folds <= 9:
        parser.error("--folds must be 1-9 (training people must stay outside the folds)")
    args.work = args.work.resolve()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.arms = [a.strip() for a in args.arms.split(",")]
    if any(a not in ("arcface", "mtarcface") for a in args.arms):
        parser.error("--arms: arcface and/or mtarcface")
    if args.rotate_limit:  # maskgen train's own check, here before the sets are made
        from maskgen.errors import ConfigError
        from maskgen.train.config import TrainConfig

        try:
            TrainConfig(augment=args.augment, rotate_limit=args.rotate_limit)
        except ConfigError as exc:
            parser.error(str(exc))
    if args.mask_smoothing is None:
        from maskgen.train.config import TrainConfig

        args.mask_smoothing = TrainConfig().mask_smoothing
    if args.out is None:
        args.out = RESULTS / f"paper_miniature_{args.augment}{args.tag}"
    return args


def main(argv: list[str] | None = None) -> int:
    from maskgen.atomic import write_text_atomic

    args = parse_args(argv)
    if not (args.shared / "lfw" / "pairs.txt").is_file():
        print(f"{args.shared}: no LFW data (../shared/data)", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    limit_threads(args.threads)
    clock, log = Clock(), Commands()
    with work_lock(args.work):
        data = prepare(args, clock, log)
    sets = data.pop("sets")
    built = args.work / "prepare-time.json"
    if log.ran:  # something was built: keep its time for the reruns that find it cached
        write_text_atomic(built, json.dumps(clock.phases, indent=2) + "\n")
    if args.prepare_only:
        print(json.dumps({**data, "time": clock.phases}, indent=2))
        return 0
    per_arm: dict[str, list[dict[str, Any]]] = {}
    runs: dict[str, list[str]] = {}
    train_time: dict[str, dict[str, float]] = {}
    for arm in args.arms:
        for seed in args.seeds:
            run_dir, spent = run_arm(args, sets, arm, seed, log)
            total = train_time.setdefault(f"train {arm} (all seeds)", {"cpu_s": 0, "wall_s": 0})
            for k in total:
                total[k] += spent[k]
            with clock.phase(f"eval {arm} (this call)"):
                report = evaluate_run(args, sets, run_dir, log)
            per_arm.setdefault(arm, []).append(figures(report, sets))
            runs.setdefault(arm, []).append(str(run_dir))
    arms = {
        arm: {key: summarise([f[key] for f in rows]) for key in rows[0]}
        for arm, rows in per_arm.items()
    }
    mt, arc = arms.get("mtarcface", {}), arms.get("arcface", {})
    gains = {}
    for key in ("lfw", "lfw_masked", "mfr2"):
        if mt.get(key) and arc.get(key):
            gains[key] = mt[key]["mean"] - arc[key]["mean"]
    result = {
        "setup": {
            "network": args.network,
            "device": args.device,
            "steps": args.steps,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "schedule": f"poly power 2, {args.warmup} warm-up steps",
            "augment": args.augment,
            "rotate_limit": args.rotate_limit,
            "masked_prob": args.masked_prob,
            "mask_weight": args.mask_weight,
            "mask_smoothing": args.mask_smoothing,
            "online_mask": args.online_mask,
            "twin_wear": args.twin_wear,
            "seeds": args.seeds,
            "workers": args.workers,
            "threads": args.threads,
        },
        "data": {**data, "sets": sets},
        "arms": arms,
        "per_seed": per_arm,
        "runs": runs,
        "gains": gains,
        "targets": check_targets(mt, arc),
        "time": {**clock.phases, **train_time},
        "time_of_first_prepare": json.loads(built.read_text()) if built.is_file() else None,
        "machine": machine(),
        "commands": log.lines,
    }
    write_results(args.out, result, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
