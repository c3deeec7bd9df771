"""How fast ``maskgen augment`` masks, how it scales with workers, and how much memory a worker
holds, on real data from ../shared.

Speed (``--mode speed``). Aligned records: a .rec built by repeating lfw-mini's 294 aligned
112x112 images (as new identities) to each size in ``--records``, masked .rec -> .rec with 1 and
2 workers. Photos: LFW's 250x250 photos as a folder (faces detected), a per-core rate with one
worker and a whole run over ``--photos`` photos with 2 workers, end to end. Rates are "warm"
(worker pool started and models loaded by a small run first) unless labelled end to end; the
RSS column is psutil's sampled peak of the (reused) workers.

Memory (``--mode memory``): the peak RSS of each worker, which must not grow with the dataset.
For each size in ``--memory-records`` a .rec of that many records (lfw-mini's faces first, tiny
filler records after them: the .idx is full size, the .rec stays small) is masked by a fresh
pool of 2 workers, as the first 6 chunks of 100 records (a shard), so every size does the same
work. Each worker's peak is the kernel's high-water mark (``VmHWM`` in /proc/PID/status), read
once the run is over, so no short peak falls between samples; psutil's sampled peak is shown
beside it as a cross-check.

Run: python benchmarks/augment_speed.py [--mode all|speed|memory] [--records 5000 20000]
[--photos 400] [--memory-records 5000 200000]
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import joblib
import psutil
from joblib.externals.loky import get_reusable_executor

import maskgen
from maskgen.formats.recordio import RecordIOReader, write_insightface_rec
from maskgen.masks import MaskSpec
from maskgen.pipeline import RunReport, augment_dataset

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MASKGEN_SHARED_DATA", REPO.parent / "shared" / "data"))
MS1MV2_RECORDS = 5_800_000
NODE_CORES = 32
MEMORY_WORKERS = 2
MEMORY_CHUNK = 100
MEMORY_CHUNKS = 6
"""Memory runs mask the first 6 chunks of 100 records (a shard) whatever the dataset size."""
FILLER = b"filler"


@dataclass(frozen=True)
class Measurement:
    label: str
    workers: int
    items: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float

    @property
    def rate(self) -> float:
        return self.items / self.seconds

    @property
    def per_core(self) -> float:
        return self.rate / self.workers

    @property
    def per_cpu_second(self) -> float:
        """Items per second of worker CPU time: the per-core rate without contention."""
        return self.items / self.cpu_seconds


class ProcessSampler:
    """Peak resident memory and CPU time of each worker process (children of this one; this
    process itself when running with one worker in-process), sampled every ``interval``
    seconds. CPU time gives a per-core rate that other load on the machine does not skew."""

    def __init__(self, in_process: bool, interval: float = 0.05) -> None:
        self.in_process = in_process
        self.interval = interval
        self.peaks: dict[int, int] = {}
        self._cpu_start: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProcessSampler:
        for process in self._processes():
            self._cpu_start[process.pid] = _cpu_seconds(process)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _processes(self) -> list[psutil.Process]:
        me = psutil.Process()
        return [me] if self.in_process else me.children(recursive=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def _sample(self) -> None:
        for process in self._processes():
            try:
                rss, cpu = process.memory_info().rss, _cpu_seconds(process)
            except psutil.Error:
                continue
            self.peaks[process.pid] = max(rss, self.peaks.get(process.pid, 0))
            self._cpu_last[process.pid] = cpu

    @property
    def peak_mb(self) -> float:
        return max(self.peaks.values(), default=0) / 2**20

    @property
    def cpu_seconds(self) -> float:
        return sum(cpu - self._cpu_start.get(pid, 0.0) for pid, cpu in self._cpu_last.items())


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def build_rec(source: Path, n_images: int, target: Path) -> Path:
    """An insightface-layout .rec of ``n_images`` images: lfw-mini's identities repeated (each
    repetition as new identities), streamed to disk."""
    reader = RecordIOReader(source)
    identities = [
        [reader.read(key).data for key in reader.identity(i)] for i in range(reader.num_classes)
    ]

    def groups() -> Iterator[list[bytes]]:
        left = n_images
        for images in itertools.cycle(identities):
            if left <= 0:
                return
            yield images[:left]
            left -= len(images)

    return write_insightface_rec(target, groups())


def build_photo_folder(lfw_dir: Path, n_photos: int, target: Path) -> Path:
    """``n_photos`` LFW photos (every person's photos in name order) copied into ``target``."""
    photos = itertools.islice(sorted(lfw_dir.glob("*/*.jpg")), n_photos)
    for photo in photos:
        (target / photo.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(photo, target / photo.parent.name / photo.name)
    return target


def timed_run(input_path: Path, out_dir: Path, workers: int, label: str) -> Measurement:
    spec = MaskSpec()
    shutil.rmtree(out_dir, ignore_errors=True)
    with ProcessSampler(in_process=workers == 1) as sampler:
        started = time.perf_counter()
        report: RunReport = augment_dataset(
            input_path, out_dir, spec=spec, workers=workers, progress=False
        )
        seconds = time.perf_counter() - started
    images, cpu = report.counts.images, sampler.cpu_seconds
    return Measurement(label, workers, images, seconds, cpu, sampler.peak_mb)


def warm_up(input_path: Path, scratch: Path, workers: int) -> None:
    """Start the worker pool and load the models (reused by the next run with these workers)."""
    augment_dataset(input_path, scratch, spec=MaskSpec(), workers=workers, progress=False)
    shutil.rmtree(scratch)


def machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        lscpu = ""
    model = next(
        (line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line),
        "unknown CPU",
    )
    return f"{model}; {os.cpu_count()} logical CPUs, {joblib.cpu_count()} usable"


def print_table(rows: list[Measurement]) -> None:
    head = ("workers", "items", "wall s", "items/s", "/core", "CPU s", "/CPU s", "RSS MB")
    print(f"{'run':44} " + " ".join(f"{name:>8}" for name in head))
    for row in rows:
        print(
            f"{row.label:44} {row.workers:8d} {row.items:8d} {row.seconds:8.2f} "
            f"{row.rate:8.1f} {row.per_core:8.1f} {row.cpu_seconds:8.1f} "
            f"{row.per_cpu_second:8.1f} {row.peak_rss_mb:8.0f}"
        )
    print("/core: wall-clock rate / workers; /CPU s: items per second of worker CPU time;")
    print("RSS MB: peak resident memory of the largest worker process")


# --- memory per worker against dataset size --------------------------------------------------


@dataclass(frozen=True)
class WorkerMemory:
    records: int
    items: int
    seconds: float
    peaks_mb: list[float]
    """Each worker's high-water mark (VmHWM), largest first."""
    sampled_mb: float


def build_filled_rec(source: Path, n_records: int, target: Path) -> tuple[Path, int]:
    """An insightface-layout .rec of about ``n_records`` records (and how many exactly): enough
    of lfw-mini's faces, 10 per identity, for the memory runs' shard, then identities of 100
    tiny filler records. Returns the path and the number of records."""
    faces = [RecordIOReader(source).read(key).data for key in range(1, 295)]
    n_images = MEMORY_CHUNK * MEMORY_CHUNKS
    images = [faces[i % len(faces)] for i in range(n_images)]
    groups = [images[start : start + 10] for start in range(0, n_images, 10)]
    fillers = max(0, n_records - 1 - n_images - len(groups)) // 101
    identities = itertools.chain(groups, itertools.repeat([FILLER] * 100, fillers))
    rec = write_insightface_rec(target, identities)
    return rec, 1 + n_images + len(groups) + 101 * fillers


def loky_workers() -> list[psutil.Process]:
    """The joblib (loky) worker processes under this one (not its resource trackers)."""
    workers = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "popen_loky_posix" in " ".join(process.cmdline()):
                workers.append(process)
        except psutil.Error:
            continue
    return workers


def peak_rss_mb(pid: int, sampled: dict[int, int]) -> float:
    """The kernel's high-water mark of a process's resident memory (Linux ``VmHWM``); the
    largest sampled RSS where /proc is not there."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return sampled.get(pid, 0) / 2**20
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def measure_worker_memory(rec: Path, records: int, out_dir: Path) -> WorkerMemory:
    """Mask the first chunks of ``rec`` (a shard) with a fresh pool, so each worker's peak
    belongs to this run only; read every worker's peak while the pool is still up."""
    get_reusable_executor().shutdown(wait=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    shards = math.ceil(records / MEMORY_CHUNK) // MEMORY_CHUNKS
    with ProcessSampler(in_process=False) as sampler:
        started = time.perf_counter()
        report = augment_dataset(
            rec,
            out_dir,
            spec=MaskSpec(),
            workers=MEMORY_WORKERS,
            chunk_size=MEMORY_CHUNK,
            shard=(0, shards),
            progress=False,
        )
        seconds = time.perf_counter() - started
    workers = loky_workers()
    peaks = sorted((peak_rss_mb(p.pid, sampler.peaks) for p in workers), reverse=True)
    sampled = max((sampler.peaks.get(p.pid, 0) for p in workers), default=0)
    return WorkerMemory(records, report.counts.items, seconds, peaks, sampled / 2**20)


def print_memory_table(rows: list[WorkerMemory]) -> None:
    print(f"peak RSS per worker, {MEMORY_WORKERS} fresh workers, each run masking the first")
    print(f"{MEMORY_CHUNKS} chunks of {MEMORY_CHUNK} records; maskgen from {maskgen.__file__}")
    print(f"{'records':>10} {'masked':>7} {'wall s':>7}  {'VmHWM per worker MB':<24} sampled MB")
    for row in rows:
        each = ", ".join(f"{peak:.0f}" for peak in row.peaks_mb)
        print(
            f"{row.records:10,d} {row.items:7d} {row.seconds:7.1f}  {each:<24} "
            f"{row.sampled_mb:10.0f}"
        )
    if len(rows) > 1:
        growth = max(rows[-1].peaks_mb) - max(rows[0].peaks_mb)
        factor = rows[-1].records / rows[0].records
        print(f"largest worker peak, {factor:.0f}x the records: {growth:+.1f} MB")


def memory_benchmark(sizes: list[int], tmp: Path) -> None:
    mini = SHARED / "rec" / "lfw-mini" / "train.rec"
    rows = []
    for size in sorted(sizes):
        rec, records = build_filled_rec(mini, size, tmp / f"filled{size}" / "train.rec")
        rows.append(measure_worker_memory(rec, records, tmp / "out-memory"))
        shutil.rmtree(rec.parent)
    print_memory_table(rows)


def speed_benchmark(args: argparse.Namespace, tmp: Path) -> None:
    mini = SHARED / "rec" / "lfw-mini" / "train.rec"
    lfw = SHARED / "lfw" / "lfw-deepfunneled"
    rows: list[Measurement] = []
    small, large = args.records
    recs = {n: build_rec(mini, n, tmp / f"rec{n}" / "train.rec") for n in (small, large)}
    for workers in args.workers:
        warm_up(mini, tmp / "warm", workers)
        label = f"aligned .rec -> .rec, {small} records"
        rows.append(timed_run(recs[small], tmp / "out", workers, label))
    top = max(args.workers)
    label = f"aligned .rec -> .rec, {large} records"
    rows.append(timed_run(recs[large], tmp / "out", top, label))
    photos = build_photo_folder(lfw, args.photos, tmp / "photos")
    few = build_photo_folder(lfw, min(100, args.photos), tmp / "few")
    warm_up(few, tmp / "warm", 1)
    rows.append(timed_run(photos, tmp / "out", 1, f"LFW photos (faces detected), {args.photos}"))
    get_reusable_executor().shutdown(wait=True)
    label = f"LFW photos, {args.photos}, end to end (cold)"
    rows.append(timed_run(photos, tmp / "out", 2, label))
    print_table(rows)
    aligned = [row for row in rows if row.label.startswith("aligned") and row.workers == 1]
    if aligned:
        for name, per_core in (("wall", aligned[0].per_core), ("CPU", aligned[0].per_cpu_second)):
            minutes = MS1MV2_RECORDS / (per_core * NODE_CORES) / 60
            print(
                f"MS1MV2 ({MS1MV2_RECORDS:,} records) on a {NODE_CORES}-core node at "
                f"{per_core:.0f} records/s per core ({name}), ideal scaling: {minutes:.0f} min"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("all", "speed", "memory"), default="all")
    parser.add_argument("--records", type=int, nargs=2, default=[5_000, 20_000])
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--memory-records", type=int, nargs="+", default=[5_000, 200_000])
    args = parser.parse_args()
    print(f"machine: {machine()}; load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="maskgen-bench-") as tmp_name:
        if args.mode in ("all", "memory"):
            memory_benchmark(args.memory_records, Path(tmp_name))
        if args.mode in ("all", "speed"):
            speed_benchmark(args, Path(tmp_name))
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
