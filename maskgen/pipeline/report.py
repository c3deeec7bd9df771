"""What a run did: counts, the one-line summary, ``maskgen.json`` and the progress bar."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maskgen.atomic import write_bytes_atomic
from maskgen.errors import OutputError
from maskgen.pipeline.plan import Plan, Shard
from maskgen.types import ItemResult
from maskgen.words import count_of

RUN_INFO_NAME = "maskgen.json"


@dataclass(frozen=True)
class Counts:
    """``items``: every key, image or not (RecordIO header and identity records are items that
    are copied); ``images``: manifest rows of images; ``reasons``: not-masked images by
    reason; ``skipped``: manifest rows of files that are not images (a folder's text files,
    macOS ``._`` files, ...), by reason; ``faces_not_masked``: faces found but left unmasked
    (``occluded``, ``too_turned``, ``out_of_frame``, ``doubtful_face``), by reason, in masked
    images and unmasked ones alike; ``damaged``: images read though their decoder called them
    damaged (a manifest row's ``decoder_warning``), which the summary line names: a truncated
    photo masked as it decoded (grey below the cut) was otherwise told in the manifest alone."""

    items: int = 0
    images: int = 0
    masked: int = 0
    reasons: Mapping[str, int] = field(default_factory=dict)
    skipped: Mapping[str, int] = field(default_factory=dict)
    faces_not_masked: Mapping[str, int] = field(default_factory=dict)
    damaged: int = 0

    @classmethod
    def of_results(cls, items: int, results: Iterable[ItemResult]) -> Counts:
        reasons: Counter[str] = Counter()
        skipped: Counter[str] = Counter()
        faces: Counter[str] = Counter()
        images = masked = damaged = 0
        for result in results:
            if result.skipped:
                skipped[result.reason or "not_an_image"] += 1
                continue
            images += 1
            damaged += result.decoder_warning is not None
            faces.update(str(face.get("reason")) for face in result.faces_not_masked)
            if result.masked:
                masked += 1
            else:
                reasons[result.reason or "not_masked"] += 1
        return cls(items, images, masked, dict(reasons), dict(skipped), dict(faces), damaged)

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            items=self.items + other.items,
            images=self.images + other.images,
            masked=self.masked + other.masked,
            reasons=dict(Counter(self.reasons) + Counter(other.reasons)),
            skipped=dict(Counter(self.skipped) + Counter(other.skipped)),
            faces_not_masked=dict(Counter(self.faces_not_masked) + Counter(other.faces_not_masked)),
            damaged=self.damaged + other.damaged,
        )

    @property
    def not_masked(self) -> int:
        return self.images - self.masked

    @property
    def other_files(self) -> int:
        """Files that are not images (copied unchanged, or not copied: ``reserved_name``)."""
        return sum(self.skipped.values())

    def to_json(self) -> dict[str, Any]:
        """The counts as ``maskgen.json`` holds them (``faces_not_masked`` only where a face
        was left unmasked, so runs without any read as before)."""
        record: dict[str, Any] = {
            "items": self.items,
            "images": self.images,
            "masked": self.masked,
            "not_masked": dict(sorted(self.reasons.items())),
            "skipped": dict(sorted(self.skipped.items())),
        }
        if self.faces_not_masked:
            record["faces_not_masked"] = dict(sorted(self.faces_not_masked.items()))
        if self.damaged:
            record["damaged"] = self.damaged
        return record

    def describe(self) -> str:
        """``"294 images: 287 masked, 7 not masked (no_face 5, unreadable 2)"``, then
        ``", 4 faces left unmasked (occluded 3, too_turned 1)"`` where the face checks left any,
        ``", 3 other files, not images (not_an_image 2, apple_double 1)"`` for a folder's
        other files, ``", 41 other records copied"`` for RecordIO's header and identities, and
        ``", 2 images read though damaged (decoder_warning in the manifest)"`` where any were."""
        images = count_of(self.images, "image")
        text = f"{images}: {self.masked} masked, {self.not_masked} not masked"
        if self.reasons:
            text += f" ({_by_reason(self.reasons)})"
        if self.faces_not_masked:
            left = count_of(sum(self.faces_not_masked.values()), "face")
            text += f", {left} left unmasked ({_by_reason(self.faces_not_masked)})"
        if self.skipped:
            other = count_of(self.other_files, "other file")
            text += f", {other}, not images ({_by_reason(self.skipped)})"
        others = self.items - self.images - self.other_files
        if others:
            text += f", {count_of(others, 'other record')} copied"
        if self.damaged:
            damaged = count_of(self.damaged, "image")
            text += f", {damaged} read though damaged (decoder_warning in the manifest)"
        return text


def _by_reason(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items()))


def total(counts: Iterable[Counts]) -> Counts:
    return sum(counts, Counts())


@dataclass(frozen=True)
class RunReport:
    """The outcome of :func:`augment_dataset` or :func:`merge_shards`.

    ``output`` is the finished twin, None for a shard that left parts for ``maskgen merge``.
    ``counts`` cover the whole dataset (or the shard); ``processed`` and ``seconds`` only the
    images this call masked (chunks finished by an earlier, interrupted call are not timed).
    """

    input: Path
    output_dir: Path
    format: str
    counts: Counts
    output: Path | None = None
    processed: int = 0
    seconds: float = 0.0
    shard: Shard | None = None
    merged_shards: int | None = None
    already_complete: bool = False
    """A resumed run that found the twin finished: nothing was masked or written."""

    @property
    def complete(self) -> bool:
        return self.output is not None

    @property
    def manifest(self) -> Path | None:
        return self.output_dir / "manifest.jsonl" if self.complete else None

    @property
    def images_per_second(self) -> float | None:
        if not self.processed or self.seconds <= 0:
            return None
        return self.processed / self.seconds

    def summary(self) -> str:
        """One line for the end of a run."""
        parts = [self.counts.describe()]
        if self.images_per_second is not None:
            kept = self.counts.images - self.processed  # a resumed run's earlier chunks
            speed = _speed_words(self.images_per_second)
            if kept > 0:
                speed += f" on the {self.processed} masked now, {kept} kept from the earlier run"
            parts.append(speed)
        if self.shard is not None:
            index, count = self.shard
            parts.insert(0, f"shard {index}/{count}")
            if self.counts.items == 0:  # said, not left to puzzle over a "0 images"
                parts.insert(1, "no chunk of the input falls to this shard (fewer chunks than "
                                "shards: a smaller --chunk-size, or fewer shards)")  # fmt: skip
            after = f"once all {count} shards are done" if count > 1 else "to finish the twin"
            parts.append(
                f"parts in {self.output_dir}; run `maskgen merge {self.output_dir}` {after}"
            )
        elif self.merged_shards is not None:
            parts.insert(0, f"merged {count_of(self.merged_shards, 'shard')}")
        if self.output is not None and self.already_complete:
            parts.append(f"{self.output} was complete already, nothing left to do")
        elif self.output is not None:
            parts.append(f"wrote {self.output}")
        return "; ".join(parts)


def run_info(
    plan: Plan,
    counts: Counts,
    output: Path,
    out_dir: Path,
    not_read: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The content of ``maskgen.json``: what was made, from what, how. No timings or worker
    counts, so it is identical for every way of running the same job. ``output`` is recorded
    relative to ``out_dir`` (``"."`` for a folder twin, which is ``out_dir`` itself).
    ``not_read``: what an input folder held that was not read, by kind (hidden folders, links,
    special files, folders that cannot be listed), kept where there is any, so that the
    record accounts for every entry, the manifest's rows and these."""
    record = {
        "maskgen": plan.maskgen,
        "input": plan.input,
        "format": plan.format,
        "input_digest": plan.input_digest,
        "output": os.path.relpath(output, out_dir),
        "manifest": "manifest.jsonl",
        "parameters": run_parameters(plan),
        "counts": counts.to_json(),
    }
    if plan.assets_digest is not None:  # the user's textures, templates or models folders
        record["assets_digest"] = plan.assets_digest
    if not_read:
        record["not_read"] = {kind: list(names) for kind, names in not_read.items()}
    return record


def run_parameters(plan: Plan) -> dict[str, Any]:
    """The parameters recorded in ``maskgen.json``: those that shape the output (not how the
    work was split into chunks and shards)."""
    return {
        "seed": plan.seed,
        "face_mode": plan.face_mode,
        "mask_spec": dict(plan.mask_spec),
        "jpeg_quality": plan.jpeg_quality,
        "models_dir": plan.models_dir,
    }


def write_run_info(
    out_dir: Path,
    plan: Plan,
    counts: Counts,
    output: Path,
    not_read: Mapping[str, list[str]] | None = None,
) -> Path:
    path = out_dir / RUN_INFO_NAME
    text = json.dumps(run_info(plan, counts, output, out_dir, not_read), indent=2) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))
    return path


