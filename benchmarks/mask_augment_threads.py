"""What torch's idle threads cost ``MaskAugment`` in the main process (``num_workers=0``).

torch's OpenMP threads, once its pool has run, spin for a while after each torch call; OpenCV
calls made in between (maskgen's render) then compete with them for the cores. This masks
``--crops`` aligned crops of lfw-mini in one process, a small torch convolution after each (as
a training step between loader calls would run one), with torch at ``--threads`` threads, and
prints CPU and wall milliseconds a crop. Compare ``--threads 2`` with ``--threads 1``, or run it
with ``OMP_WAIT_POLICY=PASSIVE`` in the environment.

    python benchmarks/mask_augment_threads.py --threads 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rec", type=Path, default=REPO.parent / "shared/data/rec/lfw-mini/train.rec"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--crops", type=int, default=100)
    args = parser.parse_args()
    import torch

    from maskgen.formats.recordio import RecordIOReader
    from maskgen.images import decode_rgb
    from maskgen.masks import MaskAugment

    torch.set_num_threads(args.threads)
    with RecordIOReader(args.rec) as reader:
        keys = list(reader.image_keys())[: args.crops]
        crops = [decode_rgb(reader.read(key).data) for key in keys]
    aug = MaskAugment(p=1.0, seed=0).preload()
    for key, crop in zip(keys[:5], crops[:5], strict=True):  # first use of templates, textures
        aug(image=crop, key=key)
    batch, weights = torch.randn(2, 3, 112, 112), torch.randn(8, 3, 3, 3)
    torch.nn.functional.conv2d(batch, weights)  # torch's thread pool has run
    cpu, wall = time.process_time(), time.perf_counter()
    for key, crop in zip(keys, crops, strict=True):
        aug(image=crop, key=key)
        torch.nn.functional.conv2d(batch, weights)
    per = 1000.0 / len(crops)
    cpu_ms, wall_ms = (time.process_time() - cpu) * per, (time.perf_counter() - wall) * per
    print(f"torch threads {args.threads}: {cpu_ms:.1f} ms CPU, {wall_ms:.1f} ms wall a crop")


if __name__ == "__main__":
    main()
