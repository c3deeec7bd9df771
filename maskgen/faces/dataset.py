"""Aligned datasets from photos: what ``maskgen align`` builds.

Photos are detected, fitted with 68 landmarks and warped by the 5-point similarity transform onto
the ArcFace 112x112 template, then written in insightface's layouts: a RecordIO set (one folder per
identity) for training, or a verification ``.bin`` from an LFW-style pairs file for evaluation.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from joblib import Parallel, delayed

from maskgen.decoder_messages import warn_decoder_said
from maskgen.errors import ConfigError, DatasetFormatError
from maskgen.faces.align import ARCFACE_TEMPLATE_112, align_face, five_points
from maskgen.faces.crops import is_too_small
from maskgen.faces.landmarks import load_face_finder
from maskgen.formats.folder import FolderListing, list_files, unread_hint, warn_not_read
from maskgen.images import decode_rgb_and_said, is_apple_double, is_cut_short_jpeg, is_image_file
from maskgen.words import count_of

logger = logging.getLogger(__name__)

CENTRE_FACE_FRACTION = 0.42
"""Fallback for a photo with no detected face: assume the face box is this central fraction of
the photo's shorter side (true of roughly centred sets such as LFW's deep-funneled release)."""

ProgressFn = Callable[[int], None]
"""Called with each number of photos aligned; and, as ``progress_total``, once with the number
of photos to align before the first."""

_CENTRE_HINT = "; no_face='centre' aligns a photo with no face found on the centre fallback"


NO_FACE_CHOICES = ("skip", "centre")
"""What ``align`` does with a photo in which no face is found: ``skip`` leaves it out of a
training set with the reason ``no_face`` (a crop of background labelled as that person is a
wrong training sample), ``centre`` aligns it on :func:`centre_points` (a pairs file needs every
photo, so a ``.bin`` always does)."""


@dataclass
class AlignReport:
    """What an align run did: photos read, aligned by detection, by the centre fallback, and
    left out (``skipped``: photo path -> reason, ``no_face``, ``too_small``, ``cut_short`` or
    ``unreadable``)."""

    output: Path
    photos: int = 0
    detected: int = 0
    centre_fallback: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    outside_identities: int = 0
    """Photos directly in the photo folder, in no identity sub-folder: not in the .rec."""
    below_identities: int = 0
    """Photos in folders inside an identity sub-folder (``person/session1/x.jpg``): not in the
    .rec, as a folder there may as well be another person's (``A/Aaron_Eckhart/``)."""
    empty_identities: list[str] = field(default_factory=list)
    """Identity sub-folders none of whose photos was aligned: no class in the .rec."""
    apple_double: int = 0
    """macOS metadata files named like photos (``._x.jpg`` beside ``x.jpg``): not photos."""
    damaged: dict[str, str] = field(default_factory=dict)
    """Photos read as they decoded although the decoder called them damaged (aligned, or left
    out for another reason: no face found in what decoded): photo path -> the decoder's words
    (``"Corrupt JPEG data: premature end of data segment"``). Only where those words are kept
    off stderr (``maskgen``'s commands unless ``-vv``, which prints them as they come; from
    Python, ``MASKGEN_QUIET_DECODERS=1``: :mod:`maskgen.decoder_messages`); else empty."""

    def summary(self) -> str:
        """``"train.rec: 12 photos, 10 aligned on a detected face, 2 left out (no_face 1,
        unreadable 1)"``, with the centre fallback's count where it was used, the identities
        left with no photo and the photos outside the identity sub-folders where there are."""
        photos = count_of(self.photos, "photo")
        parts = [f"{self.output}: {photos}, {self.detected} aligned on a detected face"]
        if self.centre_fallback:
            parts.append(f"{self.centre_fallback} on the centre fallback")
        by_reason = _describe_reasons(self.skipped)
        parts.append(f"{len(self.skipped)} left out" + (f" ({by_reason})" if by_reason else ""))
        text = ", ".join(parts)
        if self.empty_identities:
            names = ", ".join(self.empty_identities[:3])
            more = ", ..." if len(self.empty_identities) > 3 else ""
            text += (
                f"; {count_of(len(self.empty_identities), 'identity folder')} with no photo "
                f"aligned, not in the .rec ({names}{more})"
            )
        if self.outside_identities:
            text += (
                f"; {count_of(self.outside_identities, 'photo')} outside the identity "
                "sub-folders ignored"
            )
        if self.below_identities:
            text += (
                f"; {count_of(self.below_identities, 'photo')} in folders inside the identity "
                "sub-folders ignored"
            )
        if self.apple_double:
            text += (
                f"; {count_of(self.apple_double, 'macOS ._ metadata file')} ignored (apple_double)"
            )
        if self.damaged:
            text += f"; {count_of(len(self.damaged), 'damaged photo')} read as decoded"
        return text


