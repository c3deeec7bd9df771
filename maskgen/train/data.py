"""Training data: an original RecordIO dataset and, optionally, its masked twin or masks drawn
while loading (online masking).

Order: every epoch is one permutation of the image keys drawn from ``(seed, epoch)``, cut into
global batches of ``batch_size``; rank ``r`` of ``w`` takes the ``r``-th slice of each. For every
sample the same draw also decides whether it is masked (probability ``masked_prob``: taken from
the twin, or masked online) and whether it is flipped. The order is therefore a pure function of
the seed, the epoch and the position, so a run resumes exactly from ``(epoch, batch)``, with any
number of ranks that divides the batch.

Workers decode (``maskgen.nn.preprocess.decode_face``), mask (online: ``maskgen.MaskAugment``
keyed by :func:`online_mask_key`, so the mask depends only on the seed, the record and the
epoch, never on the worker), augment (``maskgen.train.augment``, drawn from
``augment_rng(seed, epoch, key)``, so likewise) and flip; the trainer normalises a batch on
the device with ``maskgen.nn.preprocess.preprocess``, as evaluation does.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from maskgen.errors import DatasetFormatError, TrainingError, UndecodableImageError, no_such_file
from maskgen.formats.recordio import RecordIOReader
from maskgen.masks import MaskAugment
from maskgen.masks.wear import WEAR_CLASSES, wear_class
from maskgen.nn.preprocess import decode_face
from maskgen.train.augment import RealismAugment, augment_rng
from maskgen.train.auto import MIN_LOCAL_BATCH
from maskgen.types import Key

logger = logging.getLogger(__name__)

_SPOT_CHECKS = 64
"""Records read from both files to compare labels when the twin is opened."""

SUBSTITUTES = 16
"""How many of the following records may stand in, one after another, for a record whose image
no decoder reads before training stops: a damaged record or two in millions should not end a
run hours in, but a set with this many in a row is not one to train on."""

DAMAGED_SHARE = 0.01
"""The share of a set's records one loader process may find damaged (at least
:data:`SUBSTITUTES`) before training stops: past it the set needs repairing, not a stand-in."""

WEAR_LABEL_INDEX = 2
"""Element of a twin label holding the wear class (``maskgen augment --wear`` writes
``[identity, masked, wear_class]``)."""


@dataclass(frozen=True)
class TrainData:
    """The image records of a dataset (and of its twins): ``keys[i]`` has identity
    ``identities[i]`` in ``[0, num_classes)``. ``twins``: none, one, or several twins of the
    same dataset (other ``maskgen augment --seed`` values)."""

    reader: RecordIOReader
    twins: tuple[RecordIOReader, ...]
    keys: np.ndarray
    identities: np.ndarray
    num_classes: int

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def twin(self) -> RecordIOReader | None:
        """The first twin, or None without one."""
        return self.twins[0] if self.twins else None

    def twin_for(self, key: int, epoch: int) -> RecordIOReader:
        """The twin a masked sample of record ``key`` is read from in ``epoch``: twin
        ``(epoch + key) % K``, so each face wears each of its K masks in turn."""
        return self.twins[(epoch + key) % len(self.twins)]


def open_train_data(
    data: str | Path,
    masked: str | Path | Sequence[str | Path] | None = None,
    *,
    wear_classes: bool = False,
) -> TrainData:
    """Open ``data`` (and its twin ``masked``: one path, or several twins of it), read every
    identity and check that each twin has the same image keys and identities, and mask flags
    (with ``wear_classes``, wear-class labels) on a spread of its records; TrainingError
    otherwise."""
    reader = _open_reader(data, "data")
    keys = np.asarray(list(reader.image_keys()), dtype=np.int64)
    if len(keys) == 0:
        raise TrainingError(f"{reader.path}: no image records")
    identities = _read_identities(reader, keys)
    if identities.min() < 0:
        raise TrainingError(f"{reader.path}: negative identity label {int(identities.min())}")
    num_classes = int(identities.max()) + 1
    _warn_if_a_twin(reader, keys)
    paths = [masked] if isinstance(masked, str | Path) else list(masked or ())
    twins = tuple(_open_twin(reader, path, keys, identities, wear_classes) for path in paths)
    return TrainData(reader, twins, keys, identities, num_classes)


def _warn_if_a_twin(reader: RecordIOReader, keys: np.ndarray) -> None:
    """Warn where ``--data``'s records look like a twin's: labels ``[identity, mask flag]``
    (and a wear class), some flagged masked. Its masked faces would be trained as bare ones
    (labelled unmasked as ``--data``), and beside ``--masked`` the mask head then learns
    nothing; no warning had said so. A warning, not a refusal: a set with another second
    label (a gender) looks the same."""
    flagged = 0
    spot = _spot_keys(keys)
    for key in spot:
        label = reader.read(key).label
        values = np.asarray(label if label is not None else [], dtype=np.float64).reshape(-1)
        if values.size not in (2, 3) or values[1] not in (0.0, 1.0):
            return
        flagged += int(values[1] == 1.0)
    if flagged:
        logger.warning(
            "data: %s: %d of %d records checked are labelled [identity, 1], as a masked twin "
            "written by `maskgen augment` is; trained as --data, its masked faces count as "
            "bare: give the original as --data and the twin as --masked",
            reader.path,
            flagged,
            len(spot),
        )


def _open_twin(
    reader: RecordIOReader,
    path: str | Path,
    keys: np.ndarray,
    identities: np.ndarray,
    wear_classes: bool,
) -> RecordIOReader:
    """One twin of ``reader``, checked (:func:`open_train_data`)."""
    twin = _open_reader(path, "masked")
    _check_twin(reader, twin, keys, identities)
    for key in _spot_keys(keys):
        label = twin.read(key).label
        if label is None or np.asarray(label).size < 2:
            shown = "none" if label is None else np.asarray(label).tolist()
            raise TrainingError(
                f"masked: {twin.path}: record {key} has label {shown}, expected [identity, "
                "mask flag]: not a twin written by `maskgen augment`"
            )
        if wear_classes:
            twin_wear_class(label, twin.path, key)
    return twin


def _spot_keys(keys: np.ndarray) -> list[int]:
    """Up to :data:`_SPOT_CHECKS` of ``keys``, spread evenly from the first to the last: the
    records whose labels the checks at the start read."""
    positions = np.linspace(0, len(keys) - 1, min(_SPOT_CHECKS, len(keys))).astype(int)
    return [int(keys[position]) for position in positions]


def _open_reader(path: str | Path, option: str) -> RecordIOReader:
    path = Path(path)
    named = {f"{option}:": option}  # the CLI: --data, --masked
    if not path.is_file():
        raise no_such_file(path, error=TrainingError, before=f"{option}: ", parameters=named)
    if path.suffix.lower() != ".rec":
        raise TrainingError(
            f"{option}: {path}: training reads RecordIO .rec files", parameters=named
        )
    try:
        reader = RecordIOReader(path)
    except DatasetFormatError as exc:
        raise TrainingError(f"{option}: {exc}", parameters=named) from exc
    unlisted = reader.describe_unlisted()
    if unlisted:  # a .idx filtered by hand: legitimate, but said
        logger.warning("%s: %s", option, unlisted)
    return reader


def _read_identities(reader: RecordIOReader, keys: np.ndarray) -> np.ndarray:
    """Identity of every image key: from insightface's identity records where the file has them
    (record 0 labelled ``[first, end)``, record ``first + i`` labelled with identity ``i``'s key
    range; no image is read), else label[0] of every image record."""
    ranges = _identity_ranges(reader)
    if ranges is None:
        return np.fromiter(
            (_identity_of(reader.read(int(k)).label, reader.path, k) for k in keys),
            dtype=np.int64,
            count=len(keys),
        )
    identities = np.full(len(keys), -1, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    for index, (first, end) in enumerate(ranges):
        lo, hi = np.searchsorted(sorted_keys, [first, end])
        identities[order[lo:hi]] = index
    unassigned = np.flatnonzero(identities < 0)
    if len(unassigned):
        key = int(keys[unassigned[0]])
        raise TrainingError(f"{reader.path}: image key {key} is in no identity record")
    return identities


def _identity_ranges(reader: RecordIOReader) -> list[tuple[int, int]] | None:
    """``[first key, end key)`` of each identity from insightface's header and identity
    records, or None for a flat file."""
    all_keys = reader.keys()
    if 0 not in all_keys:
        return None
    header = reader.read(0)
    if header.is_image or header.label is None or header.label.size < 2:
        return None
    first, end = int(header.label[0]), int(header.label[1])
    ranges = []
    for key in range(first, end):
        if key not in all_keys:  # a KeyError traceback before
            raise TrainingError(
                f"{reader.idx_path}: identity record {key} (of {first}..{end - 1}, as record 0 "
                f"says) is not in the index, and training takes identities from them; rebuild "
                f"it with `maskgen index {reader.path} --overwrite` (an .idx filtered by hand "
                f"keeps the lines of keys 0 and {first}..{end - 1}: put those back instead)"
            )
        label = reader.read(key).label
        if label is None or label.size < 2:
            raise TrainingError(f"{reader.path}: identity record {key} has no key range")
        ranges.append((int(label[0]), int(label[1])))
    return ranges


def _identity_of(label: np.ndarray | None, path: Path, key: Any) -> int:
    if label is None or label.size == 0 or not float(label[0]).is_integer():
        raise TrainingError(f"{path}: key {key}: label {label!r} has no integer identity")
    return int(label[0])


def _check_twin(
    reader: RecordIOReader, twin: RecordIOReader, keys: np.ndarray, identities: np.ndarray
) -> None:
    """Same image keys, same identities (identity records or every label), and the labels of a
    spread of records agree: a twin of another dataset fails here, before training starts."""
    twin_keys = np.asarray(list(twin.image_keys()), dtype=np.int64)
    if not np.array_equal(keys, twin_keys):
        raise TrainingError(
            f"masked: {twin.path} is not the twin of {reader.path}: "
            f"{_first_key_difference(keys, twin_keys)} ({len(twin_keys)} image keys there, "
            f"{len(keys)} here)"
        )
    twin_identities = _read_identities(twin, twin_keys)
    differ = np.flatnonzero(twin_identities != identities)
    if len(differ):
        key = int(keys[differ[0]])
        raise TrainingError(
            f"masked: {twin.path} is not the twin of {reader.path}: key {key} has identity "
            f"{int(twin_identities[differ[0]])} there and {int(identities[differ[0]])} here"
        )
    for position in np.linspace(0, len(keys) - 1, min(_SPOT_CHECKS, len(keys))).astype(int):
        key = int(keys[position])
        found = _identity_of(twin.read(key).label, twin.path, key)
        if found != identities[position]:
            raise TrainingError(
                f"masked: {twin.path} is not the twin of {reader.path}: key {key} has "
                f"identity {found} there and {int(identities[position])} here"
            )


def _first_key_difference(keys: np.ndarray, twin_keys: np.ndarray) -> str:
    """An image key one dataset has and the other not (the lower of the first of each), or
    else the first place where the same keys come in another order."""
    only_here = keys[~np.isin(keys, twin_keys)]
    only_there = twin_keys[~np.isin(twin_keys, keys)]
    if only_here.size or only_there.size:
        key, where = (
            (only_here[0], "here but not there")
            if only_here.size and (not only_there.size or only_here[0] <= only_there[0])
            else (only_there[0], "there but not here")
        )
        differ = only_here.size + only_there.size
        count = "1 key is" if differ == 1 else f"{differ} keys are"
        return f"image key {int(key)} is {where}; {count} in only one of them"
    position = int(np.flatnonzero(keys != twin_keys)[0])
    return (
        f"the image keys come in another order: image {position} is key "
        f"{int(twin_keys[position])} there and {int(keys[position])} here"
    )


def twin_wear_class(label: np.ndarray | None, path: Path, key: int) -> int:
    """The wear class (index into ``WEAR_CLASSES``) of a twin record labelled ``[identity,
    masked, wear_class]``: 0 where it is not masked. TrainingError, one line, for a label
    without element 2 (a twin written without ``--wear``) or a class out of range."""
    if label is None or label.size <= WEAR_LABEL_INDEX:
        shown = None if label is None else label.tolist()
        raise TrainingError(
            f"masked: {path}: key {key} has label {shown}, no wear class: the twin was not "
            "written with --wear (run maskgen augment --wear ..., or train without "
            "--wear-classes)"
        )
    if label[1] < 0.5:
        return 0
    value = float(label[WEAR_LABEL_INDEX])
    if not value.is_integer() or not 0 <= value < len(WEAR_CLASSES):
        raise TrainingError(
            f"masked: {path}: key {key} has wear class {value:g}, not one of 0-"
            f"{len(WEAR_CLASSES) - 1} ({', '.join(WEAR_CLASSES)})"
        )
    return int(value)


class Ticket(NamedTuple):
    """One sample to load, as the sampler decided it."""

    position: int
    """Position in ``TrainData.keys``."""
    masked: bool
    """Masked: taken from the twin, or masked online."""
    flip: bool
    """Flipped left to right (after masking)."""
    epoch: int = 0
    """The epoch it belongs to (online masks change with it)."""


def online_mask_key(key: int, epoch: int) -> Key:
    """The ``MaskAugment`` key of record ``key`` in ``epoch``: the record key itself in epoch 0,
    so the first epoch draws exactly the masks that ``maskgen augment`` with the same seed and
    mask options writes, then ``"key@epoch"``, a new draw each epoch. Either way it depends on
    nothing else (worker, rank, resume)."""
    return key if epoch == 0 else f"{key}@{epoch}"


def load_online_masker(
    *,
    seed: int,
    mask_types: tuple[str, ...] | None = None,
    color_prob: float = 0.5,
    texture_prob: float = 0.5,
    wear: str | None = None,
) -> MaskAugment:
    """The MaskAugment of an online-masking run (``wear``: placement probabilities in
    ``--wear``'s form, None: every mask correct) (aligned mode: training reads ArcFace-aligned
    ``.rec`` crops), with its landmark model, templates and textures loaded in this process,
    so DataLoader workers forked from it share them. ConfigError (unknown mask type, ...) or
    ModelNotFoundError before any worker starts."""
    return MaskAugment(
        p=1.0,  # the sampler decides; every call passes force_apply
        mask_types=mask_types,
        color_prob=color_prob,
        texture_prob=texture_prob,
        face_mode="aligned",
        seed=seed,
        wear=wear,
    ).preload()


class FaceDataset(Dataset[tuple[torch.Tensor, int, int]]):
    """``dataset[ticket] -> (image (112, 112, 3) uint8 RGB, identity, mask label)``.

    A ticket that says "masked" is read from the twin where there is one (from several,
    :meth:`TrainData.twin_for`), else, with a
    ``masker``, masked while loading: ``masker(image=..., key=online_mask_key(key, epoch),
    force_apply=True)``. The mask label is 1 where a mask was drawn: the twin label's element 1
    for a twin sample (0 where ``maskgen augment`` could not mask the face), ``"masked"`` of
    the masker's output for an online one (0 for a face it could not mask, which comes back
    unchanged), 0 for every other sample. With ``wear_classes`` the label is the wear class
    instead (``WEAR_CLASSES``: 0 no mask, 1 correct, 2-4 wrong placements): element 2 of the
    twin label (:func:`twin_wear_class`), or the placement the masker drew
    (``params["wear"]``).

    With ``augment``, every image (original, twin or masked online) then passes through it,
    drawing from ``augment_rng(seed, epoch, key)``; the flip comes last.

    A record whose image no decoder reads (``UndecodableImageError``; ``maskgen augment``
    passes such a record through to the twin as it found it) is replaced by the next one in
    the set, and the next, up to :data:`SUBSTITUTES`, with a warning naming it (once per
    record in each loader process); the same ticket always gets the same stand-in, so a
    resumed run repeats it. More than :data:`DAMAGED_SHARE` of the set found damaged in one
    process, or any other fault of a record (another size, another identity), stops the run
    (TrainingError, DatasetFormatError).
    """

    def __init__(
        self,
        data: TrainData,
        masker: MaskAugment | None = None,
        *,
        wear_classes: bool = False,
        augment: RealismAugment | None = None,
        seed: int = 0,
    ) -> None:
        self.data = data
        self.masker = masker
        self.wear_classes = wear_classes
        self.augment = augment
        self.seed = seed
        self.warned: set[str] = set()  # damaged records named already, in this process

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, ticket: Ticket) -> tuple[torch.Tensor, int, int]:  # type: ignore[override]
        ticket = Ticket(*ticket)  # a plain (position, masked, flip[, epoch]) tuple too
        offset = 0
        while True:
            position = (ticket.position + offset) % len(self.data)
            try:
                return self._load(ticket._replace(position=position))
            except UndecodableImageError as exc:
                if offset == SUBSTITUTES:
                    raise TrainingError(
                        f"{exc}, and so are the {SUBSTITUTES} records before it: is the set "
                        "damaged? (maskgen augment's manifest names damaged records: reason "
                        "unreadable, or a decoder_warning)"
                    ) from None
                if str(exc) not in self.warned:
                    self.warned.add(str(exc))
                    logger.warning("%s: trained on the next record in its place", exc)
                    self._check_damaged_share()
                offset += 1

    def _check_damaged_share(self) -> None:
        """TrainingError once this process has found more damaged records than
        :data:`DAMAGED_SHARE` of the set allows."""
        allowed = max(SUBSTITUTES, int(DAMAGED_SHARE * len(self.data)))
        if len(self.warned) > allowed:
            raise TrainingError(
                f"{self.data.reader.path}: more than {allowed} of its {len(self.data)} records "
                f"hold no decodable image ({DAMAGED_SHARE:.0%} at most): repair the set first "
                "(maskgen augment's manifest names damaged records: reason unreadable, or a "
                "decoder_warning)"
            )

    def _load(self, ticket: Ticket) -> tuple[torch.Tensor, int, int]:
        """The sample of one ticket (see the class)."""
        key = int(self.data.keys[ticket.position])
        identity = int(self.data.identities[ticket.position])
        from_twin = ticket.masked and bool(self.data.twins)
        reader = self.data.twin_for(key, ticket.epoch) if from_twin else self.data.reader
        sample = reader.read(key)
        mask_label = 0
        if from_twin:
            found = _identity_of(sample.label, reader.path, key)
            if found != identity:
                raise TrainingError(
                    f"masked: {reader.path}: key {key} has identity {found}, the original "
                    f"{identity}: not the twin of {self.data.reader.path}"
                )
            label = sample.label
            if self.wear_classes:
                mask_label = twin_wear_class(label, reader.path, key)
            else:
                mask_label = int(label is not None and label.size > 1 and label[1] >= 0.5)
        image = decode_face(sample.data, str(reader.path), key, "record")
        if ticket.masked and not from_twin and self.masker is not None:
            out = self.masker(image=image, key=online_mask_key(key, ticket.epoch), force_apply=True)
            image, mask_label = out["image"], int(out["masked"])
            if self.wear_classes and out["masked"]:
                mask_label = wear_class(out["params"]["wear"])
        if self.augment is not None:
            image = self.augment(image, augment_rng(self.seed, ticket.epoch, key))
        if ticket.flip:
            image = np.ascontiguousarray(image[:, ::-1])
        return torch.from_numpy(image), identity, mask_label


class EpochSampler(Sampler[Ticket]):
    """This rank's tickets for one epoch, from global batch ``start_batch`` on.

    ``set_position(epoch, batch)`` before iterating; the draws depend only on
    ``(seed, epoch)``, never on the rank count or on where a run was resumed.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        *,
        seed: int,
        masked_prob: float,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size % world_size:
            raise TrainingError(
                f"batch_size {batch_size} is not divisible by the {world_size} ranks"
            )
        if num_samples < batch_size:
            raise TrainingError(
                f"batch_size {batch_size} is larger than the dataset ({num_samples} images)"
            )
        if batch_size // world_size < MIN_LOCAL_BATCH:
            raise TrainingError(
                f"batch_size {batch_size} gives each of the {world_size} processes "
                f"{batch_size // world_size} image a step; batch normalisation needs at least "
                f"{MIN_LOCAL_BATCH} (--batch-size {MIN_LOCAL_BATCH * world_size} or more)"
            )
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.local_batch = batch_size // world_size
        self.seed = seed
        self.masked_prob = masked_prob
        self.rank = rank
        self.epoch = 0
        self.start_batch = 0

    @property
    def batches_per_epoch(self) -> int:
        """Full global batches per epoch (the tail of each permutation is dropped)."""
        return self.num_samples // self.batch_size

    def set_position(self, epoch: int, batch: int) -> None:
        self.epoch, self.start_batch = epoch, batch

    def draw_epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The epoch's permutation, mask choices and flips (each ``(num_samples,)``); slot
        ``i`` of the epoch loads position ``order[i]``, masked if ``masked[i]``."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.num_samples)
        masked = rng.random(self.num_samples) < self.masked_prob
        flip = rng.random(self.num_samples) < 0.5
        return order, masked, flip

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start_batch) * self.local_batch

    def __iter__(self) -> Iterator[Ticket]:
        order, masked, flip = self.draw_epoch(self.epoch)
        for batch in range(self.start_batch, self.batches_per_epoch):
            first = batch * self.batch_size + self.rank * self.local_batch
            for slot in range(first, first + self.local_batch):
                yield Ticket(int(order[slot]), bool(masked[slot]), bool(flip[slot]), self.epoch)


