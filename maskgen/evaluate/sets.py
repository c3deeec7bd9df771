"""Evaluate one model on verification ``.bin`` sets and RecordIO sets: the library behind
``maskgen eval``.

- ``bin``: insightface verification set of unmasked faces: 10-fold verification accuracy, TAR at
  FAR, and mask-usage accuracy with every face expected unmasked.
- ``masked-bin``: the same for a masked twin: every face expected masked, except, where the
  ``.bin`` it is the twin of is known (``EvalSet.original``; :func:`evaluate_model` finds it
  among the ``bin`` sets), those whose bytes equal the original's: ``maskgen augment`` stores a
  face it could not mask (occluded, too turned) as it was, and training's validation counts
  such a copy unmasked too.
- ``rec``: a RecordIO set whose label element 1 says whether the face is masked (the twin
  convention, ``[identity, mask flag]``): mask-usage accuracy only (no pairs). For a wear-class
  model on a set whose labels all carry element 2 (a twin written with ``maskgen augment
  --wear``: ``[identity, masked, wear class]``), also the wear-class accuracy, per class and
  overall, and the 5x5 confusion matrix (an unmasked record is class 0).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from maskgen.errors import ConfigError, DatasetFormatError
from maskgen.evaluate.photos import require_file
from maskgen.evaluate.report import EvalReport, SetResult
from maskgen.masks.wear import WEAR_CLASSES
from maskgen.nn.embedder import Embedder
from maskgen.nn.mask_usage import mask_accuracy, wear_class_accuracy, wear_confusion
from maskgen.nn.verification import N_FOLDS, check_enough_pairs, evaluate_verification
from maskgen.pipeline.report import Counts, counts_from_run_info, twin_record

__all__ = ["SET_KINDS", "EvalSet", "Progress", "SetKind", "evaluate_model", "evaluate_set"]

logger = logging.getLogger(__name__)

SetKind = Literal["bin", "masked-bin", "rec"]

Progress = Callable[[str, int, int], None]
"""``progress(set name, images just done, images in the set)``."""

MASK_LABEL_INDEX = 1
WEAR_LABEL_INDEX = 2


SET_KINDS: tuple[SetKind, ...] = ("bin", "masked-bin", "rec")


@dataclass(frozen=True)
class EvalSet:
    """One set to evaluate: ``path`` exactly as given (it names the set in reports; a
    ``Path`` is kept as its string) and ``kind``, one of SET_KINDS (see the module docstring).

    ConfigError (a ValueError) for another kind: ``EvalSet(path, "masked")`` was evaluated
    as ``"bin"``, its mask-usage accuracy counted against unmasked faces without a word."""

    path: str
    kind: SetKind
    original: str | None = None
    """For a ``masked-bin``, the ``.bin`` it is the twin of (see the module docstring)."""

    def __post_init__(self) -> None:
        if self.kind not in SET_KINDS:
            raise ConfigError(
                f"{self.path}: set kind {self.kind!r} is not one of {', '.join(SET_KINDS)}"
            )
        if self.original is not None and self.kind != "masked-bin":
            raise ConfigError(f"{self.path}: only a masked-bin set has an original")
        if not isinstance(self.path, str):  # a Path named the set as a key json cannot write
            object.__setattr__(self, "path", os.fspath(self.path))
        if self.original is not None and not isinstance(self.original, str):
            object.__setattr__(self, "original", os.fspath(self.original))


def evaluate_model(
    embedder: Embedder, sets: Sequence[EvalSet], *, progress: Progress | None = None
) -> EvalReport:
    """Every set's figures for one model. Each set is checked (its path, its format, a
    RecordIO set's first label) before any inference starts, so a mistyped or wrong last set
    fails at once rather than after the first sets' work. ConfigError where nothing can be
    measured: RecordIO sets only, for a model without a mask head."""
    for eval_set in sets:
        _check_set(eval_set, mask_head=embedder.info.mask_head)
    if sets and not embedder.info.mask_head and all(s.kind == "rec" for s in sets):
        # a table of "n/a" rows, exit 0, for an arcface_torch backbone.pth on --rec sets
        raise ConfigError(
            f"{embedder.info.path}: no mask head, and a RecordIO set (--rec) gives mask-usage "
            "accuracy only: nothing to evaluate (a .bin gives verification accuracy)"
        )
    if embedder.info.mask_head:  # without one there is no mask-usage accuracy to mislead
        warn_twins_given_as_bins(sets)
    sets = with_twin_originals(sets)
    results = tuple(evaluate_set(embedder, s, progress=progress) for s in sets)
    return EvalReport(results=results, model=embedder.info.to_json())


def with_twin_originals(sets: Sequence[EvalSet]) -> list[EvalSet]:
    """``sets``, each ``masked-bin`` without an ``original`` given the ``.bin`` it is the twin
    of: of the candidates whose pairs it repeats (as many images, the same same/different
    list, as ``maskgen augment`` keeps them), the one it shares the most images with byte for
    byte (its copies of faces augment could not mask; LFW, AgeDB-30, CALFW and CPLFW all hold
    12,000 images, so pairs alone may match several). The candidates are the ``bin`` sets and
    the input named by the run record ``maskgen augment`` wrote beside the twin
    (``maskgen.json``), where that file is still there: so ``--masked-bin`` alone finds its
    original too. None where none shares an image (every image is then expected masked, which
    is what an original would give); a warning where the run record says faces were left
    unmasked and their original cannot be found. Reads each ``.bin`` once."""
    from maskgen.formats.verification import read_verification_bin

    read: dict[str, tuple[list[bytes], np.ndarray]] = {}

    def contents(path: str) -> tuple[list[bytes], np.ndarray]:
        if path not in read:
            read[path] = read_verification_bin(path)
        return read[path]

    bins = [s.path for s in sets if s.kind == "bin"]
    out = []
    for eval_set in sets:
        if eval_set.kind == "masked-bin" and eval_set.original is None:
            record = twin_record(Path(eval_set.path))
            source = record.get("input") if record else None
            named = [source] if isinstance(source, str) and _readable_bin(source, contents) else []
            candidates = _distinct_files([*bins, *named])
            best = _most_shared(eval_set.path, candidates, contents) if candidates else None
            if best is not None:
                eval_set = dataclasses.replace(eval_set, original=best)
            elif record is not None and (left := _left_unmasked(record)):
                where = "is not there" if not named else "holds other pairs or images now"
                logger.warning(
                    "%s: its run record says %d image(s) were left unmasked, but the .bin it "
                    "is the twin of (%s) %s: they count as should-be-masked; give the original "
                    "with --bin",
                    eval_set.path,
                    left,
                    source or "not named",
                    where,
                )
        out.append(eval_set)
    return out


def warn_twins_given_as_bins(sets: Sequence[EvalSet]) -> None:
    """A warning for each ``bin`` set that is a masked twin ``maskgen augment`` wrote (its run
    record, ``maskgen.json``, is beside it): a ``bin``'s faces are all expected unmasked, so
    its mask-usage accuracy would count every masked face as a miss without a word. None
    where the record counts no masked image."""
    for eval_set in sets:
        if eval_set.kind != "bin":
            continue
        record = twin_record(Path(eval_set.path))
        if record is None:
            continue
        counts = _record_counts(record)
        masked = None if counts is None else counts.masked
        if masked == 0:  # every face left as it was: an unmasked set after all
            continue
        logger.warning(
            "%s: a masked twin (maskgen augment wrote it from %s%s), given as an unmasked "
            "set: its mask-usage accuracy counts every masked face as a miss; give it with "
            "--masked-bin",
            eval_set.path,
            record.get("input") or "an input not named",
            f"; {masked} image(s) masked" if masked is not None else "",
        )


def _distinct_files(paths: Sequence[str]) -> list[str]:
    """``paths`` without a second name of a file already listed (one file read once)."""
    seen: set[Path] = set()
    kept = []
    for path in paths:
        real = Path(path).resolve()
        if real not in seen:
            seen.add(real)
            kept.append(path)
    return kept


def _most_shared(
    twin: str,
    candidates: Sequence[str],
    contents: Callable[[str], tuple[list[bytes], np.ndarray]],
) -> str | None:
    """Of the ``candidates`` whose pairs ``twin`` repeats, the one sharing the most images
    with it byte for byte; None where none shares any."""
    images, issame = contents(twin)
    shared = {
        path: int((~_masked_images(images, contents(path)[0])).sum())
        for path in candidates
        if list(contents(path)[1]) == list(issame)
    }
    best = max(shared, key=shared.__getitem__, default=None)
    return best if best is not None and shared[best] > 0 else None


def _readable_bin(path: str, contents: Callable[[str], object]) -> bool:
    """Whether ``path`` is a verification ``.bin`` ``contents`` reads (and keeps)."""
    try:
        contents(path)
    except (OSError, DatasetFormatError):
        return False
    return True


def _record_counts(record: dict[str, Any]) -> Counts | None:
    """A run record's counts; None for a damaged record."""
    try:
        return counts_from_run_info(record)
    except (KeyError, TypeError, ValueError):
        return None


