"""Training throughput of Multi-Task ArcFace: the model step and the data loader.

1. Samples/s of one training step (forward, both losses, backward, SGD) of r50 at batch 512,
   bf16 autocast + channels_last, on synthetic uint8 images already on the GPU, after warm-up:
   with the mask head (MTArcFace) and without it (plain ArcFace); the difference is the mask
   head's cost.
2. Decoded images/s of the training data loader alone (RecordIO read, JPEG decode, flip,
   collate) with 16 workers, from --rec or from a .rec of a few thousand 112x112 crops of
   scikit-image's bundled astronaut photo that this script writes first.

Prints a table and writes JSON. ``--smoke`` runs tiny sizes on the CPU (used by the tests).
Installs and downloads nothing.

    python benchmarks/train_throughput.py                      # CUDA, about 1 minute
    python benchmarks/train_throughput.py --smoke --out bench-out/smoke.json

``--cpu-threads`` instead measures what torch's CPU threads cost ``maskgen train`` on this
machine: the same short CPU run (``maskgen.train.train``, tiny network, batch 64, one loader
worker with ``--augment realism``, on lfw-mini or ``--rec``) in a fresh process for each
intra-op thread count and OpenMP wait policy (``OMP_WAIT_POLICY`` must be set before torch
loads), reporting wall and CPU seconds per step (CPU: the process and its reaped loader)::

    python benchmarks/train_throughput.py --cpu-threads --out benchmarks/results/cpu_threads.json
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from maskgen.formats.recordio import write_insightface_rec
from maskgen.train.config import TrainConfig
from maskgen.train.data import EpochSampler, FaceDataset, open_train_data
from maskgen.train.distributed import DistContext
from maskgen.train.trainer import Trainer


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    if args.smoke:
        return {
            "network": "tiny",
            "batch": 16,
            "classes": 100,
            "warmup": 3,
            "steps": 5,
            "precision": "fp32",
            "device": "cpu",
            "workers": 2,
            "images": 256,
            "loader_batches": 8,
        }
    return {
        "network": args.network,
        "batch": args.batch,
        "classes": args.classes,
        "warmup": args.warmup,
        "steps": args.steps,
        "precision": "bf16",
        "device": "cuda",
        "workers": args.workers,
        "images": args.images,
        "loader_batches": args.loader_batches,
    }


def measure_step(s: dict[str, Any], mask_head: bool) -> dict[str, float]:
    """Samples/s of ``Trainer.step`` on synthetic data resident on the device."""
    device = torch.device(s["device"])
    config = TrainConfig(
        network=s["network"],
        batch_size=s["batch"],
        steps=s["warmup"] + s["steps"],
        lr=0.01,
        precision=s["precision"],
        channels_last=device.type == "cuda",
        device=s["device"],
    )
    torch.manual_seed(0)
    trainer = Trainer(
        config,
        num_classes=s["classes"],
        mask_head=mask_head,
        ctx=DistContext(device=device),
        total_steps=config.steps or 1,
    )
    g = torch.Generator(device=device).manual_seed(0)
    images = torch.randint(
        0, 256, (s["batch"], 112, 112, 3), dtype=torch.uint8, device=device, generator=g
    )
    ids = torch.randint(0, s["classes"], (s["batch"],), device=device, generator=g)
    masks = torch.randint(0, 2, (s["batch"],), device=device, generator=g)
    for _ in range(s["warmup"]):
        trainer.step(images, ids, masks)
    _sync(device)
    started = time.perf_counter()
    for _ in range(s["steps"]):
        stats = trainer.step(images, ids, masks)
    _sync(device)
    seconds = time.perf_counter() - started
    assert torch.isfinite(stats[0]), "non-finite loss in the benchmark"
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    del trainer
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    return {
        "samples_per_s": s["steps"] * s["batch"] / seconds,
        "ms_per_step": 1000 * seconds / s["steps"],
        "peak_gib": peak,
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def write_astronaut_rec(path: Path, count: int, identities: int = 100) -> Path:
    """``count`` 112x112 JPEG crops of skimage's astronaut photo, jittered in place and scale,
    split over ``identities`` classes, as an insightface-layout .rec."""
    from skimage import data as skdata

    photo = skdata.astronaut()  # (512, 512, 3) uint8 RGB, bundled with scikit-image
    rng = np.random.default_rng(0)

    def crops(n: int) -> list[bytes]:
        out = []
        for _ in range(n):
            size = int(rng.integers(160, 320))
            y, x = (int(v) for v in rng.integers(0, 512 - size, 2))
            crop = cv2.resize(photo[y : y + size, x : x + size], (112, 112))
            ok, buf = cv2.imencode(".jpg", crop[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
            assert ok
            out.append(buf.tobytes())
        return out

    per = np.full(identities, count // identities)
    per[: count % identities] += 1
    return write_insightface_rec(path, (crops(int(n)) for n in per))


def measure_loader(s: dict[str, Any], rec: Path) -> dict[str, float]:
    """Decoded images/s through the training DataLoader (after its first batch)."""
    data = open_train_data(rec)
    batch = min(s["batch"], len(data))
    sampler = EpochSampler(len(data), batch, seed=0, masked_prob=0.0)
    loader = DataLoader(
        FaceDataset(data),
        batch_size=batch,
        sampler=sampler,
        num_workers=s["workers"],
        drop_last=True,
        persistent_workers=True,
        prefetch_factor=4,
    )
    images, epoch, started = 0, 0, 0.0
    while images < s["loader_batches"] * batch:
        sampler.set_position(epoch, 0)
        for first, (x, _, _) in enumerate(loader):
            if epoch == 0 and first == 0:
                started = time.perf_counter()  # workers are up
                continue
            images += x.shape[0]
        epoch += 1
    seconds = time.perf_counter() - started
    return {"images_per_s": images / seconds, "images": images, "workers": s["workers"]}


CPU_SETTINGS = (
    (None, "unset"),
    (None, "PASSIVE"),
    (1, "unset"),
    (1, "PASSIVE"),
)
"""(threads, OMP_WAIT_POLICY) pairs of ``--cpu-threads``: None is torch's default thread
count (one per core), ``unset`` leaves the variable out (libgomp's default: spin, then sleep)."""


def cpu_run(rec: Path, steps: int, threads: int | None) -> dict[str, float]:
    """One short ``maskgen.train.train`` on the CPU in this process; wall and CPU seconds."""
    import resource

    from maskgen.train.config import resolve_config
    from maskgen.train.loop import train

    if threads is not None:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        config = resolve_config(
            overrides={
                "data": str(rec),
                "output": tmp,
                "network": "tiny",
                "device": "cpu",
                "batch_size": 64,
                "steps": steps,
                "lr": 0.1,
                "workers": 1,
                "threads": threads or torch.get_num_threads(),
                "augment": "realism",
                "log_every": steps,
                "save_every": steps,
            }
        )
        started = time.perf_counter()
        train(config)
        wall = time.perf_counter() - started
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(u.ru_utime + u.ru_stime for u in usage)
    return {"wall_s_per_step": wall / steps, "cpu_s_per_step": cpu / steps}


def measure_cpu_threads(args: argparse.Namespace) -> dict[str, Any]:
    """Every CPU_SETTINGS pair, ``--repeats`` times in turn, each in a fresh process."""
    import os
    import subprocess
    import sys

    rec = args.rec or Path(__file__).resolve().parents[2] / "shared/data/rec/lfw-mini/train.rec"
    rows = []
    for repeat in range(args.repeats):
        for threads, policy in CPU_SETTINGS:
            env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
            if policy != "unset":
                env["OMP_WAIT_POLICY"] = policy
            command = [sys.executable, __file__, "--cpu-child", "--rec", str(rec)]
            command += ["--steps", str(args.steps), "--threads", str(threads or 0)]
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row.update(threads=threads or "default", omp_wait_policy=policy, repeat=repeat)
            print(json.dumps(row), flush=True)
            rows.append(row)
    return {"cores": os.cpu_count(), "steps": args.steps, "rec": str(rec), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-threads", action="store_true", help="thread/wait-policy table")
    parser.add_argument("--cpu-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=2, help="--cpu-threads rounds")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU")
    parser.add_argument("--network", default="r50")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--classes", type=int, default=85742, help="identities (MS1MV2: 85742)")
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--images", type=int, default=4096, help="size of the generated .rec")
    parser.add_argument("--loader-batches", type=int, default=40)
    parser.add_argument("--rec", type=Path, help="measure the loader on this .rec instead")
    parser.add_argument("--out", type=Path, default=Path("bench-out/train_throughput.json"))
    args = parser.parse_args()
    if args.cpu_child:
        print(json.dumps(cpu_run(args.rec, args.steps, args.threads or None)))
        return
    if args.cpu_threads:
        result = measure_cpu_threads(args)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
        return
    s = _settings(args)
    if s["device"] == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA GPU: run with --smoke on the CPU")
    if s["device"] == "cuda":
        torch.backends.cudnn.benchmark = True
    # alternate the two models and keep each one's best run, so that neither pays for the
    # other's warm-up (cuDNN autotuning, allocator growth, clock ramp-up)
    runs = [measure_step(s, mask_head=head) for head in (True, False, True, False)]
    mt = max(runs[0::2], key=lambda r: r["samples_per_s"])
    plain = max(runs[1::2], key=lambda r: r["samples_per_s"])
    with tempfile.TemporaryDirectory() as tmp:
        rec = args.rec or write_astronaut_rec(Path(tmp) / "astronaut.rec", s["images"])
        loader = measure_loader(s, rec)
    overhead = 100.0 * (plain["samples_per_s"] / mt["samples_per_s"] - 1.0)
    result = {
        "settings": s,
        "device": torch.cuda.get_device_name() if s["device"] == "cuda" else platform.machine(),
        "torch": torch.__version__,
        "mtarcface": mt,
        "arcface_only": plain,
        "mask_head_cost_percent": overhead,
        "loader": loader,
    }
    print(f"device: {result['device']}  torch {torch.__version__}")
    print(f"{s['network']} batch {s['batch']} {s['precision']}, {s['classes']} identities")
    print(f"{'':24}{'samples/s':>12}{'ms/step':>10}{'peak GiB':>10}")
    for name, row in (("MTArcFace", mt), ("ArcFace (no mask head)", plain)):
        line = f"{row['samples_per_s']:12.0f}{row['ms_per_step']:10.1f}{row['peak_gib']:10.1f}"
        print(f"{name:24}{line}")
    print(f"mask head cost: {overhead:+.2f} %")
    print(
        f"data loader, {loader['workers']} workers: {loader['images_per_s']:.0f} decoded images/s"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
