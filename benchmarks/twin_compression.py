"""Can the mask label be read from compression history? Twin against original, before and after
masked images were encoded like their source.

A dataset whose JPEGs come at many qualities (here: lfw-mini's 294 aligned faces re-saved at a
quality drawn from 50-95 for each, as web-collected sets are) is masked twice by
``maskgen.augment_dataset``: with the twin encoder of before (OpenCV at ``--jpeg-quality`` 95)
and with the present one (the source's own quantisation tables and subsampling,
``maskgen.pipeline.jpeg_match``). Each masked twin image is set against its original.

Features, compression only (the mask itself is left out): the IJG quality estimated from the
luminance table, the chroma subsampling, and the blockiness of the upper half of the crop (eyes
and forehead, never masked): mean absolute step across 8-pixel block borders over the mean step
inside blocks, on the decoded luminance. A logistic regression on these (standardised, 5-fold
cross-validated; numpy only) says how well an image is told to be a twin. 50 % is chance.

    python benchmarks/twin_compression.py   # writes benchmarks/results/twin_compression.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"


def requality(source: Path, out: Path, low: int, high: int, seed: int) -> Path:
    """``source`` (an insightface .rec) re-saved with each image at a random IJG quality."""
    from maskgen.formats.recordio import RecordIOReader, write_insightface_rec
    from maskgen.train.data import _read_identities

    reader = RecordIOReader(source)
    keys = np.asarray(list(reader.image_keys()))
    identities = _read_identities(reader, keys)
    rng = np.random.default_rng(seed)
    groups: dict[int, list[bytes]] = {}
    for key, identity in zip(keys, identities, strict=True):
        image = cv2.imdecode(np.frombuffer(reader.read(int(key)).data, np.uint8), cv2.IMREAD_COLOR)
        quality = int(rng.integers(low, high + 1))
        _, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        groups.setdefault(int(identity), []).append(buffer.tobytes())
    return write_insightface_rec(out, [groups[i] for i in sorted(groups)])


def twin(source: Path, out: Path, *, before: bool) -> Path:
    """The masked twin of ``source``; ``before``: with the fixed-quality encoder of before."""
    from maskgen import MaskSpec, augment_dataset
    from maskgen.images import encode_stored
    from maskgen.pipeline import step

    def fixed_quality(pixels: np.ndarray, stored: Any, sample: Any, quality: int) -> Any:
        # step._encode_twin_image's signature: (pixels, StoredImage, Sample, jpeg_quality)
        return encode_stored(pixels, stored.format, quality, sample.key)

    patch = mock.patch.object(step, "_encode_twin_image", fixed_quality)
    with patch if before else contextlib.nullcontext():
        augment_dataset(source, out, spec=MaskSpec(), seed=0, workers=1, progress=False)
    return out / source.name


def features(data: bytes) -> list[float]:
    """Estimated IJG quality, chroma subsampling (0, 1, 2) and upper-half blockiness."""
    from maskgen.pipeline.jpeg_match import read_source_jpeg

    source = read_source_jpeg(data)
    assert source is not None
    grey = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE).astype(np.float64)
    top = grey[:48]
    steps = np.abs(np.diff(top, axis=1))
    border = steps[:, 7::8].mean()
    inside = np.delete(steps, np.s_[7::8], axis=1).mean()
    return [
        float(source.quality.quality),
        float(source.subsampling or 0),
        float(border / max(inside, 1e-9)),
    ]


def cross_validated_accuracy(x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Mean held-out accuracy of an L2-regularised logistic regression (gradient descent on
    standardised features) over ``folds`` folds of a random split."""
    order = np.random.default_rng(seed).permutation(len(y))
    right = 0
    for part in np.array_split(order, folds):
        train = np.setdiff1d(order, part)
        mean, std = x[train].mean(0), x[train].std(0) + 1e-9
        a = np.c_[(x[train] - mean) / std, np.ones(len(train))]
        b = np.c_[(x[part] - mean) / std, np.ones(len(part))]
        w = np.zeros(a.shape[1])
        for _ in range(2000):
            p = 1 / (1 + np.exp(-a @ w))
            w -= 0.5 * (a.T @ (p - y[train]) / len(train) + 1e-3 * w)
        right += int(((b @ w > 0) == (y[part] > 0.5)).sum())
    return right / len(y)


def compare(source: Path, masked: Path) -> dict[str, Any]:
    """Features of every masked twin image and its original; the classifier's accuracy."""
    from maskgen.formats.recordio import RecordIOReader

    original, twin_reader = RecordIOReader(source), RecordIOReader(masked)
    rows, labels, same_tables = [], [], 0
    qualities: list[tuple[int, int]] = []
    for key in original.image_keys():
        twin_sample = twin_reader.read(key)
        if twin_sample.label is None or twin_sample.label.size < 2 or twin_sample.label[1] < 0.5:
            continue  # not masked: the twin holds the original's bytes
        a, b = original.read(key).data, twin_sample.data
        fa, fb = features(a), features(b)
        rows += [fa, fb]
        labels += [0.0, 1.0]
        qualities.append((int(fa[0]), int(fb[0])))
        same_tables += _tables(a) == _tables(b)
    x, y = np.asarray(rows), np.asarray(labels)
    return {
        "pairs": len(qualities),
        "same_quantisation_tables": same_tables,
        "quality_original_mean": float(np.mean([q[0] for q in qualities])),
        "quality_twin_mean": float(np.mean([q[1] for q in qualities])),
        "classifier_accuracy": cross_validated_accuracy(x, y),
        "classifier_accuracy_blockiness_only": cross_validated_accuracy(x[:, 2:], y),
    }


def _tables(data: bytes) -> Any:
    from maskgen.pipeline.jpeg_match import read_source_jpeg

    source = read_source_jpeg(data)
    return None if source is None else (source.tables, source.subsampling)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rec", type=Path, default=SHARED / "rec" / "lfw-mini" / "train.rec")
    parser.add_argument("--quality", default="50,95", help="range of source qualities")
    parser.add_argument("--out", type=Path, default=RESULTS / "twin_compression.json")
    args = parser.parse_args(argv)
    if not args.rec.is_file():
        print(f"{args.rec}: not found (../shared/data)", file=sys.stderr)
        return 2
    low, high = (int(v) for v in args.quality.split(","))
    result: dict[str, Any] = {"source": str(args.rec), "source_quality": [low, high]}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = requality(args.rec, work / "src" / "train.rec", low, high, seed=0)
        for name, before in (("before", True), ("after", False)):
            masked = twin(source, work / name, before=before)
            result[name] = compare(source, masked)
    from maskgen.atomic import write_text_atomic

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
