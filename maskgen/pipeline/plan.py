"""How a run is cut into chunks and shards, and what on disk says a chunk is done.

A run masks the input's keys in *chunks* of consecutive keys. Each chunk writes one data part
(through the format's part writer) and then one manifest part; the manifest part appears last,
so it marks the chunk complete. Parts live in ``OUTDIR/.maskgen-parts/`` beside ``plan.json``,
which records every parameter that shapes the output: a resumed run or another shard must
match it exactly. A *shard* ``I/N`` takes a contiguous slice of the chunks and, when done,
leaves ``shard-I-of-N.done``; ``maskgen merge`` joins once every shard's marker is there.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from maskgen.atomic import make_folder
from maskgen.errors import ConfigError, OutputError
from maskgen.pipeline.files import create_exclusive

PARTS_DIR_NAME = ".maskgen-parts"
PLAN_NAME = "plan.json"
DEFAULT_CHUNK_SIZE = 1000
MIN_CHUNK_SIZE = 16
TARGET_CHUNKS = 64
"""Small inputs get chunks of ``items / 64`` (at least 16) so they still spread over workers.
The default depends on the input size only, so a resumed run finds the same chunks."""

SPLIT_TAIL_FROM = 4
"""Runs of fewer chunks keep them whole (they run in one process or two, see
:data:`maskgen.pipeline.local.MIN_CHUNKS_PER_WORKER`)."""
TAIL_CHUNKS = 4
"""The last two chunks' items are cut into this many (:func:`chunk_ranges`)..."""
MIN_TAIL_CHUNK_SIZE = 8
"""... of at least this many items (a chunk costs a few ms of its own: parts, manifest)."""

Shard = tuple[int, int]
"""``(index, count)``: 0-based shard ``index`` of ``count``."""


def default_chunk_size(n_items: int) -> int:
    """The chunk size used when none is given: 1000 items, fewer for small inputs."""
    return max(MIN_CHUNK_SIZE, min(DEFAULT_CHUNK_SIZE, math.ceil(n_items / TARGET_CHUNKS)))


def chunk_ranges(n_items: int, chunk_size: int, split_tail: bool = False) -> list[range]:
    """Positions ``[start, stop)`` into the reader's keys, one range per chunk, in key order.

    ``split_tail``: in a run of at least :data:`SPLIT_TAIL_FROM` chunks, the last two to
    three chunks' worth of items are cut into :data:`TAIL_CHUNKS` smaller chunks (where each
    but the last holds at least :data:`MIN_TAIL_CHUNK_SIZE` items; else they stay whole).
    Workers take chunks in order, so a run ends on small chunks: a worker that runs out waits
    for the others' last small chunk, not a whole one (on 400 photos in chunks of 16 with two
    workers, one of them otherwise masks the 25th chunk alone, ~0.12 s)."""
    ranges = [
        range(start, min(start + chunk_size, n_items)) for start in range(0, n_items, chunk_size)
    ]
    if not split_tail or len(ranges) < SPLIT_TAIL_FROM:
        return ranges
    whole = (n_items - 2 * chunk_size) // chunk_size
    start = whole * chunk_size
    size = math.ceil((n_items - start) / TAIL_CHUNKS)
    if size < MIN_TAIL_CHUNK_SIZE:
        return ranges
    return ranges[:whole] + [range(s, min(s + size, n_items)) for s in range(start, n_items, size)]


def shard_chunks(n_chunks: int, shard: Shard | None) -> range:
    """The chunk indices shard ``(index, count)`` owns: a contiguous slice, so each shard reads
    one stretch of the input (sequential reads on a network file system). All chunks if None."""
    if shard is None:
        return range(n_chunks)
    index, count = shard
    return range(index * n_chunks // count, (index + 1) * n_chunks // count)


def check_shard(shard: Shard) -> Shard:
    """``shard`` if ``0 <= index < count``, else ConfigError."""
    index, count = shard
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"shard {index}/{count}: expected I/N with 0 <= I < N (0-based)")
    return int(index), int(count)


def parse_shard(text: str) -> Shard:
    """``"3/8"`` -> ``(3, 8)``: shard 3 of 8, 0-based (0/8 ... 7/8)."""
    head, sep, tail = text.strip().partition("/")
    try:
        if not sep:
            raise ValueError(text)
        shard = int(head), int(tail)
    except ValueError:
        raise ConfigError(f"shard {text!r}: expected I/N, e.g. 0/4 (0-based)") from None
    return check_shard(shard)