def _left_unmasked(record: dict[str, Any]) -> int:
    """How many images a run record counts as written unmasked (0 for a damaged record)."""
    counts = _record_counts(record)
    return 0 if counts is None else counts.images - counts.masked


def _masked_images(twin: Sequence[bytes], originals: Sequence[bytes]) -> np.ndarray:
    """(N,) bool: which of a twin's images differ from their originals' bytes (a face
    ``maskgen augment`` could not mask is stored as it was); all False where the counts
    differ (not a twin of these originals)."""
    if len(twin) != len(originals):
        return np.zeros(len(twin), dtype=bool)
    return np.array([a != b for a, b in zip(twin, originals, strict=True)], dtype=bool)


def _check_set(eval_set: EvalSet, *, mask_head: bool) -> None:
    """DatasetFormatError for a set that cannot be evaluated as its kind says: missing, not a
    verification ``.bin`` of at least N_FOLDS pairs, a RecordIO set without image records or
    whose first image has no mask flag (needed only by a model with a mask head)."""
    path = eval_set.path
    require_file(path)
    _refuse_the_other_format(eval_set)
    if eval_set.kind == "rec":
        from maskgen.formats.recordio import RecordIOReader

        reader = RecordIOReader(path)
        keys = reader.image_keys()
        if not len(keys):  # a table row of 0 images, exit 0, said nothing was wrong
            raise DatasetFormatError(f"{path}: no image records, nothing to evaluate")
        if mask_head:
            _mask_flag(reader.read(keys[0]).label, path, int(keys[0]))
        return
    from maskgen.formats.verification import read_verification_bin

    check_enough_pairs(path, len(read_verification_bin(path)[1]))


