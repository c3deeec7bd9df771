"""The per-item step and the per-chunk task that workers run.

``mask_sample`` turns one input Sample into its twin and a manifest row; ``mask_chunk`` runs it
over one chunk of keys, writing a data part and a manifest part. Each item's random draw comes
from ``item_rng(seed, key)`` only, so the output never depends on workers, order or chunks.
A worker process builds the Masker once and reuses it for every chunk. Where the input's reader
can cut a reader of one chunk's keys (:class:`SplittableReader`: RecordIO), that small reader
travels with the job, so a worker's memory does not grow with the dataset; otherwise the worker
opens the input itself, once per process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, get_args, runtime_checkable

import cv2
import numpy as np

from maskgen.errors import ConfigError, DatasetFormatError
from maskgen.formats.base import Format, Reader, find_format
from maskgen.formats.folder import FolderFormat
from maskgen.images import (
    StoredImage,
    can_write,
    converted_mode_change,
    describe_layout,
    encode_stored,
    format_of_name,
    is_apple_double,
    read_stored,
    restore_layout,
    sniff_image_format,
)
from maskgen.pipeline.jpeg2000_match import encode_like_source_jpeg2000
from maskgen.pipeline.jpeg_match import encode_like_source, read_source_jpeg
from maskgen.pipeline.lock import is_lock_file
from maskgen.pipeline.manifest import MANIFEST_NAME, write_manifest_part
from maskgen.pipeline.report import RUN_INFO_NAME, Counts
from maskgen.pipeline.webp_match import encode_like_source_webp
from maskgen.seeding import item_rng
from maskgen.types import ItemResult, Key, Sample

if TYPE_CHECKING:
    from maskgen.masks import MaskSpec

logger = logging.getLogger(__name__)

BATCH_BYTES = 1 << 20
"""Encoded bytes of images a worker decodes into one masking batch at most (beside the
masker's ``batch_size``): 32 LFW-sized photos (~20 KB each) fit, a camera photo (2-5 MB) ends
its batch at once, so the pixels a batch holds stay within tens of MB whatever the photos."""


class ImageMasker(Protocol):
    """What the step needs from :class:`maskgen.masks.Masker`."""

    batch_size: int
    """How many images one ``mask_images`` call should get at most (also bounded by
    :data:`BATCH_BYTES`)."""

    def mask_images(
        self, images: Sequence[np.ndarray], rngs: Sequence[np.random.Generator]
    ) -> list[Any]:
        """One MaskOutcome per (image, rng): ``image`` (H, W, 3) uint8 RGB, ``applied``
        (main face first), ``skipped`` (faces left unmasked, each with ``to_json()``),
        ``reason`` (why not masked) and ``masked``."""
        ...


def mask_label(
    label: np.ndarray | None, masked: bool, wear_class: int | None = None
) -> np.ndarray | None:
    """RecordIO label ``[identity, 1.0 if masked else 0.0]`` float32, or with ``wear_class``
    (0 no mask, 1 correct, 2-4 the wrong placements: ``maskgen.masks.WEAR_CLASSES``)
    ``[identity, masked, wear_class]``. None stays None.

    Element 0 stays the identity, so arcface_torch's loader (reading ``label[0]``) still works,
    element 1 the mask state, so a trainer knows each image's true mask state either way."""
    if label is None:
        return None
    identity = np.asarray(label, dtype=np.float32).reshape(-1)[0]
    flag = 1.0 if masked else 0.0
    values = [identity, flag] if wear_class is None else [identity, flag, float(wear_class)]
    return np.array(values, dtype=np.float32)


def mask_sample(
    sample: Sample,
    masker: ImageMasker,
    *,
    seed: int,
    jpeg_quality: int,
    wear_labels: bool = False,
    stored: StoredImage | None = None,
) -> tuple[Sample, ItemResult | None]:
    """The twin of one item and its manifest row.

    A labelled item's twin label is :func:`mask_label`'s, with the main face's wear class
    where ``wear_labels`` (a run given placements other than the default).

    Non-image records (RecordIO header/identity records) pass through untouched with no row.
    Items not masked (no face, undecodable, not an image at all, an animation, ...) keep their
    bytes exactly, with the reason in the row. Masked images are re-encoded in their original
    format and layout: alpha, grey and 16 bits kept (see :func:`maskgen.images.restore_layout`),
    or the change stated in the row's ``format_change`` where the format cannot hold it.

    ``stored``: the sample's image as :func:`maskgen.images.read_stored` gave it, where the
    caller has decoded it already (decoding again repeats libjpeg's warnings on stderr for a
    damaged JPEG).
    """
    (twin,) = mask_samples(
        [sample],
        masker,
        seed=seed,
        jpeg_quality=jpeg_quality,
        wear_labels=wear_labels,
        stored=[stored],
    )
    return twin


def mask_samples(
    samples: Sequence[Sample],
    masker: ImageMasker,
    *,
    seed: int,
    jpeg_quality: int,
    wear_labels: bool = False,
    stored: Sequence[StoredImage | None] | None = None,
) -> list[tuple[Sample, ItemResult | None]]:
    """:func:`mask_sample` for each sample, the same twins and rows, with the faces of all
    their images found in one masker call (a batch of aligned crops is fitted at once). Each
    image still draws from its own ``item_rng(seed, key)`` only. ``stored``, where given, holds
    each sample's image decoded already (None: decode it here)."""
    given = [None] * len(samples) if stored is None else list(stored)
    decoded = [
        _decode(sample, wear_labels, image) for sample, image in zip(samples, given, strict=True)
    ]
    images = [item for item in decoded if isinstance(item, _Decoded)]
    rngs = [item_rng(seed, item.sample.key) for item in images]
    outcomes = iter(masker.mask_images([item.rgb for item in images], rngs))
    return [
        _twin(item, next(outcomes), jpeg_quality, wear_labels)
        if isinstance(item, _Decoded)
        else item
        for item in decoded
    ]


@dataclass(frozen=True)
class _Decoded:
    """A sample whose image is to be masked, with its decoded pixels and layout."""

    sample: Sample
    stored: StoredImage

    @property
    def rgb(self) -> np.ndarray:
        return self.stored.rgb


def _decode(
    sample: Sample, wear_labels: bool, stored: StoredImage | None = None
) -> _Decoded | tuple[Sample, ItemResult | None]:
    """The sample's image to mask (``stored``: decoded already), or its twin and row where
    there is none to mask."""
    if not sample.is_image:
        return sample, None
    if stored is None:
        stored = read_stored(sample.data, sample.name, cut_short=True)
    if stored is None:
        return _unchanged(sample, undecoded_reason(sample), wear_labels)
    reason = left_unmasked(stored)
    if reason is not None:
        return _unchanged(sample, reason, wear_labels, decoder_warning=stored.decoder_said)
    return _Decoded(sample, stored)


def left_unmasked(stored: StoredImage) -> str | None:
    """Why a decoded image is copied unchanged before any face is looked for (the manifest's
    reason): ``multi_frame`` (an animation or multi-page file, whose other frames a twin
    would lose) or ``unsupported_format`` (a layout or format maskgen cannot write back);
    None for one to mask."""
    if stored.multi_frame:
        return "multi_frame"
    if stored.format is None or not stored.maskable or not can_write(stored.format):
        return "unsupported_format"
    return None


def _twin(
    decoded: _Decoded, outcome: Any, jpeg_quality: int, wear_labels: bool
) -> tuple[Sample, ItemResult]:
    sample, stored = decoded.sample, decoded.stored
    not_masked = tuple(face.to_json() for face in getattr(outcome, "skipped", ()))
    if not outcome.masked:
        reason = outcome.reason or "not_masked"
        return _unchanged(sample, reason, wear_labels, not_masked, stored.decoder_said)
    pixels = restore_layout(stored, outcome.image)
    data, change = _encode_twin_image(pixels, stored, sample, jpeg_quality)
    largest = outcome.applied[0].params
    result = ItemResult(
        key=sample.key,
        masked=True,
        mask_type=largest.mask_type,
        color=largest.color,
        texture=largest.texture,
        wear=largest.wear,
        faces=len(outcome.applied),
        face_masks=tuple(applied.to_json() for applied in outcome.applied),
        format_change=change,
        faces_not_masked=not_masked,
        decoder_warning=stored.decoder_said,
    )
    wear_class = _wear_class(largest.wear) if wear_labels else None
    label = mask_label(sample.label, True, wear_class)
    return dataclasses.replace(sample, data=data, label=label), result


_LOSSY_MATCHES = {"webp": encode_like_source_webp, "jpeg2000": encode_like_source_jpeg2000}
"""Formats OpenCV writes losslessly by default, each with its encoder that writes a lossy
source's twin lossy again (None back: the usual encoder)."""


def _encode_twin_image(
    pixels: np.ndarray, stored: StoredImage, sample: Sample, jpeg_quality: int
) -> tuple[bytes, str | None]:
    """The masked image's bytes: a JPEG source's own quantisation tables and subsampling
    (``maskgen.pipeline.jpeg_match``), so the twin's compression matches its original's;
    ``jpeg_quality`` only where those cannot be read or written; a lossy WebP lossy again at
    about its source's quality (``maskgen.pipeline.webp_match``), a lossy JPEG 2000 at its
    source's ratio (``maskgen.pipeline.jpeg2000_match``); other formats as they came."""
    image_format = stored.format
    match = _LOSSY_MATCHES.get(image_format)
    if match is not None:
        data = match(pixels, stored.pixels, sample.data)
        if data is not None:
            return data, None
    if image_format == "jpeg":
        source = read_source_jpeg(sample.data)
        data = encode_like_source(pixels, source) if source is not None else None
        if data is not None:
            return data, None
    data, change = encode_stored(pixels, image_format, jpeg_quality, sample.key)
    return data, converted_mode_change(sample.data, data, change, describe_layout(pixels))


def undecoded_reason(sample: Sample) -> str:
    """Why bytes did not decode: ``apple_double`` (macOS metadata named like its photo),
    ``unreadable`` (a damaged image: its name, signature or format says image) or
    ``not_an_image`` (a folder's other files: text, sidecars, ...)."""
    if is_apple_double(sample.data):
        return "apple_double"
    named_image = sample.name is None or format_of_name(sample.name) is not None
    if named_image or sniff_image_format(sample.data) is not None:
        return "unreadable"
    return "not_an_image"


def _unchanged(
    sample: Sample,
    reason: str,
    wear_labels: bool,
    faces_not_masked: tuple[dict[str, Any], ...] = (),
    decoder_warning: str | None = None,
) -> tuple[Sample, ItemResult]:
    label = mask_label(sample.label, False, 0 if wear_labels else None)
    twin = dataclasses.replace(sample, label=label)
    result = ItemResult(
        key=sample.key,
        masked=False,
        reason=reason,
        faces_not_masked=faces_not_masked,
        decoder_warning=decoder_warning,
    )
    return twin, result


def _wear_class(wear: str) -> int:
    """``wear``'s index in WEAR_CLASSES (imported here: the masks package loads dlib)."""
    from maskgen.masks.wear import wear_class

    return wear_class(wear)


RESERVED_NAMES: frozenset[str] = frozenset({MANIFEST_NAME, RUN_INFO_NAME})
"""File names a run writes at the top of OUTDIR: an input file of the same name and place
(a folder that was itself a twin) is listed with reason ``reserved_name`` and not copied; so
is one named as the run's lock files (:func:`maskgen.pipeline.lock.is_lock_file`), which a
folder twin's copy would replace while the run holds it."""


def is_reserved_name(name: str | None) -> bool:
    """Whether an input file named ``name`` (its path inside the folder) would land on a file
    the run itself keeps at the top of OUTDIR."""
    if name is None or "/" in name:
        return False
    return name in RESERVED_NAMES or is_lock_file(Path(name))


# --- per-process caches and the chunk task -----------------------------------------------------


@dataclass(frozen=True)
class MaskerConfig:
    """How to build a Masker; hashable, so each process builds one per config and reuses it."""

    spec: MaskSpec
    face_mode: str
    models_dir: str | None = None


@functools.lru_cache(maxsize=2)
def load_masker(config: MaskerConfig) -> ImageMasker:
    """The process's Masker for ``config`` (models and templates load once per process).

    Also limits OpenCV to one thread: the pipeline runs one worker process per core, and
    OpenCV's own thread pool would only make them contend."""
    from maskgen.masks import Masker

    cv2.setNumThreads(1)
    return Masker(config.spec, face_mode=config.face_mode, models_dir=config.models_dir)


def prepare_masker(config: MaskerConfig) -> ImageMasker:
    """:func:`load_masker`, with what it runs on loaded now: the detector, and the compiled
    kernels where this process uses them (:mod:`maskgen.compiled`), even when its Masker was
    built before they were wanted (a small run first, in numpy). Called before forking
    workers, so that they inherit all of it instead of each loading it."""
    from maskgen.faces import load_face_finder
    from maskgen.masks.render import prepare_render

    masker = load_masker(config)
    load_face_finder(config.models_dir).prepare(config.face_mode)  # type: ignore[arg-type]
    prepare_render()
    return masker


def check_masker(config: MaskerConfig) -> None:
    """Fail before anything is written if a worker could not build the Masker (unknown mask
    type, bad probability or face mode, missing model file, bad templates or textures), without
    loading dlib's models here: the workers load them, and the parent would pay twice."""
    from maskgen.faces import FaceMode, find_model_file
    from maskgen.masks import load_templates, load_textures

    if config.face_mode not in get_args(FaceMode):
        raise ConfigError(f"face_mode must be one of {', '.join(get_args(FaceMode))}")
    config.spec.validate(load_templates(config.spec.templates_dir))
    if config.spec.texture_prob > 0:
        load_textures(config.spec.texture_dirs)
    find_model_file(models_dir=config.models_dir)


@runtime_checkable
class SplittableReader(Reader, Protocol):
    """A reader that can cut a reader of a few of its keys: small to pickle, and holding memory
    in proportion to those keys, not to the dataset (``RecordIOReader``: the chunk's offsets)."""

    def subset(self, keys: Sequence[Key]) -> SplittableReader: ...

    def close(self) -> None:
        """Release the file handle the chunk opened."""
        ...


def _input_format(path: str, format_name: str) -> Format:
    """The input's format, checked against the plan's (cheap: a stat and the suffix)."""
    fmt = find_format(path)
    if fmt.name != format_name:
        raise DatasetFormatError(f"{path}: now reads as {fmt.name}, planned as {format_name}")
    return fmt


@functools.lru_cache(maxsize=2)
def _open_input(path: str, format_name: str, stamp: tuple[int, int]) -> Reader:
    """The process's reader of the whole input, for jobs that carry no reader of their own
    (``stamp`` changes when the input file does)."""
    return _input_format(path, format_name).open_reader(Path(path))


@dataclass(frozen=True)
class ChunkJob:
    """One unit of work: ``keys`` of the input, masked into the parts at ``data_part`` and
    ``manifest_part``. Small and picklable whatever the dataset size: ``keys`` is a range or
    a short slice, and ``reader`` is either a reader of just ``keys`` (see
    :class:`SplittableReader`) or None, when the worker opens the input itself, once per
    process. Either way the input must be readable at ``input_path`` where the job runs."""

    index: int
    keys: Sequence[Key]
    input_path: str
    format_name: str
    input_stamp: tuple[int, int]
    data_part: Path
    manifest_part: Path
    masker: MaskerConfig
    seed: int
    jpeg_quality: int
    reader: SplittableReader | None = None
    output_dir: Path | None = None
    """A folder twin's root, where the job writes its files in place (each one atomically;
    the manifest part still marks the chunk complete): no staging, no moves when joining.
    None for formats whose parts are files of their own."""


@dataclass(frozen=True)
class ChunkSummary:
    index: int
    counts: Counts
    seconds: float


def mask_chunk(job: ChunkJob) -> ChunkSummary:
    """Mask one chunk: the data part first, then the manifest part that marks it complete."""
    started = time.perf_counter()
    fmt = _input_format(job.input_path, job.format_name)
    masker = load_masker(job.masker)
    with _chunk_reader(job) as reader:
        results = _mask_keys(job, fmt, reader, masker)
    write_manifest_part(job.manifest_part, results)
    counts = Counts.of_results(len(job.keys), results)
    return ChunkSummary(job.index, counts, time.perf_counter() - started)


@contextlib.contextmanager
def _chunk_reader(job: ChunkJob) -> Iterator[Reader]:
    """The job's own reader, closed after the chunk; else the process's reader of the input."""
    if job.reader is None:
        yield _open_input(job.input_path, job.format_name, job.input_stamp)
        return
    try:
        yield job.reader
    finally:
        job.reader.close()


def _part_writer(job: ChunkJob, fmt: Format, reader: Reader) -> Any:
    """The format's writer of the job's data part; a folder's writes in place where the job
    names the twin's root."""
    if job.output_dir is not None and isinstance(fmt, FolderFormat):
        return fmt.open_part_writer(reader, job.data_part, out_dir=job.output_dir)
    return fmt.open_part_writer(reader, job.data_part)


def _mask_keys(job: ChunkJob, fmt: Format, reader: Reader, masker: ImageMasker) -> list[ItemResult]:
    """Write the twin of every key of ``job`` into its data part; the manifest rows."""
    results: list[ItemResult] = []
    batch = max(1, masker.batch_size)
    with _part_writer(job, fmt, reader) as writer:

        def flush(samples: list[Sample]) -> None:
            for twin, result in mask_samples(
                samples,
                masker,
                seed=job.seed,
                jpeg_quality=job.jpeg_quality,
                wear_labels=job.masker.spec.wear_given,
            ):
                writer.write(twin)
                if result is not None:
                    results.append(result)
                    if result.skipped:
                        logger.info("%s: %s, copied unchanged", result.key, result.reason)
            samples.clear()

        pending: list[Sample] = []
        pending_bytes = 0
        for key in job.keys:
            sample = reader.read(key)
            if is_reserved_name(sample.name):
                flush(pending)  # rows stay in key order
                results.append(ItemResult(key=sample.key, masked=False, reason="reserved_name"))
                logger.info("%s: not copied (OUTDIR/%s is the run's own)", key, sample.name)
                continue
            pending.append(sample)
            pending_bytes += len(sample.data)
            if len(pending) == batch or pending_bytes >= BATCH_BYTES:
                flush(pending)
                pending_bytes = 0
        flush(pending)
    return results