@dataclass(frozen=True)
class AlignedPhoto:
    """One photo's 112x112 crop as encoded bytes and how it was aligned (``how``: "detected"
    or "centre"), or no crop (``jpeg`` and ``how`` None) and the ``reason``: "unreadable",
    "cut_short" (a JPEG whose end is missing), "no_face" or "too_small" (a side under
    ``faces.crops.MIN_IMAGE_SIDE`` px). ``decoder_said``: what libjpeg or libpng said of a
    damaged photo that still decoded (:func:`maskgen.images.decode_rgb_and_said`), else None."""

    path: Path
    jpeg: bytes | None
    how: str | None
    reason: str | None = None
    decoder_said: str | None = None


def centre_points(height: int, width: int) -> np.ndarray:
    """Where the 5 alignment points would sit for a centred face (the no-detection fallback)."""
    side = CENTRE_FACE_FRACTION * min(height, width)
    box_112 = 80.0  # the aligned face box side in template pixels (faces.crops.ALIGNED_BOX_112)
    scale = side / box_112
    centre_112 = np.array([56.0, 70.0], dtype=np.float32)
    return (ARCFACE_TEMPLATE_112 - centre_112) * scale + np.array([width / 2, height / 2])


def align_photo(
    path: Path,
    *,
    size: int = 112,
    jpeg_quality: int = 95,
    models_dir: str | None = None,
    no_face: str = "skip",
) -> AlignedPhoto:
    """Detect the main face in a photo and return its aligned crop as JPEG bytes; a photo
    with no face found is left out (``no_face="skip"``) or aligned on :func:`centre_points`
    (``"centre"``). A photo the decoder calls damaged but decodes is read as it decoded,
    with the decoder's words (``decoder_said``): only a JPEG cut short is left out for that."""
    try:
        data = path.read_bytes()
    except OSError:
        return AlignedPhoto(path, None, None, "unreadable")
    rgb, said = decode_rgb_and_said(data, path.name)
    if rgb is None:
        return AlignedPhoto(path, None, None, _unread_reason(data, path.name))
    if no_face == "skip" and is_too_small(*rgb.shape[:2]):
        return AlignedPhoto(path, None, None, "too_small", said)  # as augment says of those
    faces = load_face_finder(models_dir).find_faces(rgb, "detect")
    if faces:
        points, how = five_points(faces[0].landmarks), "detected"
    elif no_face == "centre":
        points, how = centre_points(*rgb.shape[:2]), "centre"
    else:
        return AlignedPhoto(path, None, None, "no_face", said)
    crop = align_face(rgb, points, size)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    )
    if not ok:
        raise DatasetFormatError(f"{path}: could not encode the aligned crop as JPEG")
    return AlignedPhoto(path, buf.tobytes(), how, decoder_said=said)


def _unread_reason(data: bytes, name: str) -> str:
    """Why a photo's bytes did not decode: ``cut_short`` (a JPEG whose end is missing:
    ``mask`` and ``augment`` mask it as it decodes, grey below the damage, but a training set
    is better without it) or ``unreadable``."""
    return "cut_short" if is_cut_short_jpeg(data, name) else "unreadable"


CANCELLED_TASKS_WARNING = r"\d+ tasks (which were still being processed|have been successfully)"
"""The start of the warning joblib gives when a generator of results is closed early."""


