"""Mask a dataset on a Dask distributed cluster.

Start a cluster whose workers see the input and the output folder under the same paths (a shared
file system), with one thread per worker process (masking is CPU-bound Python + OpenCV), e.g.::

    dask scheduler                                   # on the head node -> tcp://head:8786
    dask worker tcp://head:8786 --nworkers 32 --nthreads 1    # on every compute node

or from Python with dask-jobqueue's SLURMCluster. Then::

    python examples/dask_augment.py tcp://head:8786 /shared/ms1mv2/train.rec /shared/ms1mv2_masked

``local`` as the address starts a two-worker LocalCluster on this machine instead, to try it.
The twin is byte-identical to ``maskgen augment`` on one machine with the same seed; rerunning
after an interruption keeps the chunks already finished (``resume=True``). The command line
equivalent is ``maskgen augment INPUT -o OUTDIR --scheduler tcp://head:8786``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from maskgen.masks import MaskSpec
from maskgen.pipeline import augment_dataset


@contextlib.contextmanager
def scheduler_address(address: str) -> Iterator[str]:
    """``address`` itself, or that of a LocalCluster started for ``local``."""
    if address != "local":
        yield address
        return
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        yield cluster.scheduler_address


def main() -> None:
    parser = argparse.ArgumentParser(description="Mask a dataset on a Dask cluster.")
    parser.add_argument("scheduler", help="tcp://HOST:8786, or 'local'")
    parser.add_argument("input", help=".rec, .bin or image folder")
    parser.add_argument("output", help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mask-types", default=None, help="comma-separated, default all")
    args = parser.parse_args()
    mask_types = tuple(args.mask_types.split(",")) if args.mask_types else None
    with scheduler_address(args.scheduler) as address:
        report = augment_dataset(
            args.input,
            args.output,
            spec=MaskSpec(mask_types=mask_types),
            seed=args.seed,
            scheduler=address,
            resume=True,
        )
    print(report.summary())


if __name__ == "__main__":
    main()