def training_loader(
    dataset: FaceDataset,
    sampler: EpochSampler,
    *,
    workers: int,
    seed: int,
    pin_memory: bool = False,
) -> DataLoader:
    """The DataLoader of a training run: ``sampler``'s tickets in batches of its local batch,
    decoded (and masked) by ``workers`` persistent processes (0: in this process). Its
    batches depend only on the sampler's position, not on ``workers``. The workers ignore
    Ctrl-C (a terminal's reaches every process of its group) and end quietly on SIGTERM: the
    training process decides how to stop, with the batch it already has."""
    return DataLoader(
        dataset,
        batch_size=sampler.local_batch,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        drop_last=True,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        generator=torch.Generator().manual_seed(seed),
        worker_init_fn=_leave_stopping_to_the_trainer if workers > 0 else None,
    )


def _leave_stopping_to_the_trainer(worker_id: int) -> None:
    """In a loader worker: Ctrl-C is ignored (the trainer finishes its step and saves), and
    SIGTERM ends the worker at once with status 0, which torch does not report as a crash
    (a worker that ignored SIGTERM would hang the exit of the process that started it)."""
    del worker_id
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_quietly)


def _exit_quietly(signum: int, frame: object) -> None:
    del signum, frame
    os._exit(0)


@contextmanager
def single_threaded_opencv() -> Iterator[None]:
    """OpenCV on one thread inside the block (the count before it restored after).

    Enter it before DataLoader workers are forked: they inherit the setting, so N workers do
    not each start a pool of OpenCV threads and contend for the cores (what ``maskgen
    augment``'s workers do). Setting it inside a forked worker instead can hang it (see
    ``maskgen.masks.transform``), so the parent does it."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def worker_error_message(exc: BaseException) -> str:
    """The original one-line message of an error re-raised from a DataLoader worker (which
    prefixes it with 'Caught ... in DataLoader worker' and the worker's traceback)."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return str(exc)
    last = lines[-1]
    _, _, message = last.partition(": ")
    return message or last
