"""What ``maskgen.MaskAugment`` costs per image, against ``maskgen augment``'s per-record step,
and how fast a PyTorch DataLoader delivers masked crops with N workers, on lfw-mini's 294
aligned 112x112 crops from ../shared.

OpenCV runs on one thread throughout (set first thing, as docs/mask_augment.md advises for
loaders, and as augment's workers run it).

Per image, one core (CPU time, which other load on a shared machine skews far less than
wall-clock time). ``--rounds`` times over every crop, each of these ways in turn, image by
image:

- ``augment step``: ``maskgen.pipeline.step.mask_sample`` on the record, what augment's worker
  does per record (JPEG decode, find the face, draw, render, JPEG encode), without the file
  reading and writing around it, so the comparison is the strictest one for MaskAugment;
- ``MaskAugment``: ``aug(image=rgb, key=k)`` with p=1 on the decoded crop (what it adds to a
  loader that decodes anyway);
- ``decode + MaskAugment``: the same from the record's JPEG bytes.

DataLoader: a map-style Dataset over lfw-mini (``--images`` items, cycling over the 294 records,
each keyed by its index so repeats get new masks) that reads a record with maskgen's RecordIO
reader, decodes it, applies ``MaskAugment(p=P)`` (``--p``, default 0.5) and returns a uint8 CHW
tensor, its label and the mask flag, batched by ``--batch-size``. For each worker count: the
wall-clock rate after the first batch (start-up left out), that rate per worker, and images per
second of worker CPU time (psutil, summed over the worker processes). With 0 workers the
loading runs in this process, with torch on one thread as in a worker. The masker is preloaded
in the parent, so forked workers start with the models in memory.

Run: python benchmarks/mask_augment_speed.py [--rounds 5] [--workers 0 1 2] [--images 3000]
[--p 0.5]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import psutil

from maskgen.formats.recordio import RecordIOReader
from maskgen.images import decode_rgb
from maskgen.masks import MaskAugment, MaskSpec
from maskgen.pipeline.step import MaskerConfig, load_masker, mask_sample
from maskgen.types import Sample

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MASKGEN_SHARED_DATA", REPO.parent / "shared" / "data"))
SEED = 0


def read_samples(rec: Path) -> list[Sample]:
    with RecordIOReader(rec) as reader:
        return [reader.read(key) for key in reader.image_keys()]


def per_image(samples: list[Sample], rounds: int) -> dict[str, float]:
    """Images per CPU-second of each way. The ways take turns image by image (their order
    turning each round), so a change in the machine's load or cache hits all of them alike."""
    masker = load_masker(MaskerConfig(MaskSpec(), "aligned"))
    aug = MaskAugment(p=1.0, seed=SEED).preload()

    def step(sample: Sample) -> None:
        mask_sample(sample, masker, seed=SEED, jpeg_quality=95)

    def augment_only(sample: Sample, rgb: np.ndarray) -> None:
        aug(image=rgb, key=sample.key)

    def decode_and_augment(sample: Sample) -> None:
        aug(image=decode_rgb(sample.data), key=sample.key)

    ways: dict[str, Callable[[Sample, np.ndarray], None]] = {
        "augment step": lambda sample, _: step(sample),
        "MaskAugment": augment_only,
        "decode + MaskAugment": lambda sample, _: decode_and_augment(sample),
    }
    names = list(ways)
    seconds = dict.fromkeys(names, 0.0)
    decoded = [decode_rgb(sample.data) for sample in samples]
    for turn in range(rounds):
        order = names[turn % len(names) :] + names[: turn % len(names)]
        for sample, rgb in zip(samples, decoded, strict=True):
            for name in order:
                started = time.process_time()
                ways[name](sample, rgb)
                seconds[name] += time.process_time() - started
    return {name: rounds * len(samples) / seconds[name] for name in names}


