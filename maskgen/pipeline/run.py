"""``augment_dataset`` and ``merge_shards``: a whole run, from checks to the finished twin.

Order of events: check everything that can be checked before writing anything (input, output
location, options, models); record the plan in ``OUTDIR/.maskgen-parts``; mask the chunks that
are not complete yet, in parallel; join the parts in key order into the twin, the manifest and
``maskgen.json``; remove the parts. A shard stops after its chunks and leaves a done marker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from maskgen import __version__
from maskgen.errors import ConfigError, DatasetFormatError, MaskgenError, OutputError
from maskgen.formats.base import Format, Reader, find_format
from maskgen.formats.folder import FolderFormat, FolderReader, safe_key
from maskgen.formats.recordio import RecordIOReader
from maskgen.pipeline.local import default_workers, loads_numba_before_forking, run_jobs
from maskgen.pipeline.lock import is_lock_file, lock_holder, output_lock
from maskgen.pipeline.manifest import MANIFEST_NAME, count_part, join_manifest_parts
from maskgen.pipeline.plan import (
    PartsLayout,
    Plan,
    Shard,
    assets_digest,
    changed_input_words,
    check_shard,
    default_chunk_size,
    input_digest,
    input_stamp,
    shard_chunks,
)
from maskgen.pipeline.report import (
    RUN_INFO_NAME,
    Counts,
    RunReport,
    counts_from_run_info,
    progress_bar,
    read_run_info,
    run_info,
    total,
    twin_record,
    write_run_info,
)
from maskgen.pipeline.step import (
    ChunkJob,
    ChunkSummary,
    MaskerConfig,
    SplittableReader,
    check_masker,
    is_reserved_name,
)
from maskgen.seeding import check_seed

if TYPE_CHECKING:
    from maskgen.masks import MaskSpec

logger = logging.getLogger(__name__)

FACE_MODES = ("auto", "detect", "aligned")

_RESUME_OR_OVERWRITE = {"resume=True": "resume", "overwrite=True": "overwrite"}
_ANOTHER_OUTPUT_OR_OVERWRITE = {"another output_dir": "output_dir", "overwrite=True": "overwrite"}
"""How messages name :func:`augment_dataset`'s parameters (``MaskgenError.parameters``)."""


@dataclass(frozen=True)
class _Job:
    """What one run works on: the input (format, reader), where its twin goes, the plan."""

    fmt: Format
    reader: Reader
    out_dir: Path
    twin: Path
    plan: Plan

    @property
    def layout(self) -> PartsLayout:
        return PartsLayout.in_output(self.out_dir)

    def report(self, counts: Counts, **fields: Any) -> RunReport:
        return RunReport(
            input=self.reader.path,
            output_dir=self.out_dir,
            format=self.fmt.name,
            counts=counts,
            **fields,
        )


@dataclass(frozen=True)
class _RunOptions:
    workers: int | None
    scheduler: str | None
    progress: bool