def read_run_info(out_dir: Path) -> dict[str, Any]:
    path = out_dir / RUN_INFO_NAME
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise OutputError(f"{path}: not a maskgen run record") from None
    if not isinstance(record, dict) or not isinstance(record.get("counts"), dict):
        raise OutputError(f"{path}: not a maskgen run record")
    return record


def twin_record(path: Path) -> dict[str, Any] | None:
    """The run record ``maskgen augment`` wrote for the twin at ``path``: ``maskgen.json`` in
    a folder twin (its output ``.``) or beside a ``.rec`` or ``.bin`` twin (its output that
    file's name); None where ``path`` is no twin written by maskgen."""
    folder, name = (path, ".") if path.is_dir() else (path.parent, path.name)
    try:
        record = read_run_info(folder)
    except (OSError, OutputError):
        return None
    return record if record.get("output") == name else None


def counts_from_run_info(record: Mapping[str, Any]) -> Counts:
    counts = record["counts"]
    return Counts(
        items=int(counts["items"]),
        images=int(counts["images"]),
        masked=int(counts["masked"]),
        reasons=dict(counts["not_masked"]),
        skipped=dict(counts.get("skipped", {})),
        faces_not_masked=dict(counts.get("faces_not_masked", {})),
        damaged=int(counts.get("damaged", 0)),
    )


