"""Does a tiny `--wear-classes` model tell how a mask is worn on people it never saw? (#13)

Identity-disjoint sets from LFW: people with at least ``--min-images`` photos, sorted by name,
alternate between training and held-out (so no person is in both); up to ``--per-person``
photos each. Each set is aligned with ``maskgen align`` and twinned with ``maskgen augment
--wear`` (every placement a quarter; the held-out twin with another seed). A tiny network is
trained on CPU with ``maskgen train --wear-classes`` (--masked-prob 0.8: originals give class
0; lr 0.1 with a linear warm-up and a poly decay, as ``paper_miniature.py``: train's default
step milestones lie far beyond a few thousand steps, and at a constant 0.1 the held-out figures
swing by up to 10 points from one 500-step checkpoint to the next), then judged on the held-out
set:

- classes 1-4 (correct, nose/mouth/chin uncovered): ``maskgen eval --rec`` on the held-out
  twin (its per-class accuracy and confusion matrix);
- class 0 (no mask): the held-out originals, counted right where the argmax of the
  mirror-averaged ``wear_prob`` is 0.

Target (issue #13): >= 95 % per class.

    python benchmarks/wear_classes.py [--people-train 300] [--per-person 15] [--steps 4000]
        [--seed 0] [--work DIR] [--out FILE] [--train-args "--augment none"] [--trajectory 500]
        [--schedule poly|constant]

``--work DIR`` that already holds the prepared sets (``train/train.rec``,
``train-wear/train.rec``, ``held/held.rec``, ``held-wear/held.rec``; an earlier run's
``train.rec`` and ``held.rec`` directly in ``DIR`` are taken too) is reused: only training (into
``DIR/run-s<seed>``, or ``--run NAME``) and evaluation run again; one holding only the aligned
sets masks them again (after a change to the masks). ``--trajectory N`` also judges
the checkpoints saved every N steps (is the last one typical of the run, or one swing of it?).

Results go to ``--out`` (default ``benchmarks/results/wear_classes_seed<seed>.json``); times are
CPU seconds (``time.process_time`` of this process and its children), the wall clock is noisy
on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"
WEAR = "correct=0.25,nose_uncovered=0.25,mouth_uncovered=0.25,chin_uncovered=0.25"
RESULTS = ROOT / "benchmarks" / "results"
TRAIN_OPTIONS = (
    "augment", "mask_smoothing", "mask_weight", "masked_prob", "lr", "schedule", "warmup_steps",
)  # fmt: skip
"""Training settings copied from the run's config.json into the results."""


def maskgen(*args: object) -> None:
    """Run the maskgen CLI of this checkout; stop on failure."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from maskgen.cli.main import main; main()", *map(str, args)]
    print("+ maskgen", " ".join(map(str, args)), flush=True)
    subprocess.run(cmd, check=True, env=env)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children."""
    own = time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + children.ru_utime + children.ru_stime