def _refuse_the_other_format(eval_set: EvalSet) -> None:
    """DatasetFormatError, saying which kind it is, for a RecordIO file given as a ``bin``
    set or a verification ``.bin`` (a pickle) given as a ``rec`` set: the readers' own
    words (``invalid load key``, ``not a RecordIO file``) did not say what to do."""
    from maskgen.formats.recordio import is_recordio_head
    from maskgen.formats.verification import is_pickle_head

    with open(eval_set.path, "rb") as handle:
        head = handle.read(4)
    if eval_set.kind != "rec" and is_recordio_head(head):
        raise DatasetFormatError(
            f"{eval_set.path}: a RecordIO file, not a verification .bin; evaluate it as a "
            "'rec' set (maskgen eval --rec)"
        )
    if eval_set.kind == "rec" and is_pickle_head(head):
        raise DatasetFormatError(
            f"{eval_set.path}: a pickle (an insightface verification .bin), not a RecordIO "
            "file; evaluate it as a 'bin' or 'masked-bin' set (maskgen eval --bin, --masked-bin)"
        )


def evaluate_set(
    embedder: Embedder, eval_set: EvalSet, *, progress: Progress | None = None
) -> SetResult:
    """One set's figures; see the module docstring for what each kind measures."""
    if eval_set.kind == "rec":
        return _evaluate_rec(embedder, eval_set.path, progress)
    return _evaluate_bin(embedder, eval_set, progress)


def _reporter(progress: Progress | None, name: str, total: int) -> Callable[[int], None] | None:
    if progress is None:
        return None
    return lambda done: progress(name, done, total)


def _evaluate_bin(embedder: Embedder, eval_set: EvalSet, progress: Progress | None) -> SetResult:
    from maskgen.formats.verification import read_verification_bin

    path = eval_set.path
    images, issame = read_verification_bin(path)
    check_enough_pairs(path, len(issame))
    expected_masked: bool | np.ndarray = eval_set.kind == "masked-bin"
    copies = None
    if eval_set.original is not None:
        originals, original_issame = read_verification_bin(eval_set.original)
        if len(originals) != len(images) or list(original_issame) != list(issame):
            raise DatasetFormatError(f"{path}: not the masked twin of {eval_set.original} "
                                     "(pairs differ)")  # fmt: skip
        expected_masked = _masked_images(images, originals)
        copies = int((~expected_masked).sum())
    result = embedder.embed_encoded(
        images, source=path, flip=True, progress=_reporter(progress, path, len(images))
    )
    verification = evaluate_verification(result.embeddings, issame, N_FOLDS)
    usage = mask_accuracy(result.mask_prob, expected_masked)
    if usage is not None and usage < 0.5:
        warn_of_a_set_read_the_other_way(eval_set, 1.0 - usage)
    return SetResult(
        name=path,
        images=len(images),
        accuracy=verification.accuracy,
        accuracy_std=verification.accuracy_std,
        mask_accuracy=usage,
        tar_at_far=verification.tar_at_far,
        threshold=verification.threshold,
        expected_mask="masked" if eval_set.kind == "masked-bin" else "unmasked",
        unmasked_copies=copies,
    )


