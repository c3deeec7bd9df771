"""Seed noise or consistent misses? Several (b) models of ``benchmarks/realism.py`` read together.

For each model (a ``maskgen train`` checkpoint), the mask probability of every real photo
(face and mirror image averaged, as ``maskgen eval``); then, per photo, how many of the models
get it wrong, each model's accuracy, and the accuracy of the mean probability over all models
(an ensemble). Photos most models get wrong are what the twin does not teach; photos one or two
models get wrong are the run-to-run noise that a single model's figure carries::

    python benchmarks/realism_seeds.py --work /tmp/rz-final RUN/last.pt RUN2/last.pt ...
    python benchmarks/realism_seeds.py --work /tmp/rz-final --runs-matching "realism-s*"

``--work``: a realism.py work folder (its ``real/`` sets are made there if missing). Writes
``--out`` .json (per-photo probabilities and counts, and the real sets' .recs, so that
``python tools/realism_sheet.py --misses OUT.json -o /tmp/misses.png`` shows the photos the
models get wrong, most-missed first) and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realism import REAL_SETS, SHARED, load_real_faces, rwmfd_not_masked_positions

EXPECTED_MASKED = {"mfr2_masked": True, "mfr2_unmasked": False, "rwmfd": True}


def mask_probabilities(model: Path, images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per real set, (N,) float32 mask probabilities of one checkpoint (flip-averaged)."""
    from maskgen.nn.embedder import Embedder

    embedder = Embedder.from_path(model, device="cpu")
    return {name: embedder.embed_images(list(faces)).mask_prob for name, faces in images.items()}


def summarise(probabilities: list[dict[str, np.ndarray]], left_out: list[int]) -> dict:
    """Wrong-count histograms, per-model and ensemble accuracies (all photos, and with RMFD's
    ``left_out`` positions, the crops without a masked face, left out)."""
    out: dict = {"models": len(probabilities), "sets": {}}
    right_single = np.zeros(len(probabilities))
    right_ensemble = total = 0
    right_single_checked = np.zeros(len(probabilities))
    right_ensemble_checked = total_checked = 0
    for name, expected in EXPECTED_MASKED.items():
        stacked = np.stack([p[name] for p in probabilities])  # (models, N)
        wrong = (stacked > 0.5) != expected
        ensemble_wrong = (stacked.mean(axis=0) > 0.5) != expected
        keep = np.ones(stacked.shape[1], bool)
        if name == "rwmfd":
            keep[left_out] = False
        out["sets"][name] = {
            "photos": int(stacked.shape[1]),
            "wrong_in_n_models": np.bincount(wrong.sum(0), minlength=len(probabilities) + 1)
            .astype(int)
            .tolist(),
            "wrong_by_photo": {int(i): int(n) for i, n in enumerate(wrong.sum(0)) if n},
            "per_model_accuracy": (1 - wrong.mean(1)).round(4).tolist(),
            "ensemble_accuracy": float(1 - ensemble_wrong.mean()),
        }
        right_single += (~wrong).sum(1)
        right_ensemble += int((~ensemble_wrong).sum())
        total += stacked.shape[1]
        right_single_checked += (~wrong[:, keep]).sum(1)
        right_ensemble_checked += int((~ensemble_wrong[keep]).sum())
        total_checked += int(keep.sum())
    out["all"] = {
        "per_model_accuracy": (right_single / total).round(4).tolist(),
        "mean_of_models": float((right_single / total).mean()),
        "ensemble_accuracy": right_ensemble / total,
        "photos": total,
    }
    out["all_checked"] = {
        "per_model_accuracy": (right_single_checked / total_checked).round(4).tolist(),
        "mean_of_models": float((right_single_checked / total_checked).mean()),
        "ensemble_accuracy": right_ensemble_checked / total_checked,
        "photos": total_checked,
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, help="checkpoints (RUN/last.pt)")
    parser.add_argument("--work", type=Path, required=True, help="a realism.py --work folder")
    parser.add_argument("--runs-matching", help="glob of run folders under WORK/runs")
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--out", type=Path, default=Path("/tmp/realism_seeds.json"))
    args = parser.parse_args(argv)
    models = list(args.models)
    if args.runs_matching:
        models += sorted(p / "last.pt" for p in (args.work / "runs").glob(args.runs_matching))
    models = [m for m in models if m.is_file()]
    if len(models) < 2:
        raise SystemExit("give at least two checkpoints (or --runs-matching)")
    loaded = load_real_faces(args.work, args.shared)
    if loaded is None:
        raise SystemExit(f"{args.shared}: no real-masks data")
    recs, faces = loaded
    images = {name: faces[name].images for name, _ in REAL_SETS}
    probabilities = []
    for model in models:
        probabilities.append(mask_probabilities(model, images))
        print(f"read {model}", flush=True)
    result = summarise(probabilities, rwmfd_not_masked_positions(args.shared))
    result["checkpoints"] = [str(m) for m in models]
    result["real_recs"] = {name: str(recs[name]) for name, _ in REAL_SETS}
    result["probabilities"] = [
        {k: v.round(4).tolist() for k, v in p.items()} for p in probabilities
    ]
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for key in ("all", "all_checked"):
        figures = result[key]
        print(
            f"{key} ({figures['photos']} photos): models {figures['per_model_accuracy']}, "
            f"mean {figures['mean_of_models']:.4f}, ensemble {figures['ensemble_accuracy']:.4f}"
        )
    for name, figures in result["sets"].items():
        print(f"{name}: photos wrong in 0, 1, ... models: {figures['wrong_in_n_models']}")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
