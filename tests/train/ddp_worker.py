"""Run by the 2-process tests under torchrun: trains, then saves this rank's weights.

Usage: python -m torch.distributed.run --nproc-per-node 2 ddp_worker.py CONFIG_JSON OUT_PREFIX
Writes OUT_PREFIX.rank<R>.pt with the network's state dict and this rank's class centres.
"""

from __future__ import annotations

import json
import os
import sys

import torch

from maskgen.train.config import TrainConfig
from maskgen.train.loop import train


def main() -> None:
    config = TrainConfig.from_dict(json.loads(sys.argv[1]))
    summary = train(config)
    assert summary.model is not None and summary.arcface is not None
    rank = int(os.environ["RANK"])
    torch.save(
        {
            "model": summary.model.state_dict(),
            "centres": summary.arcface.weight.detach(),
            "start": summary.arcface.start,
            "stop": summary.arcface.stop,
        },
        f"{sys.argv[2]}.rank{rank}.pt",
    )


if __name__ == "__main__":
    main()