def augment_dataset(
    input_path: str | Path,
    output_dir: str | Path,
    *,
    spec: MaskSpec | None = None,
    face_mode: str | None = None,
    seed: int = 0,
    workers: int | None = None,
    chunk_size: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    shard: Shard | None = None,
    scheduler: str | None = None,
    jpeg_quality: int = 95,
    models_dir: str | Path | None = None,
    progress: bool = True,
) -> RunReport:
    """Write the masked twin of a dataset (.rec, .bin or image folder) into ``output_dir``.

    ``spec`` None draws as ``maskgen augment`` does without mask options (``MaskSpec()``:
    every type, the paper's colour and texture odds). ``face_mode`` None takes the format's
    default (aligned for .rec/.bin, auto for folders); ``workers`` None uses every core;
    ``chunk_size`` None picks one from the input size (on ``resume``, the interrupted run's).
    ``resume`` finishes an interrupted run (same parameters, else ConfigError);
    ``overwrite`` starts over. ``shard=(i, n)`` masks the i-th
    of n slices (0-based) and leaves its parts for :func:`merge_shards`. ``scheduler`` runs
    the chunks on a Dask cluster at that address (as many at once as it has worker threads;
    ``workers`` is then not used). The twin is byte-identical whatever
    ``workers``, ``chunk_size``, sharding or resuming.

    Returns the run's :class:`RunReport` (``summary()`` is the command's last line). Raises
    DatasetFormatError for an input it cannot read, ConfigError for a bad option, OutputError
    for an ``output_dir`` it must not write (a finished run without ``overwrite``, the input
    itself); all are MaskgenError.
    """
    from maskgen.masks.policy import MaskSpec, checked_spec  # here: the pipeline stays light

    spec = MaskSpec() if spec is None else checked_spec(spec)
    started = time.perf_counter()
    _check_options(workers, chunk_size, jpeg_quality, face_mode, resume, overwrite, shard)
    check_seed(seed)
    if scheduler is not None:  # a Dask worker runs the jobs in its own working directory
        input_path, output_dir = Path(input_path).absolute(), Path(output_dir).absolute()
    job = _open_job(input_path, output_dir)
    plan = dataclasses.replace(
        job.plan,
        chunk_size=chunk_size or job.plan.chunk_size,
        seed=int(seed),
        face_mode=face_mode or job.plan.face_mode,
        mask_spec=spec_to_json(spec),
        jpeg_quality=int(jpeg_quality),
        models_dir=str(models_dir) if models_dir is not None else None,
        shards=shard[1] if shard else None,
    )
    if not overwrite and job.layout.plan_path.exists():
        # the chunks change no byte of the twin: a resume keeps the run's own, its size unless
        # given (and so does a rerun without --resume, which is then told to add it, not that
        # its chunk size, which it never chose, differs); its tail always, which no option
        # sets (whole in a plan recorded before maskgen split tails)
        recorded = job.layout.read_plan()
        plan = dataclasses.replace(
            plan, chunk_size=chunk_size or recorded.chunk_size, split_tail=recorded.split_tail
        )
        if recorded.input_digest is None:  # recorded before maskgen kept it: not checked
            plan = dataclasses.replace(plan, input_digest=None)
    job = dataclasses.replace(job, plan=plan)
    masker = MaskerConfig(spec, job.plan.face_mode, job.plan.models_dir)
    if scheduler is not None:
        masker = _with_absolute_paths(masker)
    check_masker(masker)  # spec, model file, templates: fail here, before anything is written
    job = dataclasses.replace(job, plan=_with_assets_digest(job.plan, spec, models_dir))
    _warn_if_a_twin(job.reader.path)
    if job.plan.face_mode == "aligned":
        warn_if_not_crops(job.reader)
    options = _RunOptions(workers, scheduler, progress)
    with output_lock(job.out_dir, shard):  # one run at a time here: refused before any change
        if resume and not job.layout.root.exists() and (job.out_dir / RUN_INFO_NAME).exists():
            return _already_complete(job)
        return _write_twin(job, masker, resume, overwrite, shard, options, started)


def _write_twin(
    job: _Job,
    masker: MaskerConfig,
    resume: bool,
    overwrite: bool,
    shard: Shard | None,
    options: _RunOptions,
    started: float,
) -> RunReport:
    """Everything :func:`augment_dataset` writes, once its checks have passed."""
    fresh = _prepare_output(job, resume, overwrite, shard)
    mine = shard_chunks(len(job.plan.chunks), shard)
    try:
        summaries = _mask_pending(job, masker, mine, options)
    except MaskgenError as error:
        # bad input: the next attempt starts clean; a failed write (a full disk) keeps the
        # finished chunks for --resume
        if fresh and shard is None and not isinstance(error, OutputError):
            _discard(job)
        raise
    counts = _counts(job, mine, summaries)
    timing = {
        "processed": sum(s.counts.images for s in summaries.values()),
        "seconds": time.perf_counter() - started,
    }
    if shard is not None:
        job.layout.mark_shard_done(shard, mine)
        return job.report(counts, shard=shard, **timing)
    return job.report(counts, output=_join(job, counts), **timing)


def warn_if_not_crops(reader: Reader) -> None:
    """Warn where ``face_mode="aligned"`` meets a dataset whose first image (the first of its
    first eight items that opens) is no aligned crop (not square, or over 192 px:
    :func:`~maskgen.faces.landmarks.is_small_square_crop`, MaskAugment's test): every image is
    taken for an
    ArcFace-aligned crop, so on whole photos (a ``.bin`` or ``.rec`` of LFW's 250x250
    photos) each mask lands where a crop's face would be, over the chin and neck, labelled
    masked. ``MaskAugment`` warns alike; ``eval`` and ``train`` refuse such a ``.bin``."""
    import io

    from PIL import Image

    from maskgen.faces.landmarks import ALIGNED_CROP_WORDS, is_small_square_crop

    keys = reader.image_keys() if isinstance(reader, RecordIOReader) else reader.keys()
    for key in list(keys[:8]):  # the first that opens: a folder may start with a text file
        try:
            with Image.open(io.BytesIO(reader.read(key).data)) as image:
                width, height = image.size
            break
        except Exception:  # not an image, damaged, a bomb Pillow refuses: its row says why
            continue
    else:
        return
    if not is_small_square_crop(height, width):
        logger.warning(
            f"%s: its images are %dx%d (the first one), not aligned crops ({ALIGNED_CROP_WORDS}): "
            "face mode 'aligned' masks each where an aligned crop's face would be; for whole "
            "photos use face mode 'auto' (--face-mode auto)",
            reader.path,
            width,
            height,
        )


