"""Backbones, heads, the registry and load_model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from maskgen.errors import CheckpointError, ConfigError
from maskgen.nn.models import MODELS, create_model, load_backbone_weights, load_model
from tests.train.helpers import LAYERS, arcface_torch_shapes, synthetic_backbone

pytestmark = pytest.mark.torch


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n == "r100" else n for n in MODELS]
)
def test_every_backbone_runs_forward_and_backward(name: str) -> None:
    torch.manual_seed(0)
    net = create_model(name)
    x = torch.randn(2, 3, 112, 112)
    embedding, mask_logits = net(x)
    assert embedding.shape == (2, 512) and mask_logits is not None
    assert mask_logits.shape == (2, 2)
    (embedding.square().sum() + mask_logits.sum()).backward()
    assert net.conv1.weight.grad is not None and net.conv1.weight.grad.abs().sum() > 0
    assert net.mask_fc.weight.grad.abs().sum() > 0
    assert net.features.weight.grad is None  # the BN1d scale is fixed at 1


def test_r50_state_dict_matches_arcface_torch_names_and_shapes() -> None:
    net = create_model("r50", mask_head=False)
    got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert got == arcface_torch_shapes(LAYERS["r50"])
    assert got["fc.weight"] == (512, 25088)
    with_mask = set(create_model("r50").state_dict()) - set(got)
    assert with_mask == {"mask_fc.weight", "mask_fc.bias"}
    assert torch.all(net.features.weight == 1)


def test_embedding_size_and_no_mask_head() -> None:
    net = create_model("tiny", embedding_size=128, mask_head=False).eval()
    embedding, mask_logits = net(torch.randn(3, 3, 112, 112))
    assert embedding.shape == (3, 128) and mask_logits is None


def test_unknown_network_lists_the_names() -> None:
    with pytest.raises(ConfigError, match=r"r18, r34, r50, r100, tiny"):
        create_model("r200")


def test_load_model_reads_an_arcface_torch_backbone(tmp_path: Path) -> None:
    state = synthetic_backbone(LAYERS["r18"])
    path = tmp_path / "backbone.pth"
    torch.save(state, path)
    net, info = load_model(path)
    assert info["network"] == "r18" and info["mask_head"] is False
    assert info["embedding_size"] == 512 and info["source"] == "arcface_torch"
    assert not net.training
    loaded = net.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    embedding, mask_logits = net(torch.randn(2, 3, 112, 112))
    assert embedding.shape == (2, 512) and mask_logits is None


def test_load_model_recognises_r50_by_its_blocks(tmp_path: Path) -> None:
    state = {k: torch.zeros(s) for k, s in arcface_torch_shapes(LAYERS["r50"]).items()}
    path = tmp_path / "backbone.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, path)  # saved from DDP
    _, info = load_model(path)
    assert info["network"] == "r50"


def test_an_arcface_torch_training_checkpoint_reads_as_its_backbone(tmp_path: Path) -> None:
    """arcface_torch's ``checkpoint_gpu_0.pt`` (epoch, step, optimizer, the class centres and
    ``state_dict_backbone``) was refused as "neither a maskgen checkpoint nor a network state
    dict" by eval, export and --init-from."""
    state = synthetic_backbone(LAYERS["r18"], seed=5)
    path = tmp_path / "checkpoint_gpu_0.pt"
    torch.save(
        {
            "epoch": 3,
            "global_step": 1200,
            "state_dict_backbone": state,
            "state_dict_softmax_fc": {"weight_activated": torch.zeros(4, 512)},
            "state_optimizer": {"state": {}, "param_groups": []},
            "state_lr_scheduler": {"last_epoch": 1200},
        },
        path,
    )
    net, info = load_model(path)
    assert info["network"] == "r18" and info["source"] == "arcface_torch"
    assert all(torch.equal(net.state_dict()[k], v) for k, v in state.items())
    fresh = create_model("r18")
    assert load_backbone_weights(fresh, path) == ["mask_fc.weight", "mask_fc.bias"]
    assert torch.equal(fresh.fc.weight, state["fc.weight"])


def test_init_from_keeps_a_fresh_mask_head(tmp_path: Path) -> None:
    state = synthetic_backbone(LAYERS["r18"], seed=3)
    path = tmp_path / "backbone.pth"
    torch.save(state, path)
    torch.manual_seed(0)
    net = create_model("r18")
    fresh_mask = net.mask_fc.weight.detach().clone()
    assert load_backbone_weights(net, path) == ["mask_fc.weight", "mask_fc.bias"]
    assert torch.equal(net.fc.weight, state["fc.weight"])
    assert torch.equal(net.mask_fc.weight, fresh_mask)
    with pytest.raises(CheckpointError, match="shape"):
        load_backbone_weights(create_model("r18", embedding_size=256), path)
    with pytest.raises(CheckpointError, match="missing") as error:
        load_backbone_weights(create_model("r34"), path)
    # the file's network is named, not only its keys (the default r50 run said "missing keys")
    assert str(error.value).endswith("; the file holds an r18, the network is r34 (--network r18)")
    with pytest.raises(CheckpointError, match=r"holds an r18, the network is tiny \(--network r18"):
        load_backbone_weights(create_model("tiny"), path)


def test_init_from_a_tiny_maskgen_checkpoint(tmp_path: Path) -> None:
    """`maskgen train --network tiny --init-from RUN/last.pt` of a tiny run: the iresnet shape
    rule for arcface_torch files refused it ('fc.weight has shape (512, 3136)')."""
    from tests.nn.helpers import write_network_checkpoint

    torch.manual_seed(1)
    trained = create_model("tiny")
    path = write_network_checkpoint(tmp_path / "last.pt", trained)
    torch.manual_seed(2)
    net = create_model("tiny")
    assert load_backbone_weights(net, path) == []
    assert all(torch.equal(v, trained.state_dict()[k]) for k, v in net.state_dict().items())
    with pytest.raises(CheckpointError, match=r"holds a tiny, the network is r18 \(--network tiny"):
        load_backbone_weights(create_model("r18"), path)


def test_load_model_rejects_anything_else(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    with pytest.raises(CheckpointError, match=r"notes\.txt: not a readable PyTorch checkpoint"):
        load_model(text)
    short = tmp_path / "short.pt"
    short.write_bytes(b"hello")  # torch.load raises KeyError on this one
    with pytest.raises(CheckpointError, match=r"short\.pt: not a readable PyTorch checkpoint"):
        load_model(short)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "absent.pt")
    other = tmp_path / "tiny.pt"
    torch.save(create_model("tiny").state_dict(), other)
    with pytest.raises(CheckpointError, match=r"fc\.weight has shape"):
        load_model(other)
    partial = synthetic_backbone(LAYERS["r18"])
    del partial["layer2.1.conv1.weight"]
    torch.save(partial, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="missing 1 keys"):
        load_model(tmp_path / "partial.pt")
    odd = {
        k: v for k, v in synthetic_backbone(LAYERS["r18"]).items() if not k.startswith("layer4.1")
    }
    torch.save(odd, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match=r"blocks per stage \(2, 2, 2, 1\)"):
        load_model(tmp_path / "odd.pt")
    torch.save({"format": "maskgen-mtarcface", "version": 9}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="version 9"):
        load_model(tmp_path / "future.pt")