def warn_of_a_set_read_the_other_way(eval_set: EvalSet, share: float) -> None:
    """A warning where the model calls most of a set's faces the other way from what its kind
    expects: a ``bin``'s faces count as unmasked and a ``masked-bin``'s as masked, so a set of
    real masked photos given as ``--bin`` (MFR2's pairs) read "mask usage 30 %" where the head
    was right, and a bare set given as ``--masked-bin`` 4 %, without a word. None for a twin
    given as ``bin`` (:func:`warn_twins_given_as_bins` has said so)."""
    if eval_set.kind == "bin" and twin_record(Path(eval_set.path)) is None:
        called, counted, other = "masked", "unmasked", "--masked-bin for a maskgen twin"
    elif eval_set.kind == "masked-bin":
        called, counted, other = "unmasked", "masked", "--bin for bare faces"
    else:
        return
    logger.warning(
        "%s: the model calls %.0f%% of its faces %s, and this set's mask usage counts every "
        "face as %s: if the model is right, the column counts its right answers as misses "
        "(%s, --rec for a set labelled masked or not)",
        eval_set.path,
        100.0 * share,
        called,
        counted,
        other,
    )


def _mask_flag(label: np.ndarray | None, path: str, key: int) -> bool:
    if label is None or label.size <= MASK_LABEL_INDEX:
        raise DatasetFormatError(
            f"{path}: record {key} has label {None if label is None else label.tolist()}, "
            "expected [identity, mask flag] (a masked-twin RecordIO set)"
        )
    return bool(label[MASK_LABEL_INDEX] >= 0.5)


def _evaluate_rec(embedder: Embedder, path: str, progress: Progress | None) -> SetResult:
    from maskgen.formats.recordio import RecordIOReader

    reader = RecordIOReader(path)
    keys = reader.image_keys()
    if not embedder.info.mask_head:
        return SetResult(name=path, images=len(keys), expected_mask="label")
    expected: list[bool] = []
    wear: list[int | None] = []

    def payloads() -> Iterator[bytes]:
        for key in keys:
            sample = reader.read(key)
            expected.append(_mask_flag(sample.label, path, int(key)))
            wear.append(_wear_label(sample.label, expected[-1], path, int(key)))
            yield sample.data

    # Only the mask head matters here (embeddings are not kept); its probability is the mean
    # of the face's and its mirror image's, as on the verification sets.
    parts = list(
        embedder.iter_encoded(
            payloads(),
            source=path,
            flip=True,
            progress=_reporter(progress, path, len(keys)),
            keys=[int(key) for key in keys],
        )
    )
    probs = [part.mask_prob for part in parts]
    mask_prob = np.concatenate(probs) if probs else np.zeros(0, np.float32)  # type: ignore[arg-type]
    result = SetResult(
        name=path,
        images=len(keys),
        mask_accuracy=mask_accuracy(mask_prob, np.array(expected, dtype=bool)),
        expected_mask="label",
    )
    wears = [part.wear_prob for part in parts]
    if embedder.info.mask_classes == 2 or not parts or any(w is None for w in wears):
        return result
    if any(w is None for w in wear):
        logger.warning("%s: labels without a wear class: no wear-class figures", path)
        return result
    confusion = wear_confusion(np.array(wear), np.concatenate(wears))  # type: ignore[arg-type]
    return dataclasses.replace(
        result,
        wear_accuracy=float(np.trace(confusion) / confusion.sum()),
        wear_class_accuracy=tuple(wear_class_accuracy(confusion)),
        wear_confusion=tuple(tuple(int(v) for v in row) for row in confusion),
    )


def _wear_label(label: np.ndarray | None, masked: bool, path: str, key: int) -> int | None:
    """The wear class of a record (0 where not masked), None where its label has no element
    2; DatasetFormatError for a class out of range."""
    if label is None or label.size <= WEAR_LABEL_INDEX:
        return None
    if not masked:
        return 0
    value = float(label[WEAR_LABEL_INDEX])
    if not value.is_integer() or not 0 <= value < len(WEAR_CLASSES):
        raise DatasetFormatError(
            f"{path}: record {key} has wear class {value:g}, not one of 0-{len(WEAR_CLASSES) - 1}"
        )
    return int(value)