def _align_many(
    paths: Sequence[Path],
    workers: int,
    models_dir: str | None,
    progress: ProgressFn | None,
    no_face: str,
) -> Iterator[AlignedPhoto]:
    """Align photos across worker processes, yielding results in input order."""
    batch = 64
    batches = [paths[i : i + batch] for i in range(0, len(paths), batch)]
    parallel = Parallel(n_jobs=workers, return_as="generator")
    jobs = (delayed(_align_batch)(b, models_dir, no_face) for b in batches)
    with warnings.catch_warnings(), contextlib.closing(parallel(jobs)) as outputs:
        # a run stopped by an error (a full disk) printed joblib's "N tasks which were still
        # being processed by the workers have been cancelled. You could benefit from ..."
        # under its one-line error
        warnings.filterwarnings("ignore", CANCELLED_TASKS_WARNING, UserWarning)
        for results in outputs:
            for photo in results:
                # counted before it is handed on: the caller stops taking photos at the last
                # one, so a count after a batch's last never came (a bar of 120 ended on 64)
                if progress is not None:
                    progress(1)
                yield photo


def _align_batch(paths: Sequence[Path], models_dir: str | None, no_face: str) -> list[AlignedPhoto]:
    return [align_photo(p, models_dir=models_dir, no_face=no_face) for p in paths]


def _tally(report: AlignReport, photo: AlignedPhoto) -> bool:
    report.photos += 1
    if photo.decoder_said:
        report.damaged[str(photo.path)] = photo.decoder_said
        warn_decoder_said(logger, str(photo.path), photo.decoder_said)
    if photo.jpeg is None:
        reason = photo.reason or "unreadable"
        report.skipped[str(photo.path)] = reason
        if reason == "no_face":
            logger.info("%s: no face found, left out (no_face)", photo.path)
        elif reason == "too_small":
            logger.info("%s: too small to hold a face, left out (too_small)", photo.path)
        elif reason == "cut_short":
            logger.warning("%s: a JPEG cut short (its end is missing), left out", photo.path)
        else:
            logger.warning("%s: %s, left out", photo.path, reason)
        return False
    if photo.how == "detected":
        report.detected += 1
    else:
        report.centre_fallback += 1
        logger.info("%s: no face found, aligned on the centre fallback", photo.path)
    return True


@dataclass
class PhotoTree:
    """A folder of identity sub-folders as ``align`` reads it: each identity's photos, and the
    photos it leaves out by where they are (see :class:`AlignReport`)."""

    identities: list[tuple[str, list[Path]]] = field(default_factory=list)
    """(identity name, sorted photo paths) for every sub-folder holding photos, by name."""
    outside_identities: int = 0
    below_identities: int = 0
    apple_double: int = 0


def identity_folders(photo_dir: Path) -> PhotoTree:
    """The photos of every identity sub-folder of ``photo_dir``, listed as ``augment`` lists a
    folder: a hidden folder (``.ipynb_checkpoints``, ``.Trash``) is not entered, named in a
    warning, as are broken links and links inside identity folders: each hidden folder was a
    class of its own, without a word. An identity folder that is a link (a split built of
    links to a photo collection) is read, unless it leads into the tree or to a folder another
    link leads to: a second name of a folder read already (``personA_link -> personA``) gave
    its photos a second label; those are named in a warning. A macOS ``._x.jpg`` is counted
    apart, not as a photo (each was "unreadable, left out"). DatasetFormatError where no
    sub-folder holds a photo, naming the links if any."""
    root = Path(photo_dir)
    if not root.is_dir():
        raise DatasetFormatError(f"{photo_dir}: not a folder of identity sub-folders")
    listing = list_files(root)
    tree = PhotoTree()
    photos: dict[str, list[Path]] = defaultdict(list)
    followed, second_names = _linked_identities(root, listing.links)
    links = [name for name in listing.links if name not in followed and name not in second_names]
    listing = listing._replace(links=links)
    for key in listing.keys:
        _place_photo(tree, photos, root / key, key)
    for name in followed:  # listed as the tree is: what it does not read named too
        inner = list_files(root / name)
        for key in inner.keys:
            _place_photo(tree, photos, root / name / key, f"{name}/{key}")
        pairs = zip(listing, inner, strict=True)
        listing = FolderListing(*(mine + [f"{name}/{k}" for k in theirs] for mine, theirs in pairs))
    tree.identities = [(name, sorted(photos[name])) for name in sorted(photos)]
    if not tree.identities:
        hint = f" ({unread_hint(root, listing.links)})" if listing.links else ""
        raise DatasetFormatError(f"{photo_dir}: no identity sub-folders with photos in it{hint}")
    warn_not_read(root, listing)
    if second_names:
        logger.warning(
            "%s: %d link(s) to a folder read already (inside the tree, or another link's) not "
            "read again, so that no photo gets two identities: %s",
            root,
            len(second_names),
            ", ".join(second_names[:5]) + (", ..." if len(second_names) > 5 else ""),
        )
    return tree


