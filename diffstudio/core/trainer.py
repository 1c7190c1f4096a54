"""Training on an image folder: Algorithm 1 (L_simple) with AdamW, LR warm-up, gradient clipping and an EMA.

`Trainer.run()` is a generator yielding one `TrainEvent` per step, so the GUI
can pause (stop pulling), resume (pull again) and stop (close it) between steps,
and the CLI prints the same events. A checkpoint holds every piece of state
(weights, EMA, optimizer moments, RNG states; the data order is a function of
the step), so a resumed run continues bit-identically on the same device.
Under torchrun each process trains on its share of every batch (distributed.py).
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import statistics
import time
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from diffstudio.core.batch_choice import (
    AUTO,
    BATCHES_MEASURED,
    FULL_BATCH,
    auto_batch,
    batch_of_several_processes,
    decided_by_speed,
)
from diffstudio.core.data import ALL, DatasetReport, ImageDataset, Prefetcher
from diffstudio.core.devices import computes_bf16_natively
from diffstudio.core.diffusion.guidance import autoguided
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.samplers import final_sample, run_sampler
from diffstudio.core.diffusion.sampling import seeded_generator, seeded_start
from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule, ScheduleConfig
from diffstudio.core.distributed import SINGLE, Ranks, wrap_for_training
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.evaluate import CurveMeasure
from diffstudio.core.images import image_grid, to_pil, to_uint8, to_uint8_tensor
from diffstudio.core.settings import check_stored
from diffstudio.core.storage.atomic import atomic_write_bytes, atomic_write_json
from diffstudio.core.storage.checkpoint import (
    RAW_PREFIX,
    build_model,
    read_checkpoint,
    read_guide,
    run_config,
    run_model_configs,
    strip_prefix,
    write_checkpoint,
    write_guide,
)
from diffstudio.core.storage.run_folder import (
    CONFIG_FILE,
    GUIDE_FILE,
    LOG_FILE,
    PREVIEW_FILE,
    checkpoint_path,
    is_training_state,
    latest_checkpoint,
    read_run_config,
)
from diffstudio.core.storage.run_lock import RunLock
from diffstudio.core.time_budget import (
    budget_spent,
    check_budget_left,
    guide_point,
    in_low_res_phase,
    learning_rate,
    progress,
    steps_at_this_speed,
    warm_up_beyond_budget,
)
from diffstudio.core.train_config import TrainConfig
from diffstudio.core.training_data import load_training_folder
from diffstudio.core.training_state import checkpoint_tensors, read_as_run, restore_state, resume_changes
from diffstudio.core.unet import UNet, preset

LABEL_DROP_STREAM = 3  # a stream of seeded_generator(seed, stream, step), beside data.py's epoch and flip streams
DROPOUT_STREAM = 4  # ranks other than 0 reseed their dropout from it, so no two ranks draw the same masks
PREVIEW_SEED = 1234  # previews always start from the same noise, so successive ones are comparable
EVAL_SEED = 4321  # and so do the samples the curves measure
BUDGET_CHECK_STEPS = 5  # a time budget is checked against the warm-up after this many steps' speed


@dataclass
class TrainEvent:
    step: int
    total: int
    loss: float
    lr: float
    images_per_s: float
    eta_s: float
    preview: np.ndarray | None = None  # (H, W, C) uint8 grid of EMA samples, on preview steps
    checkpoint: Path | None = None  # on save steps
    stopped: bool = False  # the last event after request_stop(): saved, and the run ends here
    metrics: dict[str, float] | None = None  # on eval steps: evaluate.CurveMeasure's numbers


class TrainingStopped(DiffstudioError):
    """Training cannot go on (NaN loss, out of memory); the last checkpoint is intact."""


class Trainer:
    def __init__(self, run_dir: Path, config: TrainConfig, model: UNet, schedule: NoiseSchedule,
                 dataset: ImageDataset, device: torch.device, ranks: Ranks = SINGLE):
        self.run_dir, self.config, self.schedule, self.dataset, self.device = run_dir, config, schedule, dataset, device
        self.low_res_schedule = schedule if config.low_res_snr_shift == 1 else NoiseSchedule(
            replace(schedule.config, snr_shift=schedule.config.snr_shift * config.low_res_snr_shift))
        self.ranks = ranks
        self.memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        self.model = model.to(device, memory_format=self.memory_format).train()
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False) if ranks.is_main else None
        self.forward_model = wrap_for_training(self.model, ranks, device)
        # fused: 5.3 against 15.6 ms per `tiny` step on a 2-core CPU, where the default kernel took a sixth of a step
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                           fused=device.type in ("cpu", "cuda"))
        self.noise_generator = torch.Generator(device).manual_seed(config.seed)
        torch.manual_seed(config.seed)  # dropout draws from the global generator
        self.step = 0
        self.train_seconds = 0.0  # time spent training this run, resumes included: what a time budget counts
        self.clock = time.monotonic  # tests put a clock of their own here
        self.last_loss = float("nan")
        self.stop_requested = False
        self.notes: list[str] = []  # what a user should be told about this run's start (the CLI prints them)
        self.prefetcher: Prefetcher | None = None
        self.run_lock: RunLock | None = None
        self.curve_measure: CurveMeasure | None = None  # made at the first eval step
        self.has_guide = (run_dir / GUIDE_FILE).is_file()
        self.guide: UNet | None = None  # the guide's weights, for the previews (a damaged one stays None)
        self.decorrelate_dropout()

    def decorrelate_dropout(self) -> None:
        """Every rank restores rank 0's generator state; the others then draw their own dropout masks."""
        if self.ranks.rank:
            key = (self.config.seed, DROPOUT_STREAM, self.ranks.rank, self.step)
            torch.manual_seed(seeded_generator(*key).initial_seed())

    def hold_lock(self) -> None:
        self.run_lock = RunLock(self.run_dir)
        self.run_lock.acquire()

    def check_run_folder(self) -> None:
        """A run folder renamed or deleted behind our back (by hand) is never re-created: training stops."""
        if self.ranks.is_main and not (self.run_dir / CONFIG_FILE).is_file():
            raise TrainingStopped(f"the run folder {self.run_dir} was moved or deleted while training, so training "
                                  f"stopped at step {self.step} without writing anything there")

    def note_in_log(self, entry: dict) -> None:
        if not self.ranks.is_main:
            return
        self.check_run_folder()
        with open(self.run_dir / LOG_FILE, "a", encoding="utf-8") as log:
            log.write(json.dumps({"step": self.step, **entry, "time": time.time()}) + "\n")

    # --- making and reopening runs ---

    @classmethod
    def create(cls, run_dir: str | Path, config: TrainConfig, device: torch.device,
               dataset: ImageDataset | None = None, report: DatasetReport | None = None,
               ranks: Ranks = SINGLE, images_per_s: Mapping[int, float] | None = None) -> Trainer:
        """A new run: load the data, build the model, write config.json and the step-0 checkpoint (rank 0).
        `images_per_s`: speeds already measured for these settings, by batch (choose_batch)."""
        run_dir = Path(run_dir)
        config.validate()
        ranks.check_batch(batch_of_several_processes(config.batch))
        if run_dir.exists():
            raise DiffstudioError(f"a run already exists at {run_dir}: resume it, or choose another name")
        ranks.barrier()  # every rank has looked before rank 0 makes the folder
        if dataset is None:
            dataset, report = load_training_folder(config)
        batch_was_auto, patch_was_auto = config.batch == AUTO, config.patch_size == AUTO
        config = replace(config.for_folder(dataset.channels), patch_size=config.patch_on(device.type))
        config = replace(config, batch=choose_batch(config, dataset.channels, device, ranks.distributed, images_per_s))
        unet_config = preset(config.preset, config.resolution, dataset.channels, config.patch_size)
        if config.dropout is not None:
            unet_config = replace(unet_config, dropout=config.dropout)
        if dataset.class_names:  # K classes and "no class"
            unet_config = replace(unet_config, num_class_embeds=len(dataset.class_names) + 1)
        schedule_config = schedule_config_for(config)
        torch.manual_seed(config.seed)
        trainer = cls(run_dir, config, UNet(unet_config), NoiseSchedule(schedule_config), dataset, device, ranks)
        if patch_was_auto and config.patch_size > 1:
            inner = config.resolution // config.patch_size
            trainer.notes.append(f"patch {config.patch_size} (auto): on a CPU the U-Net computes at {inner} × {inner}, "
                                 "about four times cheaper a step, which did better in our study in a time budget "
                                 "(--patch-size 1: at the full resolution)")
        if batch_was_auto and config.batch < FULL_BATCH:
            trainer.notes.append(f"batch {config.batch} (auto): {config.minutes:g} minutes buy few steps of "
                                 f"{FULL_BATCH} on this machine, and the same images in more, smaller steps did "
                                 "better in our study")
        if ranks.is_main:
            run_dir.mkdir(parents=True)
            trainer.hold_lock()
            atomic_write_json(run_dir / CONFIG_FILE, run_config(
                unet_config, schedule_config, training=asdict(config),
                data=report.as_dict() if report else None, created=datetime.now(timezone.utc).isoformat(),
                **({"classes": list(dataset.class_names)} if dataset.class_names else {}),
            ))
        trainer.save()
        return trainer

    @classmethod
    def resume(cls, run_dir: str | Path, device: torch.device, steps: int | None = None,
               changes: dict | None = None, dataset: ImageDataset | None = None, ranks: Ranks = SINGLE) -> Trainer:
        """Reopen a run at its latest checkpoint, with any number of ranks. `steps` may set a new total; `changes`
        may set any of RESUME_CHANGES (after an out-of-memory or NaN stop, say): they are recorded in config.json
        and log.jsonl, and the continuation is then no longer bit-identical to an uninterrupted run."""
        run_dir = Path(run_dir)
        if not (run_dir / CONFIG_FILE).is_file():
            raise DiffstudioError(f"no run at {run_dir} to resume: start it without --resume")
        lock = RunLock(run_dir) if ranks.is_main else None
        if lock:
            lock.acquire("resume")
        try:
            return cls._resume_locked(run_dir, device, steps, changes or {}, dataset, lock, ranks)
        except BaseException:
            if lock:
                lock.release()
            raise

    @classmethod
    def _resume_locked(cls, run_dir: Path, device: torch.device, steps: int | None, changes: dict,
                       dataset: ImageDataset | None, lock: RunLock | None, ranks: Ranks) -> Trainer:
        run = read_run_config(run_dir)
        if "training" not in run:
            raise DiffstudioError(f"{run_dir} was not made by training (imported?), so it has nothing to resume")
        try:
            check_stored(TrainConfig, run["training"], f"{run_dir / CONFIG_FILE}, training")
        except DiffstudioError as e:
            raise DiffstudioError(f"{e}. Edited by hand? Put the value back, or start a new run") from None
        config = TrainConfig.from_dict(run["training"])
        changes = resume_changes(config, {**changes, **({"steps": steps} if steps is not None else {})})
        config = replace(config, **changes)
        config.validate()
        ranks.check_batch(config.batch)
        unet_config, schedule_config = run_model_configs(run, run_dir)
        checkpoint = latest_checkpoint(run_dir)
        tensors, state = read_checkpoint(checkpoint)
        if not is_training_state(state):
            raise DiffstudioError(f"{run_dir} holds sampling weights only, no training state, so it cannot be "
                                  "resumed: start a new run (the demo is such a run)")
        if changes and ranks.is_main:
            changed = {"step": int(state["step"]), "time": datetime.now(timezone.utc).isoformat(), **changes}
            history = run.get("resumed_with_changes", []) + [changed] if set(changes) - {"steps"} else None
            atomic_write_json(run_dir / CONFIG_FILE, {**run, "training": {**run["training"], **asdict(config)},
                                                      **({"resumed_with_changes": history} if history else {})})
        dataset = read_as_run(config, unet_config.channels, dataset)
        if list(dataset.class_names) != run.get("classes", []):
            raise DiffstudioError(f"the class folders of {config.data} are now {list(dataset.class_names)}, but the "
                                  f"run learned {run.get('classes', [])}: put them back, or start a new run")
        model = build_model(unet_config, strip_prefix(tensors, RAW_PREFIX), checkpoint)
        trainer = cls(run_dir, config, model, NoiseSchedule(schedule_config), dataset, device, ranks)
        trainer.run_lock = lock
        if ranks.is_main:  # before the RNG states are restored: building a model draws initial weights
            guide = read_guide(run_dir, unet_config, int(state["step"]) + 1)
            trainer.guide = None if guide is None else guide.to(device).eval()
        restore_state(trainer, tensors, state)
        check_budget_left(config, trainer.train_seconds)
        if set(changes) - {"steps"}:
            trainer.note_in_log({"event": "resumed with changes", **changes})
        return trainer

    # --- one step of Algorithm 1 ---

    def lr_at(self, step: int) -> float:
        return learning_rate(self.config, step, self.train_seconds)

    def autocast(self):
        precision = self.config.precision
        bf16 = precision == "bfloat16" or (precision == "auto" and computes_bf16_natively(self.device))
        return torch.autocast(self.device.type, dtype=torch.bfloat16) if bf16 else nullcontext()

    def train_step(self) -> float:
        if self.prefetcher is None:
            self.prefetcher = Prefetcher(self.batch_for_step, self.step)
        x0, labels = self.prefetcher.get()
        x0, schedule = self.at_step_resolution(x0.to(self.device, memory_format=self.memory_format,
                                                     non_blocking=True))
        labels = None if labels is None else labels.to(self.device)
        batch, share = self.config.batch, self.ranks.share(self.config.batch)
        # the whole batch's t and ε on every rank, each training on its rows: together, one process's draw
        t = self.draw_timesteps(batch)[share]
        noise = torch.randn((batch, *x0.shape[1:]), device=self.device, generator=self.noise_generator)[share]
        try:
            with self.autocast():
                output = self.forward_model(schedule.q_sample(x0, t, noise), t, labels)
            loss = self.loss(output.float(), schedule.training_target(x0, t, noise), t, schedule)
            loss_value = self.ranks.mean(loss.detach()).item()  # one device sync per step
            self.check_finite(loss_value, "loss")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.check_finite(grad_norm.item(), "gradient norm")
        except torch.OutOfMemoryError as e:
            raise TrainingStopped(f"out of GPU memory at batch {self.config.batch}, {self.config.resolution}px: "
                                  f"lower the batch size and resume; {self.last_checkpoint_text()}") from e
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.step)
        self.optimizer.step()
        self.update_ema()
        self.step += 1
        self.last_loss = loss_value
        return loss_value

    def at_step_resolution(self, x0: torch.Tensor) -> tuple[torch.Tensor, NoiseSchedule]:
        """The step's images and the schedule that noises them: in the curriculum's first share, the images at half
        the resolution (layout and colours, a step 4× cheaper) and its own schedule; else as they are."""
        if in_low_res_phase(self.config, self.step, self.train_seconds):
            return F.avg_pool2d(x0, 2), self.low_res_schedule
        return x0, self.schedule

    def draw_timesteps(self, batch: int) -> torch.Tensor:
        """The step's t of every image (Algorithm 1, line 3, or the noise levels `timestep_sampling` prefers)."""
        T = self.schedule.num_timesteps
        if self.config.timestep_sampling == "uniform":
            return torch.randint(0, T, (batch,), device=self.device, generator=self.noise_generator)
        n = torch.randn(batch, device=self.device, generator=self.noise_generator)
        return (torch.sigmoid(n) * T).long().clamp(max=T - 1)  # logit-normal

    def batch_for_step(self, step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Step `step`'s images and, for a class-conditional model, their class ids, a share p_uncond of them
        replaced by "no class" so that the same network learns the unconditional model too; all seeded by step."""
        c = self.config
        share = self.ranks.share(c.batch)
        x0 = self.dataset.batch_for_step(step, c.batch, c.seed, share)
        labels = self.dataset.labels_for_step(step, c.batch, c.seed)
        if labels is None:
            return x0, None
        dropped = torch.rand(len(labels), generator=seeded_generator(c.seed, LABEL_DROP_STREAM, step)) < c.p_uncond
        return x0, labels.masked_fill(dropped, self.model.config.null_class)[share]

    def loss(self, output: torch.Tensor, target: torch.Tensor, t: torch.Tensor, schedule: NoiseSchedule
             ) -> torch.Tensor:
        if self.config.loss_weighting == "uniform":
            return F.mse_loss(output, target)  # L_simple (eq. 14)
        per_sample = F.mse_loss(output, target, reduction="none").mean(dim=(1, 2, 3))
        return (per_sample * schedule.min_snr_weight(t, self.config.min_snr_gamma)).mean()

    def check_finite(self, value: float, what: str) -> None:
        if not math.isfinite(value):
            raise TrainingStopped(
                f"the {what} became {value} at step {self.step + 1}, so training stopped; "
                f"{self.last_checkpoint_text()}. Lower the learning rate (now {self.config.lr:g}) and resume"
            )

    def last_checkpoint_text(self) -> str:
        return f"the last checkpoint ({latest_checkpoint(self.run_dir).name}) is intact"

    @torch.no_grad()
    def update_ema(self) -> None:
        if self.ema is None:
            return
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        ema_params, params = list(self.ema.parameters()), list(self.model.parameters())
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)

    # --- the step loop as events ---

    def run(self) -> Iterator[TrainEvent]:
        """Train to config.steps, yielding after every step; previews and checkpoints on their intervals."""
        try:
            yield from self._run()
        except OSError as e:  # the log, on a full disk or a folder that went away
            raise TrainingStopped(f"could not write to {self.run_dir} ({e.strerror or e}) at step {self.step}, so "
                                  f"training stopped; {self.last_checkpoint_text()}. Free some disk space and "
                                  "resume") from e

    def request_stop(self) -> None:
        """Save and end after the current step (Ctrl-C): run() yields one last event with `stopped` set. With
        several ranks, all stop at the same step, whichever of them was asked."""
        self.stop_requested = True

    def finished(self) -> bool:
        return budget_spent(self.config, self.step, self.train_seconds)

    def check_budget_covers_warm_up(self, done: int, seconds: float) -> None:
        """Said early, and every rank decides together, so all of them stop."""
        if self.ranks.any(self.config.steps < self.config.warmup):
            raise warm_up_beyond_budget(self.config, done, seconds)

    def _run(self) -> Iterator[TrainEvent]:
        start_step, start_seconds = self.step, self.train_seconds
        main = self.ranks.is_main
        lap = self.clock()

        def count_time() -> None:
            nonlocal lap
            now = self.clock()
            self.train_seconds += now - lap
            lap = now

        # rank 0 writes; a line at a time, so the file shows each step as it ends (a slow machine's too)
        with open(self.run_dir / LOG_FILE if main else os.devnull, "a", buffering=1, encoding="utf-8") as log:
            if self.finished():
                return
            while True:  # to the step every rank agrees is the last: each one's clock may pass the budget first
                loss = self.train_step()
                count_time()
                self.config.steps = steps_at_this_speed(self.config, self.step, self.train_seconds,
                                                        self.step - start_step, self.train_seconds - start_seconds)
                elapsed = self.train_seconds - start_seconds
                done = self.step - start_step
                left = (60 * self.config.minutes - self.train_seconds if self.config.minutes is not None
                        else elapsed / done * (self.config.steps - self.step))
                lr = self.optimizer.param_groups[0]["lr"]  # this step's
                event = TrainEvent(self.step, self.config.steps, loss, lr,
                                   done * self.config.batch / elapsed if elapsed > 0 else 0.0, max(0.0, left))
                log.write(json.dumps({"step": self.step, "loss": loss, "lr": event.lr, "time": time.time()}) + "\n")
                last = self.ranks.any(self.finished())  # a time budget ends at one step on every rank
                early = done == BUDGET_CHECK_STEPS or (last and done < BUDGET_CHECK_STEPS)
                if self.config.minutes is not None and early:
                    self.check_budget_covers_warm_up(done, elapsed)
                event.stopped = self.ranks.any(self.stop_requested)
                if main and self.wants_guide():
                    self.keep_guide()
                if main and (self.step % self.config.preview_every == 0 or last):
                    event.preview = self.write_preview()
                if main and self.config.eval_every and (self.step % self.config.eval_every == 0 or last):
                    event.metrics = self.measure()
                    log.write(json.dumps({"step": self.step, **event.metrics}) + "\n")
                if self.step % self.config.save_every == 0 or last or event.stopped:
                    log.flush()
                    event.checkpoint = self.save()
                count_time()
                yield event
                lap = self.clock()  # a pause between two steps (the GUI's) is not training time
                if event.stopped or last:
                    return

    # --- previews and checkpoints ---

    @torch.no_grad()
    def ema_samples(self, seed: int, count: int) -> torch.Tensor:
        """EMA samples by the preview sampler from fixed noise (and fixed per-step noise)."""
        c = self.ema.config
        x, generators = seeded_start(seed, count, c.channels, c.resolution, self.device)
        settings = SamplerSettings(self.config.preview_sampler, self.config.preview_steps)
        with self.autocast():
            return final_sample(run_sampler(self.preview_network(settings), self.schedule, x, generators, settings))

    def preview_network(self, settings: SamplerSettings) -> EpsModel:
        """The EMA weights as the Sample panel draws them: pushed away from the run's guide once it has one."""
        if self.guide is None:
            return self.ema
        return autoguided(self.ema, self.guide, settings.autoguidance, self.schedule)

    def preview(self) -> np.ndarray:
        """The preview grid: the same noise every time, so successive previews compare."""
        return image_grid(to_uint8(self.ema_samples(PREVIEW_SEED, self.config.preview_count)))

    def measure(self) -> dict[str, float]:
        """KID and the copied share of eval_samples EMA samples against the training images: one point of the
        curves the Train panel draws beside the loss."""
        if self.curve_measure is None:
            self.curve_measure = CurveMeasure(self.dataset.centre_images())
        return self.curve_measure(to_uint8_tensor(self.ema_samples(EVAL_SEED, self.config.eval_samples)).cpu())

    def write_preview(self) -> np.ndarray:
        grid = self.preview()
        self.check_run_folder()
        buffer = io.BytesIO()
        to_pil(grid).save(buffer, format="PNG")
        atomic_write_bytes(self.run_dir / PREVIEW_FILE, buffer.getvalue())
        return grid

    def wants_guide(self) -> bool:
        return (not self.has_guide and self.config.keeps_guide()
                and guide_point(self.config)[0] <= progress(self.config, self.step, self.train_seconds))

    def keep_guide(self) -> None:
        """The EMA weights of this step, kept as the run's guide: sampling pushes away from them (autoguidance)."""
        self.check_run_folder()
        write_guide(self.run_dir, self.step, self.ema.state_dict())
        self.guide, self.has_guide = copy.deepcopy(self.ema), True

    def save(self) -> Path:
        """Write this step's checkpoint (rank 0; the other ranks wait for it) and return its path."""
        if self.ranks.is_main:
            if self.step > 0:  # at step 0 the folder is being made
                self.check_run_folder()
            state = {"loss": self.last_loss, "param_groups": self.optimizer.state_dict()["param_groups"],
                     "saved": datetime.now(timezone.utc).isoformat(), "train_seconds": self.train_seconds}
            write_checkpoint(self.run_dir, self.step, checkpoint_tensors(self), state, keep=self.config.keep)
        self.ranks.barrier()
        return checkpoint_path(self.run_dir, self.step)

    def close(self) -> None:
        if self.prefetcher is not None:
            self.prefetcher.close()
            self.prefetcher = None
        if self.run_lock is not None:
            self.run_lock.release()
            self.run_lock = None


def schedule_config_for(config: TrainConfig) -> ScheduleConfig:
    return ScheduleConfig(num_timesteps=config.num_timesteps, beta_schedule=config.beta_schedule,
                          prediction_type=config.prediction_type, rescale_betas_zero_snr=config.zero_terminal_snr,
                          snr_shift=config.snr_shift)


# --- the speed of a step here: the Train panel shows it, and --batch auto chooses by it (batch_choice.py) ---

SPEED_STEPS = 3  # timed, after one untimed step (allocations, kernel choice)


class RandomImages:
    """Stands in for a data set when only the speed of a step matters."""

    def __init__(self, resolution: int):
        self.resolution = resolution

    def batch_for_step(self, step: int, batch_size: int, seed: int, share: slice = ALL) -> torch.Tensor:
        return torch.rand(batch_size, 3, self.resolution, self.resolution)[share] * 2 - 1

    def labels_for_step(self, step: int, batch_size: int, seed: int) -> None:
        return None


def measure_steps_per_minute(config: TrainConfig, device: torch.device) -> Iterator[float]:
    """Steps per minute of `config`'s model, batch and precision on `device`: the median so far, after each timed
    step. A DiffstudioError where the settings or the device are refused."""
    config = replace(config, data="")
    config.validate()
    config = replace(config, patch_size=config.patch_on(device.type))
    model = UNet(preset(config.preset, config.resolution, patch_size=config.patch_size))
    trainer = Trainer(Path(), config, model, NoiseSchedule(), RandomImages(config.resolution), device)
    try:
        trainer.train_step()
        durations = []
        for _ in range(SPEED_STEPS):
            start = time.perf_counter()
            trainer.train_step()
            durations.append(time.perf_counter() - start)
            yield 60.0 / statistics.median(durations)
    finally:
        trainer.close()


def images_per_s(config: TrainConfig, device: torch.device, batch: int) -> float:
    *_, steps_per_minute = measure_steps_per_minute(replace(config, batch=batch), device)
    return steps_per_minute * batch / 60


def choose_batch(config: TrainConfig, channels: int, device: torch.device, distributed: bool = False,
                 measured: Mapping[int, float] | None = None) -> int:
    """`config.batch`, or for `--batch auto` the batch chosen by the speeds measured here (batch_choice.py): those
    `measured` already for these settings (the Train panel's, so that the run trains with the batch the panel said:
    near the choice's threshold two measurements can fall either side), the others measured now. Several processes train
    with 32: their measured speeds could differ and choose different batches."""
    if distributed:
        return batch_of_several_processes(config.batch)
    if config.batch != AUTO:
        return config.batch
    patch_size = config.patch_on(device.type)
    if not decided_by_speed(config.minutes, config.preset, channels, config.resolution, patch_size):
        return FULL_BATCH
    measured = measured or {}
    speeds = {batch: measured.get(batch) or images_per_s(config, device, batch) for batch in BATCHES_MEASURED}
    return auto_batch(config.minutes, config.preset, channels, config.resolution, patch_size, speeds)
