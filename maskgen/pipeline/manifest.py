"""``manifest.jsonl``: one JSON object per item, in input order, saying what happened.

An item is an image record (RecordIO, .bin) or a file (folder: images and every other file).

Each chunk writes its rows to a manifest part; the parts are concatenated, in chunk order,
byte for byte, so the manifest is identical however the work was split.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from maskgen.atomic import discard_temporary, temp_path_beside, write_bytes_atomic
from maskgen.errors import OutputError
from maskgen.pipeline.report import Counts
from maskgen.types import ItemResult

MANIFEST_NAME = "manifest.jsonl"
_COPY_BUFFER = 1 << 20


def encode_rows(results: Iterable[ItemResult]) -> bytes:
    """One compact JSON line per result (keys in ItemResult's field order)."""
    lines = (json.dumps(result.to_json(), separators=(",", ":")) + "\n" for result in results)
    return "".join(lines).encode("utf-8")


def write_manifest_part(path: Path, results: Sequence[ItemResult]) -> None:
    """Write one chunk's rows under a temporary name, renamed into place when complete."""
    write_bytes_atomic(path, encode_rows(results))


def read_rows(path: Path) -> Iterator[ItemResult]:
    """The rows of a manifest (or manifest part) as ItemResults, streamed."""
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                yield ItemResult.from_json(json.loads(line))
            except (json.JSONDecodeError, TypeError, ValueError):
                raise OutputError(f"{path}: line {number} is not a manifest row") from None


def count_part(path: Path, items: int) -> Counts:
    """Counts of a finished chunk's manifest part (``items``: the chunk's key count)."""
    return Counts.of_results(items, read_rows(path))


def join_manifest_parts(part_paths: Sequence[Path], out_dir: Path) -> Path:
    """Concatenate manifest parts, in order, into ``out_dir/manifest.jsonl`` (streamed, under a
    temporary name renamed into place)."""
    target = out_dir / MANIFEST_NAME
    tmp = temp_path_beside(target)
    try:
        with open(tmp, "xb") as out:
            for part in part_paths:
                try:
                    with open(part, "rb") as source:
                        shutil.copyfileobj(source, out, _COPY_BUFFER)
                except FileNotFoundError:
                    raise OutputError(f"{part}: manifest part missing") from None
        os.replace(tmp, target)
    finally:
        discard_temporary(tmp)
    return target
