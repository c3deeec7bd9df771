"""The one embedder over a network in memory and over its checkpoint: the same numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from maskgen.formats.verification import read_verification_bin
from maskgen.nn.embedder import Embedder
from maskgen.nn.models import create_model
from tests.nn.helpers import write_network_checkpoint

pytestmark = [pytest.mark.torch, pytest.mark.shared]


def test_network_in_memory_and_its_checkpoint_embed_alike(
    lfw_fold1_bin: Path, tmp_path: Path
) -> None:
    images, _ = read_verification_bin(lfw_fold1_bin)
    images = images[:80]
    torch.manual_seed(3)
    network = create_model("tiny")
    # move the batch-norm statistics off their initial values, as training does
    with torch.no_grad():
        network(torch.randn(16, 3, 112, 112) * 2 + 0.5)
    assert network.training
    live = Embedder.from_network(network, name="tiny", batch_size=32)
    assert (live.device, live.info.format, live.info.mask_head) == ("cpu", "network", True)
    from_live = live.embed_encoded(images)
    assert network.training  # put back in the mode it was in
    saved = Embedder.from_path(
        write_network_checkpoint(tmp_path / "last.pt", network), device="cpu", batch_size=32
    )
    from_file = saved.embed_encoded(images)
    assert np.array_equal(from_live.embeddings, from_file.embeddings)
    assert np.array_equal(from_live.mask_prob, from_file.mask_prob)  # run in eval mode