class MaskedCrops:
    """``length`` items cycling over a .rec's image records: (CHW uint8 tensor, label, masked)."""

    def __init__(self, rec: Path, aug: MaskAugment, length: int) -> None:
        self.reader = RecordIOReader(rec)
        self.keys = list(self.reader.image_keys())
        self.aug = aug
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        import torch

        sample = self.reader.read(self.keys[index % len(self.keys)])
        out = self.aug(image=decode_rgb(sample.data), key=index)
        image = torch.from_numpy(out["image"]).permute(2, 0, 1)
        return image, int(sample.label[0]), out["masked"]


@dataclass(frozen=True)
class LoaderRate:
    workers: int
    images: int
    seconds: float
    cpu_seconds: float
    masked_share: float

    @property
    def rate(self) -> float:
        return self.images / self.seconds

    @property
    def per_worker(self) -> float:
        return self.rate / max(self.workers, 1)

    @property
    def per_cpu_second(self) -> float:
        return self.images / self.cpu_seconds


def loader_cpu(workers: int) -> float:
    """CPU seconds so far of the processes doing the loading: the workers, or this process."""
    if workers == 0:
        return time.process_time()
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def time_loader(rec: Path, workers: int, images: int, batch_size: int, p: float) -> LoaderRate:
    """Steady-state rate: timed from the first batch to the last (before workers exit)."""
    import torch

    aug = MaskAugment(p=p, seed=SEED).preload()
    dataset = MaskedCrops(rec, aug, images)
    threads = torch.get_num_threads()
    if workers == 0:  # as in a worker: torch's idle OpenMP threads would spin on the CPU clock
        torch.set_num_threads(1)
    try:
        return _time_batches(dataset, workers, images, batch_size)
    finally:
        torch.set_num_threads(threads)


def _time_batches(dataset: MaskedCrops, workers: int, images: int, batch_size: int) -> LoaderRate:
    import torch

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers)
    batches = iter(loader)
    first = next(batches)
    started, cpu_started = time.perf_counter(), loader_cpu(workers)
    counted, masked = 0, int(first[2].sum())
    for _, _, flags in batches:
        counted += len(flags)
        masked += int(flags.sum())
        if counted + len(first[2]) >= images:
            break
    seconds, cpu_seconds = time.perf_counter() - started, loader_cpu(workers) - cpu_started
    return LoaderRate(workers, counted, seconds, cpu_seconds, masked / (counted + len(first[2])))


def machine() -> str:
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rec", type=Path, default=SHARED / "rec" / "lfw-mini" / "train.rec")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--p", type=float, default=0.5, help="MaskAugment p in the loader")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # before any image work: forked DataLoader workers inherit it
    print(f"machine: {machine()}; OpenCV {cv2.__version__}")

    samples = read_samples(args.rec)
    rates = per_image(samples, args.rounds)
    baseline = rates["augment step"]
    print(f"\nper image, one core: {len(samples)} aligned 112x112 crops, {args.rounds} rounds")
    print(f"{'way':24} {'images/CPU-s':>13} {'ms/image':>9} {'vs augment step':>16}")
    for name, rate in rates.items():
        print(f"{name:24} {rate:13.0f} {1000 / rate:9.2f} {rate / baseline:16.0%}")

    print(f"\nDataLoader over {args.rec.name}, {args.images} images, ", end="")
    print(f"batch {args.batch_size}, p={args.p}")
    print(f"{'workers':>7} {'images/s':>9} {'per worker':>11} {'images/CPU-s':>13} {'masked':>7}")
    for workers in args.workers:
        result = time_loader(args.rec, workers, args.images, args.batch_size, args.p)
        print(
            f"{workers:7d} {result.rate:9.0f} {result.per_worker:11.0f} "
            f"{result.per_cpu_second:13.0f} {result.masked_share:7.0%}"
        )
    print("images/s: wall clock after the first batch; per worker: that / workers (0: in process);")
    print("images/CPU-s: per second of the loading processes' CPU time")


if __name__ == "__main__":
    main()
