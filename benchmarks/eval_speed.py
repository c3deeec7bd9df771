"""Throughput of batched evaluation (``maskgen eval``'s path) on lfw-fold1.bin.

For each network, a freshly initialised model is saved as a maskgen checkpoint (and, with
``--onnx``, exported) and the 1,200 faces of ``lfw-fold1.bin`` are embedded the way ``maskgen
eval`` does it: JPEG decoding in a thread pool, each face and its mirror image in one batch, the
10-fold protocol on the result. Faces per second counts faces (each is two forward passes).

    python benchmarks/eval_speed.py [--bin ../shared/data/bin/lfw-fold1.bin]
        [--networks tiny,r50] [--batch-size 64] [--limit 1200] [--device cpu] [--onnx]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from maskgen.evaluate import Embedder, evaluate_verification
from maskgen.formats.verification import read_verification_bin
from maskgen.nn.checkpoint import write_checkpoint
from maskgen.nn.models import create_model

REPO = Path(__file__).resolve().parents[1]


def _checkpoint(network: str, folder: Path) -> Path:
    torch.manual_seed(0)
    model = create_model(network).eval()
    return write_checkpoint(
        folder / f"{network}.pt",
        network=network,
        embedding_size=512,
        mask_head=True,
        model=model.state_dict(),
        arcface={},
        optimizer={},
        scheduler={},
        scaler={},
        step=0,
        epoch=0,
        config={},
        rng={},
        data_position={},
        threshold=None,
    )


def _measure(
    model: Path, images: list[bytes], issame: list[bool], args: argparse.Namespace
) -> float:
    embedder = Embedder.from_path(model, device=args.device, batch_size=args.batch_size)
    embedder.embed_encoded(images[: args.batch_size])  # warm-up: allocations, kernel choice
    start = time.perf_counter()
    result = embedder.embed_encoded(images)
    evaluate_verification(result.embeddings, issame)
    return len(images) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", type=Path, default=REPO.parent / "shared/data/bin/lfw-fold1.bin")
    parser.add_argument("--networks", default="tiny,r50")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="Faces to embed (even).")
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--onnx", action="store_true", help="Also time the ONNX export.")
    args = parser.parse_args()

    images, issame = read_verification_bin(args.bin)
    if args.limit:
        pairs = max(10, args.limit // 2)
        images, issame = images[: 2 * pairs], issame[:pairs]
    print(f"{len(images)} faces of {args.bin.name}, batch {args.batch_size}, "
          f"torch threads {torch.get_num_threads()}")  # fmt: skip
    print(f"{'network':8} {'backend':11} {'faces/s':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for network in args.networks.split(","):
            checkpoint = _checkpoint(network, Path(tmp))
            models = [("pytorch", checkpoint)]
            if args.onnx:
                from maskgen.evaluate.export import export_onnx

                models.append(("onnxruntime", export_onnx(checkpoint, Path(tmp) / "m.onnx").path))
            for backend, model in models:
                rate = _measure(model, images, issame, args)
                print(f"{network:8} {backend:11} {rate:8.1f}", flush=True)


if __name__ == "__main__":
    main()