def _with_assets_digest(plan: Plan, spec: MaskSpec, models_dir: str | Path | None) -> Plan:
    """``plan`` with the :func:`assets_digest` of the files the loaders read from the folders
    ``spec`` and ``models_dir`` name: the user's texture images (where textures are drawn),
    the templates' JSON and PNG files, and a models folder's landmark model (where one is
    named, by ``models_dir`` or ``$MASKGEN_MODELS_DIR``). Other files there change nothing
    and are not read."""
    from maskgen.faces.landmarks import MODELS_DIR_ENV, find_model_file
    from maskgen.masks.textures import user_texture_files

    whole = []
    if spec.texture_prob > 0:
        whole += [p for folder in spec.texture_dirs for p in user_texture_files(Path(folder))]
    if spec.templates_dir is not None:  # each <name>.json and the <name>.png beside it
        templates = Path(spec.templates_dir)
        whole += sorted(
            p for p in templates.iterdir() if p.suffix in (".json", ".png") and p.is_file()
        )
    by_size = []
    if models_dir is not None or os.environ.get(MODELS_DIR_ENV):
        by_size.append(find_model_file(models_dir=models_dir))
    return dataclasses.replace(plan, assets_digest=assets_digest(whole, by_size))


def _with_absolute_paths(masker: MaskerConfig) -> MaskerConfig:
    """``masker`` with its folders (textures, templates, models) absolute, for Dask workers,
    which run in their own working directories: a relative ``--textures my_fabrics/`` named
    another folder there, or none. The run's recorded plan keeps them as given."""
    spec = masker.spec
    spec = dataclasses.replace(
        spec,
        texture_dirs=tuple(Path(d).absolute() for d in spec.texture_dirs),
        templates_dir=None if spec.templates_dir is None else Path(spec.templates_dir).absolute(),
    )
    models_dir = None if masker.models_dir is None else str(Path(masker.models_dir).absolute())
    return dataclasses.replace(masker, spec=spec, models_dir=models_dir)


def merge_shards(
    output_dir: str | Path,
    progress: Callable[[int], None] | None = None,
    progress_total: Callable[[int], None] | None = None,
) -> RunReport:
    """Join the parts every shard left in ``output_dir`` into the finished twin, manifest and
    ``maskgen.json``. OutputError listing the shards not done yet, if any. ``progress_total``
    is called once with the number of parts, ``progress`` with 1 after each is joined (a bar's
    ``reset`` and ``update``)."""
    started = time.perf_counter()
    out_dir = Path(output_dir)
    if not out_dir.is_dir():  # the lock would make it
        raise OutputError(f"{out_dir}: no such folder, no parts to merge")
    # held from the start: an unsharded run still writing here is named as such, not taken
    # for an interrupted one ("finish the run with --resume", which it then refused)
    with output_lock(out_dir, advice="merge once it ends"):
        return _merge_shards(out_dir, started, progress, progress_total)


def _merge_shards(
    out_dir: Path,
    started: float,
    progress: Callable[[int], None] | None,
    progress_total: Callable[[int], None] | None,
) -> RunReport:
    layout = PartsLayout.in_output(out_dir)
    if not layout.plan_path.exists() and (out_dir / RUN_INFO_NAME).exists():
        raise OutputError(  # merged already, or a run that was never sharded
            f"{out_dir}: a finished twin, nothing to merge ({out_dir / RUN_INFO_NAME} exists)"
        )
    plan = layout.read_plan()
    _check_all_done(layout, plan)
    fmt = find_format(plan.input)
    reader = fmt.open_reader(Path(plan.input))
    if fmt.name != plan.format or len(reader) != plan.items:
        raise ConfigError(
            f"{plan.input}: changed since the shards ran ({fmt.name}, {len(reader)} items; "
            f"planned {plan.format}, {plan.items} items)"
        )
    if plan.input_digest not in (None, _input_digest(reader)):
        words = changed_input_words("input_digest", plan.format)
        raise ConfigError(f"{plan.input}: changed since the shards ran ({words})")
    job = _Job(fmt, reader, out_dir, fmt.output_path(reader, out_dir), plan)
    counts = _counts(job, range(len(plan.chunks)), {})
    if progress_total is not None:
        progress_total(len(plan.chunks))
    output = _join(job, counts, progress)
    seconds = time.perf_counter() - started
    return job.report(counts, output=output, seconds=seconds, merged_shards=plan.shards or 1)