def split_people(lfw: Path, min_images: int, per_person: int, count: int) -> tuple[list, list]:
    """(train people, held-out people): folders with >= min_images photos, alternating."""
    people = sorted(p for p in lfw.iterdir() if p.is_dir())
    people = [p for p in people if len(list(p.glob("*.jpg"))) >= min_images]
    train, held = people[0::2][:count], people[1::2][: max(count // 3, 10)]
    del per_person
    return train, held


def link_set(people: list[Path], folder: Path, per_person: int) -> Path:
    """A PHOTO_DIR/<identity>/*.jpg tree of links to up to ``per_person`` photos each."""
    for person in people:
        target = folder / person.name
        target.mkdir(parents=True, exist_ok=True)
        for photo in sorted(person.glob("*.jpg"))[:per_person]:
            (target / photo.name).symlink_to(photo)
    return folder


def none_class_accuracy(model: Path, originals: Path) -> tuple[float, int]:
    """Share of the held-out original (unmasked) faces whose predicted wear class is 0 (the
    mirror-averaged probabilities, as ``maskgen eval`` judges the twin)."""
    sys.path.insert(0, str(ROOT))
    from maskgen.formats.recordio import RecordIOReader
    from maskgen.nn.embedder import Embedder

    embedder = Embedder.from_path(model, device="cpu")
    reader = RecordIOReader(originals)
    payloads = (reader.read(k).data for k in reader.image_keys())
    result = embedder.embed_encoded(payloads, source=str(originals), flip=True)
    assert result.wear_prob is not None, "not a wear-class model"
    predicted = result.wear_prob.argmax(axis=1)
    return float(np.mean(predicted == 0)), len(predicted)


def image_count(rec: Path) -> int:
    """Image records in ``rec``."""
    sys.path.insert(0, str(ROOT))
    from maskgen.formats.recordio import RecordIOReader

    return len(list(RecordIOReader(rec).image_keys()))


def people_count(rec: Path) -> int:
    """Distinct identities (label element 0) in ``rec``."""
    sys.path.insert(0, str(ROOT))
    from maskgen.formats.recordio import RecordIOReader

    reader = RecordIOReader(rec)
    return len({float(reader.read(k).label[0]) for k in reader.image_keys()})


def _aligned_path(work: Path, name: str) -> Path:
    """``DIR/<name>/<name>.rec``: each aligned set in a folder of its own, since a .rec's
    folder holds its ``property`` (``maskgen align`` refuses another set's); an earlier run's
    ``DIR/<name>.rec`` is reused where it is."""
    earlier = work / f"{name}.rec"
    return earlier if earlier.exists() else work / name / f"{name}.rec"


def prepare(work: Path, args: argparse.Namespace) -> tuple[dict, bool]:
    """The (original .rec, twin .rec) of the train and held-out sets in ``work``, and whether
    they were already there (then nothing is aligned or masked again)."""
    sets = {name: (_aligned_path(work, name), work / f"{name}-wear" / f"{name}.rec")
            for name in ("train", "held")}  # fmt: skip
    if all(path.exists() for pair in sets.values() for path in pair):
        print(f"reusing the prepared sets in {work}", flush=True)
        return sets, True
    train_people, held_people = split_people(
        LFW, args.min_images, args.per_person, args.people_train
    )
    for name, people, seed in (("train", train_people, 0), ("held", held_people, 1)):
        rec, twin = sets[name]
        if rec.exists():
            print(f"reusing the aligned {rec}", flush=True)
        else:
            photos = link_set(people, work / f"{name}-photos", args.per_person)
            rec.parent.mkdir(parents=True, exist_ok=True)
            # --no-face centre: the published runs' sets (the default before it skipped)
            maskgen(
                "align", photos, "-o", rec, "--no-face", "centre", "--workers", args.workers, "-q"
            )
        if not twin.exists():
            maskgen("augment", rec, "-o", twin.parent, "--wear", WEAR, "--seed", seed,
                    "--workers", args.workers, "-q")  # fmt: skip
    return sets, False


def schedule_options(work: Path, args: argparse.Namespace) -> list:
    """``--config FILE`` options of the learning-rate schedule (the flags cannot set it): none
    for ``constant`` (train's step milestones lie far past a few thousand steps)."""
    if args.schedule == "constant":
        return []
    path = work / f"schedule-poly-warmup{args.warmup}.toml"
    path.write_text(f'schedule = "poly"\npoly_power = 2.0\nwarmup_steps = {args.warmup}\n')
    return ["--config", path]


def judge(model: Path, sets: dict, work: Path) -> dict:
    """Per-class accuracy of ``model`` on the held-out set: classes 1-4 from ``maskgen eval``
    on the twin, class 0 from the originals; with the twin's confusion matrix."""
    report = work / f"eval-{model.parent.name}-{model.stem}.json"
    maskgen("eval", "--model", model, "--rec", sets["held"][1], "--json", report, "-q")
    figures = json.loads(report.read_text())["results"][str(sets["held"][1])]
    none_acc, none_n = none_class_accuracy(model, sets["held"][0])
    per_class = dict(figures["wear_class_accuracy"])
    twin_none = per_class["none"]  # the few twin faces augment could not mask
    per_class["none"] = none_acc
    return {
        "per_class_accuracy": per_class,
        "twin_unmasked_accuracy": twin_none,
        "twin_confusion": figures["wear_confusion"],
        "twin_mask_accuracy": figures["mask_accuracy"],
        "held_out_twin_images": figures["images"],
        "held_out_originals": none_n,
        "meets_target": all(v is not None and v >= 0.95 for v in per_class.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people-train", type=int, default=300)
    parser.add_argument("--min-images", type=int, default=4)
    parser.add_argument("--per-person", type=int, default=15)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="maskgen train --seed")
    parser.add_argument("--work", type=Path, default=None, help="reused where prepared")
    parser.add_argument("--run", default=None, help="run folder in --work [run-s<seed>]")
    parser.add_argument("--out", type=Path, default=None, help="results JSON")
    parser.add_argument("--train-args", default="", help="more maskgen train options")
    parser.add_argument("--trajectory", type=int, default=0, help="judge every N steps too")
    parser.add_argument(
        "--schedule", choices=("poly", "constant"), default="poly",
        help="poly: lr 0.1 decayed as (1 - t)^2 after --warmup steps (as paper_miniature.py); "
        "constant: 0.1 throughout (this benchmark before; its last step is one swing of many)",
    )  # fmt: skip
    parser.add_argument("--warmup", type=int, default=100, help="linear warm-up steps (poly)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="wear-classes-"))
    work.mkdir(parents=True, exist_ok=True)
    out = args.out or RESULTS / f"wear_classes_seed{args.seed}.json"
    start = cpu_seconds()
    sets, reused = prepare(work, args)
    prepared = cpu_seconds()
    run = work / (args.run or f"run-s{args.seed}")
    save_every = args.trajectory or args.steps
    maskgen("train", "--data", sets["train"][0], "--masked", sets["train"][1], "--wear-classes",
            "--network", "tiny", "--device", "cpu", "--steps", args.steps, "--batch-size",
            args.batch_size, "--lr", 0.1, "--masked-prob", 0.8, "--seed", args.seed,
            "--workers", args.workers, "--log-every", 100, "--save-every", save_every,
            *schedule_options(work, args), "-o", run, *shlex.split(args.train_args))  # fmt: skip
    trained = cpu_seconds()
    final = judge(run / "last.pt", sets, work)
    trajectory = {}
    if args.trajectory:
        for step in range(args.trajectory, args.steps, args.trajectory):
            figures = judge(run / f"step_{step}.pt", sets, work)
            trajectory[step] = figures["per_class_accuracy"]
        trajectory[args.steps] = final["per_class_accuracy"]
    config = json.loads((run / "config.json").read_text())["config"]
    result = {
        "command": "python benchmarks/wear_classes.py " + " ".join(sys.argv[1:]),
        "machine": "this project's 2-core AMD EPYC VM (CPU only)",
        "seed": args.seed,
        "train_options": {k: config[k] for k in TRAIN_OPTIONS},
        "train_args": args.train_args,
        "train_people": people_count(sets["train"][0]),
        "held_out_people": people_count(sets["held"][0]),
        "train_images": image_count(sets["train"][0]),
        "steps": args.steps,
        "batch_size": args.batch_size,
        **final,
        "trajectory": trajectory or None,
        "target": 0.95,
        "reused_prepared_sets": reused,
        "cpu_s_prepare": prepared - start,
        "cpu_s_train": trained - prepared,
        "work": str(work),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
