"""Loader throughput of ``maskgen train --online-mask``: how fast the training DataLoader
delivers batches when it masks faces while loading them, and whether 16 workers keep an r50 fed.

Everything goes through the loader ``maskgen train`` builds (``EpochSampler``, ``FaceDataset``
with the run's ``MaskAugment`` from ``load_online_masker``, ``training_loader``; OpenCV on one
thread in the parent before the workers fork, as ``train`` does), reading a ``.rec``, decoding,
masking the sampler's share (``--masked-prob``), flipping and collating.

CPU mode (the default), for each ``--workers`` count (default 0 1 2) and each of two loaders,
online masking at ``--masked-prob`` and the same loader masking nothing (decode, flip, collate:
the baseline), over lfw-mini's 294 aligned crops (every epoch a new order and new masks):

- images/s: wall clock from the first batch (workers up) to the last, and that per worker;
- images per CPU-second of the loading processes (the workers, summed with psutil; with 0
  workers this process, torch on one thread as in a worker) and ms of CPU per image. On a
  machine shared with other jobs this is the figure to trust: it is what one core delivers;
- from the two loaders' CPU per image: what masking adds per masked image;
- a projection: 16 workers at the measured per-core rate against the r50 samples/s measured on
  GPUs by ``benchmarks/train_throughput.py`` (``benchmarks/results/``).

GPU mode (``--device cuda``, 16 workers unless ``--workers`` says otherwise) answers whether the
workers keep an r50 fed, on a ``.rec`` of ``--images`` records cycling over lfw-mini's crops (each
record its own key, so its own masks), with 85,742 identities in the ArcFace head (MS1MV2):

1. the loader alone: images/s at batch 512;
2. the training step alone, on a synthetic batch resident on the GPU (as train_throughput.py):
   samples/s, what the GPU can take;
3. the training step fed by the loader (pinned memory, as ``train``): samples/s.

It is fed when 3 reaches 95 % of 2. ``--device cpu --network tiny --smoke`` runs GPU mode's
code at smoke sizes on the CPU (the tests do). Writes JSON to ``--out``.

    python benchmarks/online_mask_loader.py                            # CPU, a few minutes
    python benchmarks/online_mask_loader.py --device cuda              # GPU node, ~2 minutes
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch

from maskgen.formats.recordio import RecordIOReader, write_insightface_rec
from maskgen.train.config import TrainConfig
from maskgen.train.data import (
    EpochSampler,
    FaceDataset,
    TrainData,
    load_online_masker,
    open_train_data,
    single_threaded_opencv,
    training_loader,
)
from maskgen.train.distributed import DistContext
from maskgen.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MASKGEN_SHARED_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "benchmarks" / "results"
SEED = 0


# --- the loader ------------------------------------------------------------------------------


def loader_cpu_seconds(workers: int) -> float:
    """CPU seconds so far of the processes doing the loading: the workers, or this process."""
    if workers == 0:
        return time.process_time()
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            times = child.cpu_times()
            total += times.user + times.system
    return total


@contextlib.contextmanager
def one_torch_thread(active: bool) -> Iterator[None]:
    """torch on one thread (as in a DataLoader worker) while loading runs in this process: its
    idle OpenMP threads would otherwise spin on the CPU clock."""
    threads = torch.get_num_threads()
    if active:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def epochs_of_batches(data: TrainData, masked_prob: float, workers: int, batch: int) -> Any:
    """Batches of the training loader, epoch after epoch, for ever (masking ``masked_prob`` of
    the samples online)."""
    masker = load_online_masker(seed=SEED) if masked_prob > 0 else None
    sampler = EpochSampler(len(data), batch, seed=SEED, masked_prob=masked_prob)
    loader = training_loader(
        FaceDataset(data, masker),
        sampler,
        workers=workers,
        seed=SEED,
        pin_memory=torch.cuda.is_available(),
    )
    epoch = 0
    while True:
        sampler.set_position(epoch, 0)
        yield from loader
        epoch += 1


def measure_loader(
    data: TrainData, *, masked_prob: float, workers: int, batch: int, images: int
) -> dict[str, Any]:
    """Steady-state rate of the training loader: timed from its first batch to the last."""
    with single_threaded_opencv(), one_torch_thread(workers == 0):
        batches = epochs_of_batches(data, masked_prob, workers, batch)
        next(batches)
        started, cpu_started = time.perf_counter(), loader_cpu_seconds(workers)
        counted = masked = 0
        while counted < images:
            _, _, labels = next(batches)
            counted += len(labels)
            masked += int(labels.sum())
        seconds = time.perf_counter() - started
        cpu = loader_cpu_seconds(workers) - cpu_started
        batches.close()
    return {
        "workers": workers,
        "masked_prob": masked_prob,
        "images": counted,
        "masked_share": masked / counted,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "images_per_s": counted / seconds,
        "images_per_s_per_worker": counted / seconds / max(workers, 1),
        # None where the CPU time is below the clock's resolution (psutil: 10 ms ticks)
        "images_per_cpu_s": counted / cpu if cpu > 0 else None,
        "cpu_ms_per_image": 1000 * cpu / counted,
    }


def gpu_results() -> dict[str, float]:
    """r50 MTArcFace samples/s per GPU measured by train_throughput.py (benchmarks/results/)."""
    found = {}
    for path in sorted(RESULTS.glob("train_throughput_*.json")):
        result = json.loads(path.read_text())
        if result.get("settings", {}).get("network") == "r50":
            found[result["device"]] = result["mtarcface"]["samples_per_s"]
    return found


def cpu_mode(args: argparse.Namespace) -> dict[str, Any]:
    data = open_train_data(args.rec)
    rows = []
    for workers in args.workers:
        for masked_prob in (args.masked_prob, 0.0):
            row = measure_loader(
                data,
                masked_prob=masked_prob,
                workers=workers,
                batch=args.batch_size,
                images=args.images,
            )
            rows.append(row)
    print(f"machine: {machine()}")
    print(f"training loader over {args.rec} ({len(data)} crops), batch {args.batch_size}, ", end="")
    print(f"{args.images} images after the first batch")
    header = (
        f"{'workers':>7} {'masked':>7} {'images/s':>9} {'/worker':>8} "
        f"{'images/CPU-s':>13} {'CPU ms/image':>13}"
    )
    print(header)
    for row in rows:
        print(
            f"{row['workers']:7d} {row['masked_share']:7.0%} {row['images_per_s']:9.0f} "
            f"{row['images_per_s_per_worker']:8.0f} {row['images_per_cpu_s'] or np.nan:13.0f} "
            f"{row['cpu_ms_per_image']:13.2f}"
        )
    online = [r for r in rows if r["masked_prob"] > 0]
    plain = [r for r in rows if r["masked_prob"] == 0]
    per_core = float(np.median([r["images_per_cpu_s"] or np.nan for r in online]))
    extra = [
        (o["cpu_ms_per_image"] - p["cpu_ms_per_image"]) / o["masked_share"]
        for o, p in zip(online, plain, strict=True)
        if o["masked_share"] > 0
    ]
    mask_ms = float(np.median(extra)) if extra else float("nan")
    projected = 16 * per_core
    print(f"online masking: {per_core:.0f} images per CPU-second (median over worker counts);")
    print(f"masking adds {mask_ms:.2f} ms of CPU per masked image")
    print("projection (not measured on a GPU): 16 workers on 16 free cores of this machine's speed")
    fed = {}
    for device, samples in gpu_results().items():
        fed[device] = {"r50_samples_per_s": samples, "ratio": projected / samples}
        print(
            f"  16 x {per_core:.0f}/s = {projected:.0f} images/s vs r50 on "
            f"{device}: {samples:.0f} samples/s ({projected / samples:.2f}x)"
        )
    return {
        "mode": "cpu",
        "machine": machine(),
        "rec": str(args.rec),
        "batch": args.batch_size,
        "rows": rows,
        "online_images_per_cpu_s": per_core,
        "mask_cpu_ms_per_masked_image": mask_ms,
        "projection_16_workers": {"images_per_s": projected, "gpus": fed},
    }


# --- GPU mode: is an r50 fed? ------------------------------------------------------------------


def write_cycled_rec(source: Path, target: Path, count: int) -> Path:
    """``count`` records cycling over ``source``'s images, each under its source identity."""
    data = open_train_data(source)
    reader = RecordIOReader(source)
    payloads = [reader.read(int(key)).data for key in data.keys]
    groups: list[list[bytes]] = [[] for _ in range(data.num_classes)]
    for index in range(count):
        position = index % len(payloads)
        groups[int(data.identities[position])].append(payloads[position])
    return write_insightface_rec(target, [g for g in groups if g])