def _check_all_done(layout: PartsLayout, plan: Plan) -> None:
    """OutputError naming the shards (or counting the chunks) not done yet."""
    count = plan.shards or 1
    missing = layout.missing_shards(count) if plan.shards else []
    running = {i: who for i in missing if (who := lock_holder(layout.root.parent, (i, count)))}
    not_started = [i for i in missing if i not in running]
    said = []
    if running:
        names = ", ".join(f"{i} ({who})" for i, who in running.items())
        said.append(f"{_shards(running)} {names} still running: merge once they end")
    if not_started:
        names = ", ".join(map(str, not_started))
        how = (
            f"run it with --shard {not_started[0]}/{count}"
            if len(not_started) == 1
            else f"run each with --shard I/{count}"
        )
        said.append(f"{_shards(not_started)} {names} not done: {how}")
    if said:
        raise OutputError(f"{layout.root.parent}: of {count} shards (0-based), {'; '.join(said)}")
    incomplete = [i for i in range(len(plan.chunks)) if not layout.is_complete(i)]
    if incomplete:
        raise OutputError(
            f"{layout.root.parent}: {len(incomplete)} chunks not complete (first: "
            f"{incomplete[0]}); finish the run with `maskgen augment ... --resume`"
        )


def _shards(indices: Sized) -> str:
    return "shards" if len(indices) > 1 else "shard"


# --- checks before anything is written ---------------------------------------------------------


def _check_options(
    workers: int | None,
    chunk_size: int | None,
    jpeg_quality: int,
    face_mode: str | None,
    resume: bool,
    overwrite: bool,
    shard: Shard | None,
) -> None:
    if workers is not None and workers < 1:
        raise ConfigError(f"workers: {workers}, expected at least 1")
    if chunk_size is not None and chunk_size < 1:
        raise ConfigError(f"chunk_size: {chunk_size}, expected at least 1")
    if not 1 <= jpeg_quality <= 100:
        raise ConfigError(f"jpeg_quality: {jpeg_quality}, expected 1..100")
    if face_mode is not None and face_mode not in FACE_MODES:
        raise ConfigError(f"face_mode: {face_mode!r}, expected one of {', '.join(FACE_MODES)}")
    if resume and overwrite:
        raise ConfigError(
            "resume=True and overwrite=True contradict each other; pick one",
            parameters=_RESUME_OR_OVERWRITE,
        )
    if overwrite and shard is not None:
        raise ConfigError(
            "overwrite=True with shard given would delete the other shards' parts; remove the "
            "output folder by hand, or use resume=True",
            parameters={**_RESUME_OR_OVERWRITE, "shard given": "shard"},
        )
    if shard is not None:
        check_shard(shard)


def _check_not_overlapping(input_path: Path, out_dir: Path, twin: Path) -> None:
    """The twin must not be, contain or sit inside the input."""
    source, target = input_path.resolve(), twin.resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: exists and is not a folder")
    if source == target:
        raise OutputError(
            f"{twin}: the output would overwrite the input; choose another output_dir",
            parameters={"another output_dir": "output_dir"},
        )
    if source.is_dir() and (target.is_relative_to(source) or source.is_relative_to(target)):
        raise OutputError(
            f"{out_dir}: output and input folder {input_path} overlap; choose an output_dir "
            "outside it",
            parameters={"an output_dir": "output_dir"},
        )


def _not_read(reader: Reader) -> dict[str, list[str]]:
    """What an input folder held that its reader did not read (:attr:`FolderReader.not_read`);
    nothing for the other formats, which read every record."""
    return reader.not_read if isinstance(reader, FolderReader) else {}


def _warn_if_a_twin(input_path: Path) -> None:
    """Warn where the input is a masked twin maskgen wrote (its ``maskgen.json`` says so): its
    faces would get a second mask over the first, without a word."""
    record = twin_record(input_path)
    if record is not None:
        logger.warning(
            "%s is a masked twin written by maskgen augment (its %s says so): masking it again "
            "puts a second mask over the first; its original is %s",
            input_path,
            RUN_INFO_NAME,
            record.get("input"),
        )