def _linked_identities(root: Path, links: Sequence[str]) -> tuple[list[str], list[str]]:
    """(followed, second names) of the links among ``root``'s identity folders (``links``:
    :func:`~maskgen.formats.folder.list_files`'s, relative): a link to a folder outside the
    tree that no earlier link leads to is followed; one into the tree (``root`` itself
    included) or to a folder an earlier link leads to is a second name of a folder read."""
    inside = root.resolve()
    followed: list[str] = []
    second: list[str] = []
    seen: set[Path] = set()
    for name in links:
        path = root / name
        if "/" in name or not path.is_dir():  # inside an identity folder, or broken
            continue
        target = path.resolve()
        if target.is_relative_to(inside) or target in seen:
            second.append(name)
        else:
            seen.add(target)
            followed.append(name)
    return followed, second


def _place_photo(tree: PhotoTree, photos: dict[str, list[Path]], path: Path, key: str) -> None:
    """Count the file at ``path`` (``key`` relative to the tree's root) where align puts it:
    an identity's photo, a photo outside or below the identity folders, a ``._`` file, or
    nothing (not an image)."""
    if not is_image_file(path):
        return
    if _is_apple_double(path):
        tree.apple_double += 1
    elif "/" not in key:
        tree.outside_identities += 1
    elif key.count("/") == 1:
        photos[key.partition("/")[0]].append(path)
    else:  # person/session1/x.jpg: a folder there may as well be another person's
        tree.below_identities += 1


def _is_apple_double(path: Path) -> bool:
    """Whether ``path`` is a ``._`` file of macOS metadata (AppleDouble), whatever its suffix
    says; only ``._`` names are opened."""
    if not path.name.startswith("._"):
        return False
    try:
        with open(path, "rb") as handle:
            return is_apple_double(handle.read(4))
    except OSError:
        return False


def align_folder_to_rec(
    photo_dir: Path,
    out_rec: Path,
    *,
    workers: int = 1,
    models_dir: str | None = None,
    progress: ProgressFn | None = None,
    no_face: str = "skip",
    progress_total: ProgressFn | None = None,
) -> AlignReport:
    """Build an insightface RecordIO set (header, images, identity records, ``property``) from a
    folder with one sub-folder of photos per identity.

    A photo in which no face is found is left out and recorded in the report's ``skipped``
    with the reason ``no_face`` (``no_face="centre"``: aligned on :func:`centre_points`
    instead), as is an unreadable one (``unreadable``). The identities that keep a photo are
    numbered 0.. in sorted order; one left with none is no class (``empty_identities``).
    Sub-folders are found by :func:`identity_folders`.
    DatasetFormatError where no photo at all is aligned (nothing is written then);
    ConfigError for a ``no_face`` other than those of :data:`NO_FACE_CHOICES`.
    """
    from maskgen.formats.recordio import write_insightface_rec

    _check_no_face(no_face)
    tree = identity_folders(Path(photo_dir))
    identities = tree.identities
    report = AlignReport(
        output=Path(out_rec),
        outside_identities=tree.outside_identities,
        below_identities=tree.below_identities,
        apple_double=tree.apple_double,
    )
    all_paths = [p for _, photos in identities for p in photos]
    if progress_total is not None:
        progress_total(len(all_paths))
    aligned = iter(_align_many(all_paths, workers, models_dir, progress, no_face))

    def groups() -> Iterator[list[bytes]]:
        kept = 0
        for name, photos in identities:
            images = [
                photo.jpeg
                for photo in itertools.islice(aligned, len(photos))
                if _tally(report, photo)
            ]
            if images:
                kept += 1
                yield images
            else:
                report.empty_identities.append(name)
        if not kept:  # raised inside the writer: no .rec that looks finished is left
            hint = _CENTRE_HINT if "no_face" in report.skipped.values() else ""
            raise DatasetFormatError(
                f"{photo_dir}: no photo of its {len(all_paths)} aligned "
                f"({_describe_reasons(report.skipped)}), nothing to write{hint}",
                parameters={"no_face='centre'": "no_face"} if hint else None,
            )

    write_insightface_rec(Path(out_rec), groups())
    return report