class _NoBar(contextlib.nullcontext):
    """What :func:`progress_bar` gives where no bar is shown: ``update`` does nothing."""

    def __enter__(self) -> _NoBar:
        return self

    def update(self, n: int = 1) -> None:
        """Nothing to show."""

    def set_description_str(self, desc: str) -> None:
        """Nothing to show."""


def progress_bar(
    total_items: int, enabled: bool, compiles: Callable[[], bool] | None = None
) -> Any:
    """A tqdm bar on stderr, shown only when asked for and stderr is a terminal (tqdm is
    imported only then: 0.05-0.08 s of a small run's start-up otherwise). Where ``compiles()``
    (asked only for a bar shown) says the run compiles numba's kernels first, the bar says so
    (the caller clears it with ``set_description_str("")`` at the first update): a first run
    after an install sat at 0 % for about 20 s without a word."""
    if not (enabled and sys.stderr.isatty()):
        return _NoBar()
    from tqdm import tqdm

    first = compiles is not None and compiles()
    desc = "compiling kernels for this machine, once (~20 s)" if first else None
    return tqdm(total=total_items, unit="item", file=sys.stderr, leave=False, desc=desc)


def _speed_words(images_per_second: float) -> str:
    """``12.3 images/s``, or below one a second ``4.2 s/image`` (as tqdm turns it/s into
    s/it), so a run of a few slow images does not read ``0.0 images/s``."""
    if images_per_second >= 1.0:
        return f"{images_per_second:.1f} images/s"
    return f"{1.0 / images_per_second:.1f} s/image"