def _open_job(input_path: str | Path, output_dir: str | Path) -> _Job:
    """Open the input, check where its twin would go, and plan the run with what the input
    decides (format, size, default face mode and chunk size); the caller fills in the rest."""
    fmt = find_format(input_path)
    reader = fmt.open_reader(Path(input_path))
    _check_not_empty(reader)
    if isinstance(reader, RecordIOReader) and (unlisted := reader.describe_unlisted()):
        logger.warning("%s", unlisted)  # a .idx filtered by hand: read as it lists, but said
    out_dir = Path(output_dir)
    twin = fmt.output_path(reader, out_dir)
    _check_not_overlapping(reader.path, out_dir, twin)
    n_items = len(reader)
    plan = Plan(
        input=str(reader.path.resolve()),
        format=fmt.name,
        items=n_items,
        chunk_size=default_chunk_size(n_items),
        seed=0,
        face_mode="aligned" if fmt.aligned_by_default else "auto",
        mask_spec={},
        jpeg_quality=95,
        models_dir=None,
        shards=None,
        maskgen=__version__,
        split_tail=True,
        input_digest=_input_digest(reader),
    )
    return _Job(fmt, reader, out_dir, twin, plan)


def _input_digest(reader: Reader) -> str:
    """:func:`input_digest` of a folder's file names, or of a .rec's and its .idx's sizes
    (hashing millions of record keys would cost a second; the .idx's size follows them), or
    of a .bin's size."""
    if reader.path.is_dir():
        return input_digest(reader.keys())
    if isinstance(reader, RecordIOReader):
        return input_digest((), (reader.path, reader.idx_path))
    return input_digest((), (reader.path,))


def _check_not_empty(reader: Reader) -> None:
    """DatasetFormatError for an input without one image to mask (an empty .bin, a .rec with
    no records or only insightface's header and identity records): its twin would be an empty
    copy that looks finished. A folder without images is refused by its reader already."""
    if isinstance(reader, RecordIOReader):
        if not len(reader) and reader.path.stat().st_size:
            raise DatasetFormatError(
                f"{reader.idx_path}: lists no records of {reader.path}, which holds data; "
                f"rebuild it with `maskgen index --overwrite {reader.path}`"
            )
        if not len(reader.image_keys()):
            what = "no records" if not len(reader) else "no image records, only header records"
            raise DatasetFormatError(f"{reader.path}: {what} in it, nothing to mask")
    elif not len(reader):
        raise DatasetFormatError(f"{reader.path}: no images in it, nothing to mask")


def spec_to_json(spec: MaskSpec) -> dict[str, Any]:
    """A MaskSpec as JSON-able fields (tuples as lists, paths as strings)."""
    return dict(spec.to_json())


def _holds_output(out_dir: Path, twin: Path, *, twin_files: bool = True) -> list[Path]:
    """Files of a finished run already in ``out_dir`` (for a folder twin, which is ``out_dir``
    itself: any visible entry). ``twin_files`` False looks for the manifest and run record
    alone: a shard joining others' parts finds their folder twin's files written already."""
    found = [p for p in (out_dir / MANIFEST_NAME, out_dir / RUN_INFO_NAME) if p.exists()]
    if not twin_files:
        return found
    if twin.resolve() == out_dir.resolve():
        if out_dir.is_dir():
            found += [p for p in sorted(out_dir.iterdir()) if not p.name.startswith(".")][:1]
    elif twin.exists():
        found.append(twin)
    return found


def _prepare_output(job: _Job, resume: bool, overwrite: bool, shard: Shard | None) -> bool:
    """Check (or with ``overwrite`` clear) OUTDIR and record the plan there. True when this
    run started the parts folder (so a failure on bad input may remove it again)."""
    layout = job.layout
    if overwrite:
        _remove_previous(job)
    else:
        layout.check_matches(job.plan)
    if not (resume or overwrite):
        _check_fresh(job, shard)
    fresh = not layout.root.exists()
    layout.claim(job.plan)
    return fresh


