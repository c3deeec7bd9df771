"""The training loop: ``train(config) -> RunSummary``.

One path for every setting: CPU or CUDA, fp32/bf16/fp16, one process or many under
``torchrun`` (DistributedDataParallel; NCCL on GPU, gloo on CPU), with the ArcFace class centres
replicated or sharded across ranks. Only rank 0 writes files. ``RUN/last.pt`` (and
``RUN/step_N.pt`` every ``save_every`` steps) hold everything needed to resume exactly: weights,
optimizer, scheduler, grad scaler, every rank's RNG state and the data position.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from maskgen.atomic import make_folder
from maskgen.errors import (
    CheckpointError,
    ConfigError,
    MaskgenError,
    OutputError,
    TrainingError,
    no_such_file,
)
from maskgen.masks import MaskAugment
from maskgen.nn.checkpoint import link_checkpoint, read_checkpoint, write_checkpoint
from maskgen.nn.embedder import Embedder
from maskgen.nn.models import FaceNet, load_backbone_weights
from maskgen.train.augment import build_augment
from maskgen.train.auto import resolve_auto
from maskgen.train.config import PRESETS, TrainConfig, write_config_json
from maskgen.train.data import (
    EpochSampler,
    FaceDataset,
    TrainData,
    load_online_masker,
    open_train_data,
    single_threaded_opencv,
    training_loader,
    worker_error_message,
)
from maskgen.train.distributed import (
    DistContext,
    all_gather_objects,
    all_reduce_sum,
    init_distributed,
)
from maskgen.train.heads import ArcFaceHead
from maskgen.train.trainer import Trainer, resolve_precision
from maskgen.train.validation import check_val_sets, validate_bin
from maskgen.words import count_of

logger = logging.getLogger(__name__)

_RESUME_FIXED = (
    "network",
    "ema_decay",
    "embedding_size",
    "dropout",
    "batch_size",
    "seed",
    "masked_prob",
    "online_mask",
    "mask_types",
    "color_prob",
    "texture_prob",
    "wear_classes",
    "wear",
    "augment",
    "mask_weight",
    "mask_smoothing",
    "clip_grad_norm",
    "lr",
    "lr_reference_batch",
    "schedule",
    "lr_milestones",
    "lr_gamma",
    "poly_power",
    "warmup_steps",
    "momentum",
    "weight_decay",
    "margin",
    "scale",
    "precision",
)
"""Settings a resumed run must keep: changing them would not continue the same run. ``steps`` /
``epochs`` may grow; logging, saving, validation and worker settings may change freely."""

_STATS = ("loss", "loss_arcface", "loss_mask", "mask_correct", "nonfinite", "masked_correct")


@dataclass
class RunSummary:
    """What a finished run produced. ``model`` is the trained network (unwrapped, in train
    mode; with ``ema_decay``, the weights' moving average, as saved) and ``arcface`` this
    rank's class centres; both are left out of the repr, which printed every layer of the
    network after the figures."""

    output: Path
    step: int
    epoch: int
    """Epochs finished (one under way not counted), as the checkpoint stores it; the rows'
    ``epoch`` is the one under way, counted from 1."""
    last_checkpoint: Path | None
    metrics: dict[str, Any] | None
    validation: list[dict[str, Any]] = field(default_factory=list)
    start_step: int = 0
    """The step the run started from (a resumed run's checkpoint step; 0 for a new run):
    ``step == start_step`` on a resumed run means it was already at ``steps``."""
    model: FaceNet | None = field(default=None, repr=False)
    arcface: ArcFaceHead | None = field(default=None, repr=False)


def train(
    config: TrainConfig, *, on_log: Callable[[dict[str, Any]], None] | None = None
) -> RunSummary:
    """Train Multi-Task ArcFace as ``config`` says; ``on_log`` receives every metrics row on
    rank 0 (the CLI prints them). Under ``torchrun`` every process calls this.

    Settings left None (``batch_size``, ``workers``, ``threads``) are chosen for the data and
    the machine (:func:`maskgen.train.auto.resolve_auto`) and announced in a row of kind
    ``"setup"``. The caller's RNG states, torch's thread count and cuDNN's benchmark switch are
    left as they were.
    """
    ctx = init_distributed(config.device)
    benchmark = torch.backends.cudnn.benchmark
    threads = torch.get_num_threads()
    try:
        devices = [ctx.device.index] if ctx.device.type == "cuda" else []
        torch.backends.cudnn.benchmark = ctx.device.type == "cuda"  # fixed input shapes
        with torch.random.fork_rng(devices=devices):
            return _Run(config, ctx, on_log).run()
    finally:
        torch.backends.cudnn.benchmark = benchmark
        torch.set_num_threads(threads)
        ctx.close()


def _refuse_files_of_no_run(output: Path) -> None:
    """OutputError where ``output`` holds a ``config.json`` or ``metrics.jsonl`` that no
    maskgen run wrote: a new run replaces both (``-o .`` in a project folder replaced its
    config.json without a word). A run that stopped before its first checkpoint (its own
    config.json, no last.pt) is started over, as before."""
    config_json = output / "config.json"
    if _is_run_config(config_json):
        return
    for path in (config_json, output / "metrics.jsonl"):
        if path.exists():
            raise OutputError(
                f"{path}: exists and is not a maskgen run's, which a new run would replace; "
                "choose another output",
                parameters={"another output": "output"},
            )


def _is_run_config(path: Path) -> bool:
    """Whether ``path`` is a config.json that :func:`write_config_json` wrote."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(payload, dict) and "maskgen_version" in payload and "config" in payload


class _Run:
    """One call of ``train``: the state that lives only as long as the loop."""

    def __init__(
        self,
        config: TrainConfig,
        ctx: DistContext,
        on_log: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        self.config = config
        self.ctx = ctx
        self.on_log = on_log
        self.output = Path(config.output)
        self.step = 0
        self.epoch = 0  # epochs finished: with batch_in_epoch, the data position to resume at
        self.batch_in_epoch = 0
        self.total_epochs = 0
        self.threshold: float | None = None
        self.last_saved: tuple[int, Path] | None = None
        self.last_row: dict[str, Any] | None = None
        self.validation_rows: list[dict[str, Any]] = []
        # the logging window under way (set by the loop) and its sums (_STATS)
        self.window: _Window | None = None
        self.window_stats: torch.Tensor | None = None
        self.resumed_window: dict[str, Any] | None = None
        self.stored_config = config
        self.metrics_file: TextIO | None = None
        self.tb: Any = None
        self.started = time.perf_counter()

    # --- setup ---------------------------------------------------------------------------

    def run(self) -> RunSummary:
        config = self.config
        self._check_output()
        data = open_train_data(config.data, config.masked, wear_classes=config.wear_classes)
        if data.num_classes < 2:
            raise TrainingError(
                f"{config.data}: {data.num_classes} identity; ArcFace needs at least 2"
            )
        config, chosen = self._choose_settings(len(data))
        preset_batch = PRESETS.get(config.preset or "", {}).get("batch_size")
        if config.batch_size == preset_batch and preset_batch > len(data):
            raise TrainingError(  # the preset's batch, which the user may never have typed
                f"batch_size {config.batch_size} (--preset {config.preset}'s) is larger than "
                f"the dataset ({len(data)} images); give a smaller --batch-size"
            )
        masker = _online_masker(config)
        with_masks = data.twin is not None or masker is not None
        sampler = EpochSampler(
            len(data),
            config.batch_size,
            seed=config.seed,
            masked_prob=config.masked_prob if with_masks else 0.0,
            rank=self.ctx.rank,
            world_size=self.ctx.world_size,
        )
        total = config.steps or (config.epochs or 0) * sampler.batches_per_epoch
        self.total_epochs = -(-total // sampler.batches_per_epoch)  # a last one cut short counts
        torch.manual_seed(config.seed)
        trainer = Trainer(
            config,
            num_classes=data.num_classes,
            mask_head=with_masks,
            ctx=self.ctx,
            total_steps=total,
        )
        ckpt_path = self.output / "last.pt"
        if config.resume:
            self._resume(trainer, data, read_checkpoint(ckpt_path), ckpt_path)
        else:
            if config.init_from:
                fresh = load_backbone_weights(trainer.network, config.init_from)
                logger.info("initialised from %s (fresh: %s)", config.init_from, fresh or "none")
            torch.manual_seed(_rank_seed(config.seed, self.ctx.rank))
        self._announce(chosen, total, len(data), with_masks)  # the batch fits, the step is known
        trainer.wrap_distributed()
        if self.ctx.is_main:
            self._open_logs()
        try:
            with single_threaded_opencv() if masker is not None else contextlib.nullcontext():
                dataset = FaceDataset(
                    data,
                    masker,
                    wear_classes=config.wear_classes,
                    augment=build_augment(config.augment, config.rotate_limit),
                    seed=config.seed,
                )
                start_step = self.step
                with _stops_between_steps(not self.ctx.distributed) as stop:
                    self._loop(trainer, dataset, sampler, total, stop)
        finally:
            self._close_logs()
        if stop.signum is not None:  # saved: now stop as the signal would have
            signal.raise_signal(stop.signum)
        return RunSummary(
            output=self.output,
            step=self.step,
            epoch=self.epoch,
            last_checkpoint=self.last_saved[1] if self.last_saved and self.ctx.is_main else None,
            metrics=self.last_row,
            validation=self.validation_rows,
            start_step=start_step,
            model=trainer.inference_network,
            arcface=trainer.head,
        )

    def _choose_settings(self, num_samples: int) -> tuple[TrainConfig, tuple[str, ...]]:
        """Fill in the settings left to the run (batch, workers, threads) and apply the thread
        count on CPU; ``self.config`` becomes the result. Returns it and a note per choice."""
        given = self.config
        choice = resolve_auto(
            given,
            num_samples=num_samples,
            world_size=self.ctx.world_size,
            local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", "1")),
            device_type=self.ctx.device.type,
        )
        self.config = choice.config
        self.stored_config = dataclasses.replace(
            choice.config, workers=given.workers, threads=given.threads
        )  # config.json: the batch is the run's; workers and threads are chosen again on resume
        if self.ctx.device.type == "cpu" and self.config.threads is not None:
            torch.set_num_threads(self.config.threads)
        return self.config, choice.notes

    def _announce(
        self, chosen: tuple[str, ...], total: int, num_images: int, mask_head: bool
    ) -> None:
        """A ``"setup"`` row saying what the run trains, where and for how long, and what was
        chosen for it (to the log and ``on_log``, rank 0): a plain ``maskgen train`` trained
        r50 on the CPU for 300,000 steps without a word of it."""
        if self.ctx.is_main and self.step < total:  # else: nothing to train, the CLI says
            config = self.config
            row = {
                "kind": "setup",
                "step": self.step,
                "network": config.network,
                "mask_head": mask_head,
                "device": str(self.ctx.device),
                "precision": resolve_precision(config, self.ctx.device),
                "total_steps": total,
                "batch_size": config.batch_size,
                "world_size": self.ctx.world_size,
                "total_epochs": self.total_epochs,
                "images": num_images,
                "chosen": list(chosen),
            }
            logger.info(format_row(row))
            if self.on_log is not None:
                self.on_log(row)

    def _check_output(self) -> None:
        config = self.config
        if not config.data:
            raise ConfigError("data: no training .rec given", parameters={"data:": "data"})
        if not config.output:
            raise ConfigError("output: no run folder given", parameters={"output:": "output"})
        last = self.output / "last.pt"
        if config.resume and not last.is_file():
            raise CheckpointError(f"{last}: nothing to resume (no checkpoint in {self.output})")
        if not config.resume and last.exists():
            raise OutputError(
                f"{self.output}: already holds a run (last.pt); pass resume=True to continue it "
                "or choose another output",
                parameters={"resume=True": "resume", "another output": "output"},
            )
        if self.output.exists() and not self.output.is_dir():
            raise OutputError(f"{self.output}: exists and is not a folder")
        if not config.resume:
            _refuse_files_of_no_run(self.output)
        for option, paths in (("val", config.val), ("val_masked", config.val_masked)):
            for path in paths:
                if not Path(path).is_file():
                    raise no_such_file(Path(path), error=ConfigError, before=f"{option}: ")
        try:
            check_val_sets(config.val, config.val_masked)
        except ValueError as exc:
            raise ConfigError(f"val: {exc}") from exc
        if config.init_from and not config.resume and not Path(config.init_from).is_file():
            raise no_such_file(Path(config.init_from), error=CheckpointError, before="init_from: ")
        self.ctx.barrier()

    def _resume(self, trainer: Trainer, data: TrainData, ckpt: dict[str, Any], path: Path) -> None:
        old = ckpt["config"]
        new = self.config.to_dict()
        for name in _RESUME_FIXED:
            if name in old and old[name] != new[name]:
                raise ConfigError(
                    f"resume: {name} is {old[name]!r} in {path} but {new[name]!r} now; keep it "
                    "or start a new output",
                    parameters={"new output": "output"},
                )
        position = ckpt["data_position"]
        if position.get("num_samples") != len(data):
            raise CheckpointError(
                f"{path}: was trained on {position.get('num_samples')} images, "
                f"{self.config.data} has {len(data)}"
            )
        trainer.load_checkpoint_state(ckpt, path)
        self.step = int(ckpt["step"])
        self.epoch = int(position["epoch"])
        self.batch_in_epoch = int(position["batch"])
        self.threshold = ckpt["threshold"]
        self.last_saved = (self.step, path)
        self.resumed_window = position.get("log_window")  # absent in older checkpoints
        self._restore_rng(ckpt["rng"])
        epoch = f"epoch {self._epoch_shown()}/{self.total_epochs}"
        logger.info("resumed %s at step %d (%s)", path, self.step, epoch)

    def _window_for_checkpoint(self) -> dict[str, Any] | None:
        """The logging window under way, for ``data_position``: the step its sums start after
        and the sums over every rank. A run resumed from a checkpoint saved inside a window
        (``--save-every`` apart from ``--log-every``, or a stop) logged that window's first
        row over the steps after the resume alone."""
        if self.window is None or self.window_stats is None:
            return None
        summed = all_reduce_sum(self.window_stats.clone(), self.ctx).tolist()
        return {"from_step": self.window.sums_from, "sums": summed}

    def _resume_window(self, stats: torch.Tensor) -> int:
        """Load the checkpoint's logging window into ``stats`` (its sums on rank 0, zeros on
        the others, so the next sum over ranks holds them once); the step they start after,
        or the current step where there is none (an older checkpoint, a fresh run)."""
        saved = self.resumed_window
        self.resumed_window = None
        if not saved or not 0 <= int(saved.get("from_step", -1)) <= self.step:
            return self.step
        sums = saved.get("sums")
        if not isinstance(sums, list) or len(sums) != len(_STATS):
            return self.step
        if self.ctx.rank == 0:
            stats.copy_(torch.tensor(sums, dtype=stats.dtype))
        return int(saved["from_step"])

    def _restore_rng(self, rng: dict[str, Any]) -> None:
        states = rng.get("torch", [])
        if len(states) != self.ctx.world_size:
            logger.warning(
                "checkpoint holds RNG states of %d ranks, this run has %d: dropout is reseeded",
                len(states),
                self.ctx.world_size,
            )
            torch.manual_seed(_rank_seed(self.config.seed, self.ctx.rank, self.step))
            return
        torch.set_rng_state(states[self.ctx.rank].cpu())
        cuda_states = rng.get("cuda", [])
        if self.ctx.device.type == "cuda" and len(cuda_states) == self.ctx.world_size:
            torch.cuda.set_rng_state(cuda_states[self.ctx.rank].cpu(), self.ctx.device)

    def _open_logs(self) -> None:
        from torch.utils.tensorboard import SummaryWriter

        make_folder(self.output)  # only now: a refused run leaves none
        write_config_json(self.stored_config, self.output / "config.json")
        metrics = self.output / "metrics.jsonl"
        kept = _rows_up_to(metrics, self.step) if self.config.resume else []
        self.metrics_file = open(metrics, "w", encoding="utf-8")  # noqa: SIM115 (closed later)
        self.metrics_file.writelines(kept)
        self.metrics_file.flush()
        self.tb = SummaryWriter(log_dir=str(self.output / "tb"), purge_step=self.step or None)

    def _close_logs(self) -> None:
        if self.metrics_file is not None:
            self.metrics_file.close()
            self.metrics_file = None
        if self.tb is not None:
            self.tb.close()
            self.tb = None

    # --- the loop ------------------------------------------------------------------------

    def _loop(
        self,
        trainer: Trainer,
        dataset: FaceDataset,
        sampler: EpochSampler,
        total: int,
        stop: _StopRequest,
    ) -> None:
        config = self.config
        loader = training_loader(
            dataset,
            sampler,
            workers=config.workers,
            seed=config.seed,
            pin_memory=self.ctx.device.type == "cuda",
        )
        device = self.ctx.device
        stats = torch.zeros(len(_STATS), device=device)
        first_bad = torch.full((), float("inf"), device=device)
        self.window = _Window(self.step, time.perf_counter(), self._resume_window(stats))
        self.window_stats = stats
        steps_here = 0  # the steps this process ran
        second_step_from = 0.0  # when its second began (its loader warmed up by the first)
        while self.step < total:
            sampler.set_position(self.epoch, self.batch_in_epoch)
            batches = iter(loader)
            while self.step < total:
                try:
                    batch = _next_batch(batches)
                except MaskgenError as exc:
                    raise self._with_progress_saved(exc, trainer, sampler) from None
                except (RuntimeError, OSError, EOFError):
                    if stop.signum is None:
                        raise
                    # the signal reached the loader's workers too (SIGTERM to the process
                    # group, as batch systems send it), which ended before this batch came
                    # (torch's RuntimeError) or while handing it over (a connection reset):
                    # the last step is finished, so save it and stop as asked
                    self._save(trainer, sampler, numbered=False)
                    logger.info("stopped after step %d, saved to %s", self.step, self.output)
                    return
                if batch is None:
                    break
                images, identities, mask_labels = batch
                step_stats = trainer.step(images, identities, mask_labels)
                stats += step_stats
                self.step += 1
                steps_here += 1
                if steps_here == 2:
                    self._warn_of_a_long_cpu_run(time.perf_counter() - second_step_from, total)
                first_bad = torch.where(
                    step_stats[4] > 0, torch.clamp(first_bad, max=float(self.step)), first_bad
                )
                self._advance_position(sampler.batches_per_epoch)
                last = self.step == total
                if self.step % config.log_every == 0 or last:
                    self._check_finite(first_bad)
                    self._log_train(trainer, stats, self.window, total)
                    self.window = _Window(self.step, time.perf_counter(), self.step)
                paused = time.perf_counter()
                if config.val and (self.step % config.val_every == 0 or last):
                    try:
                        self._validate(trainer)
                    except MaskgenError as exc:  # a set changed since the checks at the start
                        raise self._with_progress_saved(exc, trainer, sampler) from None
                    self._leave_out_of_window(paused)
                if self.step % config.save_every == 0 or last or stop.signum is not None:
                    paused = time.perf_counter()
                    self._check_finite(first_bad)
                    self._save(trainer, sampler, numbered=self.step % config.save_every == 0)
                    self._leave_out_of_window(paused)
                if stop.signum is not None:
                    logger.info("stopped after step %d, saved to %s", self.step, self.output)
                    return
                second_step_from = time.perf_counter()

    def _leave_out_of_window(self, since: float) -> None:
        """Take the time since ``since`` (``time.perf_counter()``), spent validating or saving,
        out of the logging window's time: the rows' img/s measure training alone, where
        validation on the CPU had cut a row's img/s by half (the time left still counts it:
        :attr:`_Window.paused`)."""
        seconds = time.perf_counter() - since
        if self.window is not None:
            window = self.window
            self.window = dataclasses.replace(
                window, time=window.time + seconds, paused=window.paused + seconds
            )

    def _with_progress_saved(
        self, exc: MaskgenError, trainer: Trainer, sampler: EpochSampler
    ) -> MaskgenError:
        """``exc`` (a fault of the data that stops the run), after the steps finished since
        the last checkpoint were saved to ``last.pt``, as a stop signal saves them, its message
        saying so; unchanged where there is nothing new to save, where the weights are no
        longer finite (saving would raise its own error and hide this one), or under torchrun
        (a save gathers from every rank, and the others are not stopping)."""
        saved = self.last_saved[0] if self.last_saved else 0
        if self.ctx.distributed or self.step <= saved or not trainer.parameters_finite():
            return exc
        self._save(trainer, sampler, numbered=False)
        last = self.output / "last.pt"
        note = f"steps to {self.step} saved in {last}; --resume continues from there"
        return type(exc)(f"{exc} ({note})")

    def _epoch_shown(self) -> int:
        """The epoch the last finished step belongs to, counted from 1: "epoch 1/8" all
        through the first of 8, as Keras and most trainers print it. ``self.epoch`` counts
        finished epochs instead (0 all through the first, 1 from its last step on): the data
        position needs that count, and the rows showed it before, which read as one behind."""
        return self.epoch + (self.batch_in_epoch > 0)

    def _advance_position(self, batches_per_epoch: int) -> None:
        self.batch_in_epoch += 1
        if self.batch_in_epoch == batches_per_epoch:
            self.epoch += 1
            self.batch_in_epoch = 0

    def _check_finite(self, first_bad: torch.Tensor) -> None:
        """Stop, on every rank alike, once a loss has been NaN or infinite."""
        bad = first_bad.clone()
        if self.ctx.distributed:
            torch.distributed.all_reduce(bad, op=torch.distributed.ReduceOp.MIN)
        if math.isfinite(bad.item()):
            kept = (
                f"the last good checkpoint is {self.last_saved[1]} (step {self.last_saved[0]})"
                if self.last_saved
                else "no checkpoint was written"
            )
            raise TrainingError(
                f"loss became NaN or infinite at step {int(bad.item())}; stopped, {kept} "
                "(try a lower lr, precision bf16 or fp32, or check the data)",
                parameters={"lower lr": "lr", "precision bf16": "precision"},
            )

    def _log_train(
        self, trainer: Trainer, stats: torch.Tensor, window: _Window, total: int
    ) -> None:
        summed = all_reduce_sum(stats.clone(), self.ctx).tolist()
        stats.zero_()
        steps = self.step - window.sums_from  # the steps the sums hold (before a resume too)
        per_rank_steps = steps * self.ctx.world_size
        elapsed = max(time.perf_counter() - window.time, 1e-9)
        timed_steps = self.step - window.step  # the steps this process ran in that time
        has_mask = trainer.network.mask_fc is not None
        row = {
            "kind": "train",
            "step": self.step,
            "total_steps": total,
            "epoch": self._epoch_shown(),
            "total_epochs": self.total_epochs,
            "loss": summed[0] / per_rank_steps,
            "loss_arcface": summed[1] / per_rank_steps,
            "loss_mask": summed[2] / per_rank_steps if has_mask else None,
            "mask_acc": summed[5] / (steps * self.config.batch_size) if has_mask else None,
            "wear_acc": (
                summed[3] / (steps * self.config.batch_size)
                if has_mask and self.config.wear_classes
                else None
            ),
            "lr": trainer.last_lr,
            "samples_per_s": timed_steps * self.config.batch_size / elapsed,
            "remaining_s": (total - self.step) * (elapsed + window.paused) / max(timed_steps, 1),
            "time_s": time.perf_counter() - self.started,
        }
        self.last_row = row
        self._emit(row, "train")

    def _warn_of_a_long_cpu_run(self, step_seconds: float, total: int) -> None:
        """Once, after this process's second step (the first waits for the loader): a run on
        the CPU that would take more than a day at that step's speed says so, and what makes
        a trial shorter. A plain ``maskgen train`` is the paper's r50 for 300,000 steps: about
        20 s a step on a 2-core VM, so its first row came 20 minutes in, and months later
        its end."""
        left = (total - self.step) * step_seconds
        if self.ctx.device.type != "cpu" or not self.ctx.is_main or left <= 86_400:
            return
        logger.warning(
            "a step took %.1f s on the CPU: the %s steps left take about %s; for a trial, a "
            "smaller network (r18 or tiny) and fewer steps",
            step_seconds,
            f"{total - self.step:,}",
            format_duration(left),
        )

    def _emit(self, row: dict[str, Any], prefix: str) -> None:
        if not self.ctx.is_main:
            return
        if self.metrics_file is not None:
            self.metrics_file.write(json.dumps(row) + "\n")
            self.metrics_file.flush()
        if self.tb is not None:
            for key, value in row.items():
                if isinstance(value, int | float) and key not in ("step", "kind"):
                    self.tb.add_scalar(f"{prefix}/{key}", value, self.step)
        logger.info(format_row(row))
        if self.on_log is not None:
            self.on_log(row)

    def _validate(self, trainer: Trainer) -> None:
        if not self.ctx.is_main:
            return
        config = self.config
        masked = config.val_masked or (None,) * len(config.val)
        embedder = Embedder.from_network(
            trainer.inference_network, name=config.network, batch_size=config.val_batch_size
        )
        for index, (bin_path, twin_path) in enumerate(zip(config.val, masked, strict=True)):
            try:
                result = validate_bin(embedder, bin_path, twin_path)
            except ValueError as exc:
                raise TrainingError(f"val: {exc}") from exc
            if index == 0:
                self.threshold = result["threshold"]
            row = {"kind": "val", "step": self.step, **result}
            self.validation_rows.append(row)
            self._emit(row, f"val/{result['set']}")

    def _save(self, trainer: Trainer, sampler: EpochSampler, *, numbered: bool) -> None:
        if not trainer.parameters_finite():
            raise TrainingError(
                f"weights became NaN or infinite by step {self.step}; stopped without saving "
                "(try a lower lr)",
                parameters={"lower lr": "lr"},
            )
        state = trainer.state_for_checkpoint()
        window = self._window_for_checkpoint()  # collective, as the RNG states below
        rng = {
            "torch": all_gather_objects(torch.get_rng_state(), self.ctx),
            "cuda": all_gather_objects(
                torch.cuda.get_rng_state(self.ctx.device)
                if self.ctx.device.type == "cuda"
                else torch.empty(0, dtype=torch.uint8),
                self.ctx,
            ),
        }
        if not self.ctx.is_main or state is None:
            return
        target = self.output / (f"step_{self.step}.pt" if numbered else "last.pt")
        write_checkpoint(
            target,
            network=self.config.network,
            embedding_size=self.config.embedding_size,
            mask_head=trainer.network.mask_fc is not None,
            mask_classes=trainer.network.mask_classes,
            step=self.step,
            epoch=self.epoch,
            config=self.config.to_dict(),
            rng=rng,
            data_position={
                "epoch": self.epoch,
                "batch": self.batch_in_epoch,
                "num_samples": sampler.num_samples,
                "batch_size": sampler.batch_size,
                "seed": sampler.seed,
                "log_window": window,
            },
            threshold=self.threshold,
            **state,
        )
        last = self.output / "last.pt"
        if numbered:
            link_checkpoint(target, last)
        self.last_saved = (self.step, last)
        logger.info("saved %s", target)


@dataclass(frozen=True)
class _Window:
    """Start of a logging window: the step and wall time this process began it at (for the
    throughput), and the step its sums start after (earlier where a resumed run took over
    the sums of a window its checkpoint cut, so the row averages the same steps as an
    uninterrupted run's)."""

    step: int
    time: float
    sums_from: int
    paused: float = 0.0
    """Seconds of validating and saving taken out of ``time``: the rows' img/s leave them
    out, their time left keeps them (a run spends them too)."""


def _online_masker(config: TrainConfig) -> MaskAugment | None:
    """The run's online masker (models loaded here, before workers fork), or None."""
    if not config.online_mask:
        return None
    return load_online_masker(
        seed=config.seed,
        mask_types=config.mask_types,
        color_prob=config.color_prob,
        texture_prob=config.texture_prob,
        wear=config.wear,
    )


def _next_batch(batches: Any) -> Any:
    """The next batch, or None at the end of the epoch; an error raised in a worker comes back
    as the same error type with its original one-line message."""
    try:
        return next(batches)
    except StopIteration:
        return None
    except MaskgenError as exc:
        raise type(exc)(worker_error_message(exc)) from None
    except OSError as exc:  # the OS's error in a worker comes back as a message alone
        if exc.errno is None and "DataLoader worker" in str(exc):
            raise TrainingError(f"loading data: {worker_error_message(exc)}") from None
        raise


def _rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """Seed of a rank's torch RNG (dropout): different per rank, fixed by the run's seed."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, np.uint64)[0] >> 1)


def _rows_up_to(path: Path, step: int) -> list[str]:
    """Lines of an existing metrics.jsonl up to ``step`` (a resumed run rewrites the rest)."""
    if not path.is_file():
        return []
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and row.get("step", 0) <= step:
            kept.append(line if line.endswith("\n") else line + "\n")
    return kept


def format_row(row: dict[str, Any]) -> str:
    """One console line for a metrics row."""
    if row.get("kind") == "setup":
        return _format_setup(row)
    if row.get("kind") == "val":
        parts = [f"val {row['set']} step {row['step']}: acc {row['accuracy']:.4f}"]
        for key in ("accuracy_masked", "accuracy_mixed", "mask_accuracy"):
            if key in row:
                parts.append(f"{key.replace('accuracy_', 'acc_')} {row[key]:.4f}")
        return ", ".join(parts)
    text = (
        f"step {row['step']}/{row['total_steps']} epoch {row['epoch']}/{row['total_epochs']} "
        f"loss {row['loss']:.4f} (arcface {row['loss_arcface']:.4f}"
    )
    if row.get("loss_mask") is not None:
        text += f", mask {row['loss_mask']:.4f}) mask_acc {row['mask_acc']:.3f}"
        if row.get("wear_acc") is not None:
            text += f" wear_acc {row['wear_acc']:.3f}"
    else:
        text += ")"
    text += f" lr {row['lr']:.3g} {row['samples_per_s']:.0f} img/s"
    if row.get("remaining_s") is not None and row["step"] < row["total_steps"]:
        text += f", {format_duration(row['remaining_s'])} left"
    return text


def _format_setup(row: dict[str, Any]) -> str:
    """``training r50 with a mask head on cpu (fp32) for 300,000 steps of 64 images, 75,000
    epochs of 294``, then ``chose ...`` on a line of its own where settings were chosen."""
    ranks = f" on each of {row['world_size']} ranks" if row.get("world_size", 1) > 1 else ""
    start = f"from step {row['step']:,} to" if row["step"] else "for"
    head = "with a mask head" if row["mask_head"] else "without a mask head (no masked twin)"
    steps = count_of(row["total_steps"], "step", grouped=True)
    epochs = count_of(row["total_epochs"], "epoch", grouped=True)
    text = (
        f"training {row['network']} {head} on {row['device']} ({row['precision']}) {start} "
        f"{steps} of {row['batch_size']} images{ranks}, {epochs} of {row['images']:,}"
    )
    if row["chosen"]:
        text += "\nchose " + "; ".join(row["chosen"])
    return text


def format_duration(seconds: float) -> str:
    """``"under a minute"``, ``"12 min"``, ``"3 h 05 min"`` or ``"4 d 07 h"``."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"


class _StopRequest:
    """A SIGINT or SIGTERM that arrived during training: noted by :func:`_stops_between_steps`
    and acted on after the step under way (saved, then raised again)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.noted_at = 0.0  # time.monotonic() of the first signal


SAME_REQUEST_S = 1.0
"""Seconds after a first stop signal in which the same signal again is the same request, not
"stop at once": ``timeout -s INT`` (coreutils) and ``kill 0`` send one signal to the process
and again to its process group, microseconds apart, and where the first had been handled in
between, the second threw the finished steps away. A person's second Ctrl-C comes later."""


@contextlib.contextmanager
def _stops_between_steps(enabled: bool) -> Iterator[_StopRequest]:
    """While training, a first SIGINT or SIGTERM only asks the loop to stop after the step
    under way, so that the run is saved to ``last.pt`` whole (never a half-applied update) and
    ``--resume`` continues it; a second one more than :data:`SAME_REQUEST_S` later stops the
    run where it is, as the signal's own handler would. Off (signals act at once) in a
    multi-process run, where ranks could see the signal at different steps, and outside the
    main thread, which alone gets them."""
    request = _StopRequest()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    caught = [signum for signum, handler in previous.items() if handler is not signal.SIG_IGN]

    def restore() -> None:
        for signum in caught:
            signal.signal(signum, previous[signum])

    def note(signum: int, frame: object) -> None:
        del frame
        now = time.monotonic()
        if request.signum is None:
            request.signum, request.noted_at = signum, now
            logger.warning(
                "stopping after this step (saving the run); again, a second later, to stop at once"
            )
        elif now - request.noted_at > SAME_REQUEST_S or signum != request.signum:
            restore()
            signal.raise_signal(signum)  # to its own handler: stop at once

    for signum in caught:
        signal.signal(signum, note)
    try:
        yield request
    finally:
        restore()