def _trainer(s: dict[str, Any], device: torch.device) -> Trainer:
    config = TrainConfig(
        network=s["network"],
        batch_size=s["batch"],
        steps=10**6,
        lr=0.01,
        precision=s["precision"],
        channels_last=device.type == "cuda",
        device=device.type,
        online_mask=True,
    )
    torch.manual_seed(SEED)
    return Trainer(
        config,
        num_classes=s["classes"],
        mask_head=True,
        ctx=DistContext(device=device),
        total_steps=10**6,
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_step_alone(s: dict[str, Any], device: torch.device) -> float:
    """Samples/s of the training step on one synthetic batch resident on the device."""
    trainer = _trainer(s, device)
    g = torch.Generator(device=device).manual_seed(SEED)
    shape = (s["batch"], 112, 112, 3)
    images = torch.randint(0, 256, shape, dtype=torch.uint8, device=device, generator=g)
    ids = torch.randint(0, s["classes"], (s["batch"],), device=device, generator=g)
    masks = torch.randint(0, 2, (s["batch"],), device=device, generator=g)
    for _ in range(s["warmup"]):
        trainer.step(images, ids, masks)
    _sync(device)
    started = time.perf_counter()
    for _ in range(s["steps"]):
        trainer.step(images, ids, masks)
    _sync(device)
    return s["steps"] * s["batch"] / (time.perf_counter() - started)


def measure_step_fed(s: dict[str, Any], data: TrainData, device: torch.device) -> float:
    """Samples/s of the training step on the loader's batches (online masking)."""
    trainer = _trainer(s, device)
    with single_threaded_opencv():
        batches = epochs_of_batches(data, s["masked_prob"], s["workers"], s["batch"])
        for _ in range(s["warmup"]):
            trainer.step(*next(batches))
        _sync(device)
        started = time.perf_counter()
        for _ in range(s["steps"]):
            trainer.step(*next(batches))
        _sync(device)
        seconds = time.perf_counter() - started
        batches.close()
    return s["steps"] * s["batch"] / seconds


def device_mode(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA GPU: run without --device cuda on the CPU")
        torch.backends.cudnn.benchmark = True
    smoke = args.smoke
    s = {
        "network": args.network,
        "batch": 16 if smoke else args.batch_size_gpu,
        "classes": 100 if smoke else args.classes,
        "precision": "bf16" if device.type == "cuda" else "fp32",
        "workers": (args.workers[0] if len(args.workers) == 1 else 16) if not smoke else 1,
        "masked_prob": args.masked_prob,
        "warmup": 2 if smoke else args.warmup,
        "steps": 3 if smoke else args.steps,
        "records": 64 if smoke else args.records,
    }
    with tempfile.TemporaryDirectory() as tmp:
        rec = write_cycled_rec(args.rec, Path(tmp) / "train.rec", s["records"])
        data = open_train_data(rec)
        loader = measure_loader(
            data,
            masked_prob=s["masked_prob"],
            workers=s["workers"],
            batch=s["batch"],
            images=s["batch"] * (4 if smoke else args.loader_batches),
        )
        alone = measure_step_alone(s, device)
        fed = measure_step_fed(s, data, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else machine()
    verdict = fed >= 0.95 * alone
    print(f"device: {name}; torch {torch.__version__}; {os.cpu_count()} logical cores")
    print(
        f"{s['network']} batch {s['batch']} {s['precision']}, {s['classes']} identities, ", end=""
    )
    print(f"{s['workers']} workers, masked_prob {s['masked_prob']}")
    print(f"loader alone:                 {loader['images_per_s']:9.0f} images/s")
    print(f"training step alone:          {alone:9.0f} samples/s (synthetic batch on the device)")
    print(f"training step fed by loader:  {fed:9.0f} samples/s ({fed / alone:.0%} of alone)")
    print(f"fed: {'yes' if verdict else 'NO'} (fed when the loader-fed step reaches 95 %)")
    return {
        "mode": "device",
        "device": name,
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "settings": s,
        "loader": loader,
        "step_alone_samples_per_s": alone,
        "step_fed_samples_per_s": fed,
        "fed": verdict,
    }


def machine() -> str:
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{name}, {os.cpu_count()} logical cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rec", type=Path, default=SHARED / "rec" / "lfw-mini" / "train.rec")
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        help="run the fed-or-not check on this device (default: CPU mode, the loader only)",
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--masked-prob", type=float, default=0.5)
    parser.add_argument("--images", type=int, default=2000, help="CPU mode: images timed")
    parser.add_argument("--batch-size", type=int, default=64, help="CPU mode batch")
    parser.add_argument("--network", default="r50")
    parser.add_argument("--batch-size-gpu", type=int, default=512)
    parser.add_argument("--classes", type=int, default=85742, help="identities (MS1MV2)")
    parser.add_argument("--records", type=int, default=8192, help="GPU mode .rec size")
    parser.add_argument("--loader-batches", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--smoke", action="store_true", help="smoke sizes (tests)")
    parser.add_argument("--out", type=Path, default=Path("bench-out/online_mask_loader.json"))
    args = parser.parse_args()
    if args.device is None:
        if args.smoke:
            args.workers, args.images, args.batch_size = [0, 1], 192, 32
        result = cpu_mode(args)
    else:
        result = device_mode(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