def _check_no_face(no_face: str) -> None:
    if no_face not in NO_FACE_CHOICES:
        raise ConfigError(f"no_face: {no_face!r}, expected one of {', '.join(NO_FACE_CHOICES)}")


def _describe_reasons(skipped: dict[str, str]) -> str:
    """``"no_face 3, unreadable 1"``."""
    counts = Counter(skipped.values())
    return ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items()))


def read_pairs(pairs_txt: Path, photo_dir: Path) -> tuple[list[Path], list[bool]]:
    """Parse an LFW-style pairs file into the photo list (pair i = photos 2i, 2i+1) and issame.

    Lines are ``name i j`` (same person) or ``name1 i name2 j``; an optional first line gives
    ``folds size`` (``pairs.txt``: each fold ``size`` matched and ``size`` mismatched pairs) or
    ``size`` (``pairsDevTrain.txt``: one such fold); a file holding another number of pairs (a
    subset that kept its header) gets a warning. Photos are ``photo_dir/name/name_NNNN.jpg``.
    DatasetFormatError names the file and line.
    """
    paths: list[Path] = []
    issame: list[bool] = []
    lines = Path(pairs_txt).read_text().splitlines()
    promised = _promised_pairs(lines[0].split()) if lines else None
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields or (number == 1 and promised is not None):
            continue
        if len(fields) == 3:
            (a, i), (b, j), same = (fields[0], fields[1]), (fields[0], fields[2]), True
        elif len(fields) == 4:
            (a, i), (b, j), same = (fields[0], fields[1]), (fields[2], fields[3]), False
        else:
            raise DatasetFormatError(f"{pairs_txt}:{number}: expected 3 or 4 fields, got {line!r}")
        for name, index in ((a, i), (b, j)):
            if not index.isdigit():
                raise DatasetFormatError(f"{pairs_txt}:{number}: bad image number {index!r}")
            path = Path(photo_dir) / name / f"{name}_{int(index):04d}.jpg"
            if not path.is_file():
                raise DatasetFormatError(f"{pairs_txt}:{number}: photo {path} not found")
            paths.append(path)
        issame.append(same)
    if not issame:
        raise DatasetFormatError(f"{pairs_txt}: no pairs in it")
    if promised is not None and len(issame) != promised:  # a subset kept its header: say so
        logger.warning(
            "%s: its first line promises %d pairs, the file holds %d", pairs_txt, promised,
            len(issame),
        )  # fmt: skip
    return paths, issame


def _promised_pairs(header: list[str]) -> int | None:
    """The pair count a pairs file's first line gives (``folds size``: 2 x folds x size;
    ``size``: 2 x size), None where the first line is a pair."""
    if not header or len(header) > 2 or not all(field.isdigit() for field in header):
        return None
    folds, size = (int(header[0]), int(header[1])) if len(header) == 2 else (1, int(header[0]))
    return 2 * folds * size


def align_pairs_to_bin(
    photo_dir: Path,
    pairs_txt: Path,
    out_bin: Path,
    *,
    workers: int = 1,
    models_dir: str | None = None,
    progress: ProgressFn | None = None,
    progress_total: ProgressFn | None = None,
) -> AlignReport:
    """Build an insightface verification ``.bin`` from an LFW-style pairs file. Every photo of a
    pair must be kept, so a photo with no detected face is aligned on the centre fallback, and
    an unreadable one is a DatasetFormatError (not first tallied: its "left out" warning
    contradicted the error)."""
    from maskgen.formats.verification import write_verification_bin

    paths, issame = read_pairs(Path(pairs_txt), Path(photo_dir))
    if progress_total is not None:
        progress_total(len(paths))
    report = AlignReport(output=Path(out_bin))
    images: list[bytes] = []
    for photo in _align_many(paths, workers, models_dir, progress, no_face="centre"):
        if photo.jpeg is None:
            what = "a JPEG cut short" if photo.reason == "cut_short" else "unreadable photo"
            raise DatasetFormatError(
                f"{photo.path}: {what} in a pair of {pairs_txt} (every photo of a pair is "
                "needed: replace it, or leave its pair out)"
            )
        _tally(report, photo)
        images.append(photo.jpeg)
    write_verification_bin(Path(out_bin), images, issame)
    return report