def shard_from_slurm(environ: Mapping[str, str]) -> Shard | None:
    """The shard a SLURM job array task stands for, or None outside an array.

    Array ids run from ``SLURM_ARRAY_TASK_MIN`` (0, 1 or anything) in steps of
    ``SLURM_ARRAY_TASK_STEP``; the shard index is the task's position in that sequence and the
    count is ``SLURM_ARRAY_TASK_COUNT``.
    """
    task_id, count = environ.get("SLURM_ARRAY_TASK_ID"), environ.get("SLURM_ARRAY_TASK_COUNT")
    if task_id is None or count is None:
        return None
    try:
        first = int(environ.get("SLURM_ARRAY_TASK_MIN", "0"))
        step = int(environ.get("SLURM_ARRAY_TASK_STEP", "1")) or 1
        offset, n_shards = int(task_id) - first, int(count)
    except ValueError:
        raise ConfigError(
            f"SLURM_ARRAY_TASK_ID={task_id!r} / SLURM_ARRAY_TASK_COUNT={count!r}: not integers"
        ) from None
    if offset % step:
        raise ConfigError(
            f"SLURM_ARRAY_TASK_ID={task_id} is not on the array's grid (min {first}, step "
            f"{step}); pass --shard I/N"
        )
    index = offset // step
    if not 0 <= index < n_shards:
        raise ConfigError(
            f"SLURM_ARRAY_TASK_ID={task_id} gives shard {index} of {n_shards} (array min "
            f"{first}, step {step}); use a contiguous array such as --array=0-{n_shards - 1}, "
            "or pass --shard I/N"
        )
    return index, n_shards


@dataclass(frozen=True)
class Plan:
    """Every parameter that shapes the output. Resumed runs and shards must match it."""

    input: str
    format: str
    items: int
    chunk_size: int
    seed: int
    face_mode: str
    mask_spec: Mapping[str, Any]
    jpeg_quality: int
    models_dir: str | None
    shards: int | None
    maskgen: str
    split_tail: bool = False
    """The last chunks are smaller (:func:`chunk_ranges`); False in plans recorded before
    maskgen split them, which resume with the chunks they were planned with."""
    input_digest: str | None = None
    """:func:`input_digest` of the input; None in plans recorded before maskgen kept it,
    which resume unchecked."""
    assets_digest: str | None = None
    """:func:`assets_digest` of the user's texture, template and model folders (None: none
    given, or a plan recorded before maskgen kept it)."""

    @property
    def chunks(self) -> list[range]:
        return chunk_ranges(self.items, self.chunk_size, self.split_tail)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, record: Mapping[str, Any], where: Path) -> Plan:
        names = {f.name for f in fields(cls)}
        if not isinstance(record, Mapping) or set(record) - names or "input" not in record:
            raise OutputError(f"{where}: not a maskgen plan file")
        try:
            return cls(**record)
        except TypeError as error:
            raise OutputError(f"{where}: not a maskgen plan file ({error})") from None

    def differences(self, other: Plan) -> list[str]:
        """``"seed: 0 there, 1 now"`` for every field that differs from ``other``'s (there);
        for the mask spec, each field of it (``"mask_spec.wear: ..."``; a field a spec leaves
        out at its default reads ``default``)."""
        return _differences(self.to_json(), other.to_json())


class _Default:
    """Stands for a field a recorded mask spec leaves out (at its default)."""

    def __repr__(self) -> str:
        return "default"