def _check_fresh(job: _Job, shard: Shard | None) -> None:
    """Without --resume: no parts of an interrupted run (a shard may join other shards'
    parts, not its own), no finished output."""
    layout, out_dir = job.layout, job.out_dir
    if layout.root.exists() and shard is None:
        raise OutputError(
            f"{out_dir} holds parts of an interrupted run; add resume=True to finish it "
            "(or overwrite=True to start over)",
            parameters=_RESUME_OR_OVERWRITE,
        )
    joining = layout.root.exists() and shard is not None
    if joining:
        mine = shard_chunks(len(job.plan.chunks), shard)
        if layout.shard_marker(*shard).exists():  # nothing left to resume
            left = [i for i in layout.missing_shards(shard[1]) if i != shard[0]]
            names = ", ".join(map(str, left))
            then = {0: "every shard is done:", 1: f"shard {names} is not, and once it is,"}.get(
                len(left), f"shards {names} are not, and once they are,"
            )
            raise OutputError(
                f"{out_dir}: shard {shard[0]}/{shard[1]} is done already; {then} merge them "
                f"(maskgen merge {out_dir})"
            )
        if layout.has_any_part(mine):
            raise OutputError(
                f"{out_dir} already holds parts of shard {shard[0]}/{shard[1]}; add resume=True",
                parameters=_RESUME_OR_OVERWRITE,
            )
    previous = _holds_output(out_dir, job.twin, twin_files=not joining)
    folder_twin = job.twin.resolve() == out_dir.resolve()
    if previous and previous[0].name not in (MANIFEST_NAME, RUN_INFO_NAME) and folder_twin:
        # a folder twin's OUTDIR holding other files, the user's own: not "output"
        raise OutputError(
            f"{out_dir} is not empty ({previous[0].name}); a folder's twin is written into an "
            "empty folder: use another output_dir, or overwrite=True to write into it (files "
            "of the input's names are replaced, other files kept)",
            parameters=_ANOTHER_OUTPUT_OR_OVERWRITE,
        )
    if previous:
        raise OutputError(
            f"{out_dir} already holds output ({previous[0].name}); use another output_dir, "
            "or overwrite=True to replace it",
            parameters=_ANOTHER_OUTPUT_OR_OVERWRITE,
        )
    if not joining:
        _refuse_another_property(job)


def _refuse_another_property(job: _Job) -> None:
    """A .rec twin's folder gets the input's ``property`` (insightface's class count, which
    readers take for every .rec in that folder): one already there with other contents, another
    set's, was replaced without a word. Refused, as an output, unless --overwrite."""
    if job.fmt.name != "recordio":
        return
    theirs = job.out_dir / "property"
    if not theirs.is_file():
        return
    ours = Path(job.reader.path).parent / "property"
    if ours.is_file() and ours.read_bytes() == theirs.read_bytes():
        return
    raise OutputError(
        f"{theirs} exists (the class count of another .rec in that folder); write the twin to "
        "a folder of its own, or pass overwrite=True to replace it",
        parameters={"overwrite=True": "overwrite"},
    )


def _remove_previous(job: _Job) -> None:
    """--overwrite: remove this command's earlier outputs. A folder twin is never deleted
    wholesale (OUTDIR may hold the user's own files): the files an earlier folder-twin run's
    records list are (:func:`_earlier_twin_files`), so that none whose source has gone since
    stays behind; a file an interrupted chunk wrote before its record may."""
    if job.twin.resolve() == job.out_dir.resolve():
        _remove_twin_files(job.out_dir, _earlier_twin_files(job))
    if job.layout.root.exists():
        shutil.rmtree(job.layout.root)
    for path in (job.out_dir / MANIFEST_NAME, job.out_dir / RUN_INFO_NAME):
        path.unlink(missing_ok=True)
    if job.twin.is_file():
        job.twin.unlink()


def _earlier_twin_files(job: _Job) -> list[str]:
    """The keys (relative paths) of the images an earlier folder-twin run wrote into OUTDIR,
    as its records list them: a finished run's manifest, where its ``maskgen.json`` says it
    was a folder's twin written into OUTDIR itself, and an interrupted run's manifest parts,
    where its recorded plan says a folder. Records that are not such a run's, or that cannot
    be read, give none (and a warning where they cannot be read): --overwrite then writes over
    the twin's files without removing any."""
    manifests: list[Path] = []
    try:
        record = read_run_info(job.out_dir) if (job.out_dir / RUN_INFO_NAME).is_file() else {}
        if record.get("format") == FolderFormat.name and record.get("output") == ".":
            manifests.append(job.out_dir / MANIFEST_NAME)
        if job.layout.plan_path.is_file() and job.layout.read_plan().format == FolderFormat.name:
            manifests += sorted(job.layout.root.glob("chunk-*.jsonl"))
        return [key for manifest in manifests if manifest.is_file() for key in _keys_in(manifest)]
    except (MaskgenError, OSError, ValueError) as error:
        logger.warning("%s: the earlier run's files are not removed (%s)", job.out_dir, error)
        return []