def _differences(here: Mapping[str, Any], there: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Plan.differences over two JSON records, field by field inside ``mask_spec``."""
    found = []
    for name in dict.fromkeys([*here, *there]):
        now, then = here.get(name, _Default()), there.get(name, _Default())
        if name in here and name in there and _normalised(now) == _normalised(then):
            continue
        if isinstance(now, Mapping) and isinstance(then, Mapping) and name == "mask_spec":
            found += _differences(now, then, f"{prefix}{name}.")
        else:
            found.append(f"{prefix}{name}: {then!r} there, {now!r} now")
    return found


def _normalised(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@dataclass(frozen=True)
class PartsLayout:
    """Names of everything in the parts folder, ``OUTDIR/.maskgen-parts``."""

    root: Path

    @classmethod
    def in_output(cls, out_dir: Path) -> PartsLayout:
        return cls(Path(out_dir) / PARTS_DIR_NAME)

    @property
    def plan_path(self) -> Path:
        return self.root / PLAN_NAME

    def data_part(self, chunk: int) -> Path:
        """Handed to the format's part writer (which may add files beside it)."""
        return self.root / f"chunk-{chunk:06d}.part"

    def manifest_part(self, chunk: int) -> Path:
        """Written after the data part: its presence marks the chunk complete."""
        return self.root / f"chunk-{chunk:06d}.jsonl"

    def shard_marker(self, index: int, count: int) -> Path:
        return self.root / f"shard-{index}-of-{count}.done"

    def is_complete(self, chunk: int) -> bool:
        return self.manifest_part(chunk).is_file() and self.data_part(chunk).exists()

    def has_any_part(self, chunks: range) -> bool:
        """Whether any chunk in ``chunks`` has started (a data or manifest part exists)."""
        return any(self.manifest_part(i).exists() or self.data_part(i).exists() for i in chunks)

    def read_plan(self) -> Plan:
        path = self.plan_path
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise OutputError(f"{path.parent.parent}: no parts to merge or resume") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise OutputError(f"{path}: not a maskgen plan file") from None
        return Plan.from_json(record, path)

    def claim(self, plan: Plan) -> None:
        """Record ``plan``, or check it equals the one already recorded (by an interrupted run
        or another shard); ConfigError naming the differences otherwise."""
        make_folder(self.root)
        data = json.dumps(plan.to_json(), indent=1).encode("utf-8")
        if not create_exclusive(self.plan_path, data):
            self.check_matches(plan)

    def check_matches(self, plan: Plan) -> None:
        """ConfigError naming the differences if a recorded plan differs from ``plan``."""
        if not self.plan_path.exists():
            return
        differences = plan.differences(self.read_plan())
        changed = [
            changed_input_words(d.split(":", 1)[0], plan.format) or d
            for d in differences
            if d.split(":", 1)[0] in INPUT_FIELDS
        ]
        if changed:
            raise ConfigError(
                f"{self.root.parent} holds parts of a run whose input has changed since "
                f"({'; '.join(changed)}); restore it, or start over with "
                "overwrite=True",
                parameters={"overwrite=True": "overwrite"},
            )
        if any(d.startswith("shards:") for d in differences):
            raise ConfigError(  # overwrite is refused with a shard: name what works
                f"{self.root.parent} holds parts of a run cut into other shards "
                f"({'; '.join(differences)}); finish it with its own shard (none for an "
                "unsharded run), or start over with overwrite=True and no shard",
                parameters={
                    "own shard": "shard",
                    "no shard": "shard",
                    "overwrite=True": "overwrite",
                },
            )
        if differences:
            raise ConfigError(
                f"{self.root.parent} holds parts made with other parameters "
                f"({'; '.join(differences)}); rerun with the same parameters, or "
                "overwrite=True",
                parameters={"overwrite=True": "overwrite"},
            )

    def mark_shard_done(self, shard: Shard, chunks: range) -> None:
        record = {"shard": shard[0], "shards": shard[1], "chunks": [chunks.start, chunks.stop]}
        marker = self.shard_marker(*shard)
        create_exclusive(marker, json.dumps(record).encode("utf-8"))

    def missing_shards(self, count: int) -> list[int]:
        return [i for i in range(count) if not self.shard_marker(i, count).is_file()]


INPUT_FIELDS = frozenset({"input", "format", "items", "input_digest", "assets_digest"})
"""Plan fields the files decide, not the options: a difference there is a changed input."""


def input_digest(keys: Sequence[object], files: Sequence[Path] = ()) -> str:
    """A short digest of an input's item keys and of the sizes of ``files`` (a .rec and its
    .idx, a .bin): a resumed run or a shard whose input differs from the plan's is refused,
    not joined to parts of the old one. The item count alone missed a folder in which a photo
    was renamed, or one removed and another added (the twin kept the old name and lacked the
    new one), and another .rec of as many records. A file rewritten at the same size, or a
    folder's photo replaced under the same name, is not seen: that would cost a ``stat`` per
    file, slow on network file systems."""
    digest = hashlib.sha256()
    for key in keys:
        digest.update(str(key).encode("utf-8", "surrogateescape") + b"\n")
    for path in files:
        digest.update(f"{path.name} {os.stat(path).st_size}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:16]


def assets_digest(read_whole: Sequence[Path], read_by_size: Sequence[Path]) -> str | None:
    """A short digest of the files a run draws with beside its input: the name and bytes of
    each file in ``read_whole`` (the user's textures and templates: small images and JSON,
    which every worker reads whole anyway) and the name and size of each in ``read_by_size``
    (a landmark model of 100 MB is not hashed); None where both are empty. A texture added to
    ``--textures`` between an interrupt and ``--resume`` had been drawn from by the later
    chunks alone, with no word: the twin then matched no uninterrupted run. Raises OSError
    for a file that cannot be read."""
    if not read_whole and not read_by_size:
        return None
    digest = hashlib.sha256()
    for path in read_whole:
        digest.update(os.fsencode(path) + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    for path in read_by_size:
        digest.update(f"{path.name} {os.stat(path).st_size}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:16]


def changed_input_words(field: str, input_format: str) -> str | None:
    """How a refusal names a digest that differs (``field``), for an input of
    ``input_format``: what :func:`input_digest` covers for it; None for another field."""
    if field == "assets_digest":
        return "the files in its --textures, --templates or --models-dir folders"
    if field != "input_digest":
        return None
    return {
        "folder": "its file names",
        "recordio": "the name or size of its .rec or .idx",
    }.get(input_format, "its file's name or size")


def input_stamp(path: Path) -> tuple[int, int]:
    """(mtime in ns, size) of the input: a cache key that changes when the input is rewritten."""
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size