def _keys_in(manifest: Path) -> Iterator[str]:
    """Each row's ``key`` (a relative path inside the folder); ValueError for a line that is
    not a row or a key that is not such a path."""
    with open(manifest, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            key = json.loads(line).get("key") if line.strip() else None
            if not isinstance(key, str):
                raise ValueError(f"{manifest.name} line {number} holds no file's key")
            yield safe_key(key, manifest)


def _remove_twin_files(out_dir: Path, keys: list[str]) -> None:
    """Remove each ``out_dir / key`` that is a file (a link is removed, never followed) and
    the folders that leaves empty; a folder resolved outside ``out_dir`` is left alone."""
    if not keys:
        return
    logger.info("removing the %d files of the earlier twin in %s", len(keys), out_dir)
    root = out_dir.resolve()
    inside: dict[Path, bool] = {}  # each folder resolved once, not each file's
    for key in keys:
        if is_reserved_name(key):  # the run's own files (its lock), never an input's copy
            continue
        path = out_dir / key
        folder = path.parent
        if folder not in inside:
            inside[folder] = folder.resolve().is_relative_to(root)
        if inside[folder] and (path.is_symlink() or path.is_file()):
            path.unlink(missing_ok=True)
    for folder in sorted(inside, key=lambda p: len(p.parts), reverse=True):
        while folder != out_dir and inside.get(folder, True):
            with contextlib.suppress(OSError):  # not empty: the user's files, or the twin's
                folder.rmdir()
            folder = folder.parent


def _discard(job: _Job) -> None:
    """Undo a fresh run that failed on bad input: remove its parts (and OUTDIR if that leaves
    it empty), so the next attempt starts clean. A folder twin whose chunks already wrote
    files in OUTDIR keeps its parts instead, so ``--resume`` (or ``--overwrite``) can finish it."""
    if _holds_output(job.out_dir, job.twin):
        return
    shutil.rmtree(job.layout.root, ignore_errors=True)
    if job.out_dir.is_dir() and all(is_lock_file(p) for p in job.out_dir.iterdir()):
        shutil.rmtree(job.out_dir, ignore_errors=True)  # the lock's file goes with it


def _already_complete(job: _Job) -> RunReport:
    """--resume on a finished run: nothing to do if it was made with the same parameters from
    the same input (its number of items, and a folder's file names or a file's size where the
    record holds their digest: records written before maskgen kept it are not checked for
    them)."""
    record = read_run_info(job.out_dir)
    counts = counts_from_run_info(record)
    _refuse_changed_input(job, record, counts)
    expected = run_info(job.plan, counts, job.twin, job.out_dir, _not_read(job.reader))
    for digest in ("input_digest", "assets_digest"):  # records made before maskgen kept them
        if digest not in record:
            expected.pop(digest, None)
    if json.dumps(record, sort_keys=True) != json.dumps(expected, sort_keys=True):
        differences = "; ".join(_record_differences(record, expected)) or "its record differs"
        raise ConfigError(
            f"{job.out_dir / RUN_INFO_NAME}: the finished run there used other parameters "
            f"({differences}); use another output_dir, or overwrite=True",
            parameters=_ANOTHER_OUTPUT_OR_OVERWRITE,
        )
    return job.report(counts, output=job.twin, already_complete=True)


def _refuse_changed_input(job: _Job, record: dict[str, Any], counts: Counts) -> None:
    """ConfigError where the input is not the one the finished run in OUTDIR masked: its twin
    would be out of date while --resume said it was done."""
    changed = []
    if counts.items != job.plan.items:
        changed.append(f"{counts.items} items then, {job.plan.items} now")
    if record.get("input_digest") not in (None, job.plan.input_digest):
        changed.append(changed_input_words("input_digest", job.plan.format) or "")
    if None not in (record.get("assets_digest"), job.plan.assets_digest) and (
        record["assets_digest"] != job.plan.assets_digest
    ):
        changed.append("the files in its --textures, --templates or --models-dir folders")
    if changed:
        raise ConfigError(
            f"{job.plan.input}: changed since the finished run in {job.out_dir} masked it "
            f"({'; '.join(changed)}); use another output_dir, or overwrite=True",
            parameters=_ANOTHER_OUTPUT_OR_OVERWRITE,
        )


def _record_differences(there: dict, now: dict, prefix: str = "") -> list[str]:
    """``"parameters.seed: 0 there, 1 now"`` for each field of two ``maskgen.json`` records
    that differs (``parameters`` and its ``mask_spec`` field by field): --resume on a finished
    run said only "used other parameters", where an interrupted run's names the field."""
    found = []
    for name in dict.fromkeys([*there, *now]):
        then, current = there.get(name), now.get(name)
        if json.dumps(then, sort_keys=True) == json.dumps(current, sort_keys=True):
            continue
        nested = isinstance(then, dict) and isinstance(current, dict)
        if nested and name in ("parameters", "mask_spec"):
            found += _record_differences(then, current, f"{prefix}{name}.")
        else:
            found.append(f"{prefix}{name}: {_shown(then)} there, {_shown(current)} now")
    return found


def _shown(value: Any) -> str:
    """A recorded value as the message shows it: null (a field left at its default) as
    ``default``, as an interrupted run's refusal reads."""
    return "default" if value is None else repr(value)


# --- masking and joining -------------------------------------------------------------------------


def _mask_pending(
    job: _Job, masker: MaskerConfig, chunks: range, options: _RunOptions
) -> dict[int, ChunkSummary]:
    """Mask every chunk in ``chunks`` that is not complete yet; their summaries by index."""
    ranges = job.plan.chunks
    pending = [i for i in chunks if not job.layout.is_complete(i)]
    if len(pending) < len(chunks):
        done = len(chunks) - len(pending)
        logger.info("resuming: %d of %d chunks already done", done, len(chunks))
    jobs = _chunk_jobs(job, masker, pending)
    summaries: dict[int, ChunkSummary] = {}
    n_items = sum(len(ranges[i]) for i in pending)
    compiles = functools.partial(_compiles_kernels, len(pending), n_items, options)
    with progress_bar(n_items, options.progress, compiles) as bar:
        for summary in _run(jobs, len(pending), n_items, options, masker):
            if not summaries:
                bar.set_description_str("")  # compiled, if it was
            summaries[summary.index] = summary
            bar.update(summary.counts.items)
            logger.debug("chunk %d: %s in %.2f s", summary.index, summary.counts, summary.seconds)
    return summaries


def _compiles_kernels(n_jobs: int, n_items: int, options: _RunOptions) -> bool:
    """Whether this run's forked workers compile numba's kernels before their first chunk (a
    first run on this machine, long enough to load numba: :mod:`maskgen.compiled`)."""
    workers = options.workers or default_workers()
    if options.scheduler is not None or not loads_numba_before_forking(workers, n_jobs, n_items):
        return False
    from maskgen.masks.warp import kernels_compiled_here  # here: merge does without masks

    return not kernels_compiled_here()


def _run(
    jobs: Iterator[ChunkJob], n_jobs: int, n_items: int, options: _RunOptions, masker: MaskerConfig
) -> Iterator[ChunkSummary]:
    if options.scheduler is not None:
        from maskgen.pipeline.dask import run_jobs_on_dask

        return run_jobs_on_dask(jobs, n_jobs, options.scheduler)
    workers = options.workers or default_workers()
    return run_jobs(jobs, n_jobs, workers=workers, preload=masker, n_items=n_items)


def _chunk_jobs(job: _Job, masker: MaskerConfig, chunks: list[int]) -> Iterator[ChunkJob]:
    """Jobs made as the pool asks for them (only a few chunks' keys exist at once), each with
    a reader of just its keys where the input's reader can cut one."""
    plan, layout, reader = job.plan, job.layout, job.reader
    keys = reader.keys()
    stamp = input_stamp(Path(plan.input))
    ranges = plan.chunks
    for i in chunks:
        chunk_keys = keys[ranges[i].start : ranges[i].stop]
        yield ChunkJob(
            index=i,
            keys=chunk_keys,
            input_path=plan.input,
            format_name=plan.format,
            input_stamp=stamp,
            data_part=layout.data_part(i),
            manifest_part=layout.manifest_part(i),
            masker=masker,
            seed=plan.seed,
            jpeg_quality=plan.jpeg_quality,
            reader=reader.subset(chunk_keys) if isinstance(reader, SplittableReader) else None,
            output_dir=job.out_dir if isinstance(job.fmt, FolderFormat) else None,
        )


def _counts(job: _Job, chunks: range, summaries: dict[int, ChunkSummary]) -> Counts:
    """Counts over ``chunks``: from this call's summaries, else from the manifest parts."""
    ranges, layout = job.plan.chunks, job.layout
    return total(
        summaries[i].counts
        if i in summaries
        else count_part(layout.manifest_part(i), len(ranges[i]))
        for i in chunks
    )


def _join(job: _Job, counts: Counts, progress: Callable[[int], None] | None = None) -> Path:
    """Parts -> twin, manifest, ``maskgen.json`` (written last: it says the run finished);
    then the parts folder goes. ``progress``: 1 after each part joined."""
    chunks = range(len(job.plan.chunks))
    layout = job.layout
    parts = [layout.data_part(i) for i in chunks]
    output = job.fmt.join_parts(job.reader, parts, job.out_dir, progress)
    join_manifest_parts([layout.manifest_part(i) for i in chunks], job.out_dir)
    # a plan recorded before maskgen kept the input's digest: the input it finished on
    digest = job.plan.input_digest or _input_digest(job.reader)
    plan = dataclasses.replace(job.plan, input_digest=digest)
    write_run_info(job.out_dir, plan, counts, output, _not_read(job.reader))
    shutil.rmtree(layout.root)
    return output
