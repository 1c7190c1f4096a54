"""Progressive distillation (Salimans & Ho 2022, Algorithm 2): a student learns to take in one DDIM step what its
teacher takes in two, so each round halves the steps a sampler needs, and the student of one round teaches the next.
A round may divide by more than two (`DistillSettings.factor`, 4 by default): the student's step then learns k of
its teacher's, fewer rounds for the same steps, each update dearer (k teacher calls).

Time is the run's own timestep grid: a round's student steps through `distilled_timesteps(T, n)` (trailing: from
T − 1, evenly, then to the clean image), its teacher through the grid of k·n, which holds the student's timesteps
and the k − 1 points between each two of them. The first teacher is the run's EMA model as the Sample panel draws
it (pushed away from the run's guide, autoguidance), stepped by DDIM with η = 0. Each round's student is written at
its end (storage/students.py), so a stopped distillation keeps its finished rounds and a new one with the same
settings goes on from them. A round lasts its updates, or its share of a time budget (`Progress`).

The student learns x̃, the x̂_0 whose one DDIM step lands where its teacher's steps land, through its sampler's clip
(`DistillSettings.loss`, "clip"): x̂_0 clipped to [−1, 1] as the sampler takes it, free past a bound x̃ sits on or
near. The paper's loss (the network's output against x̃'s, "mse") pulls such pixels back to the mean, so a briefly
taught student draws its black ground a few levels off black.

Consistency distillation (Song et al. 2023), the other method, trains one student in one run: its x̂_0 at a point of
the teacher's grid must equal its own slow-moving copy's (an EMA, μ = CONSISTENCY_EMA) at the point one teacher
step (DDIM, η = 0) further on; at the clean image the target is the teacher's x̂_0 itself. It is sampled by
the "consistency" sampler: x̂_0, fresh noise to the next timestep, x̂_0 again.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from itertools import pairwise
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save as safetensors_bytes

from diffstudio.core.data import ImageDataset
from diffstudio.core.devices import computes_bf16_natively
from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule, gather
from diffstudio.core.diffusion.timesteps import taught_timesteps
from diffstudio.core.distill_settings import DistillSettings
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.storage.atomic import atomic_write_bytes
from diffstudio.core.storage.checkpoint import RAW_PREFIX, load_denoiser, read_model_weights
from diffstudio.core.storage.run_folder import RUN_FORMAT, latest_checkpoint, parse_step, read_run_config
from diffstudio.core.storage.run_lock import RunLock
from diffstudio.core.storage.students import STUDENT_KEY, read_student_record, student_path
from diffstudio.core.train_config import TrainConfig
from diffstudio.core.training_state import read_as_run
from diffstudio.core.unet import UNet

GRAD_CLIP = 1.0  # as training's default
CONSISTENCY_EMA = 0.95  # the target network's μ (Song et al. 2023 use 0.95 for CIFAR-10's distillation)
# a target x̃ this near ±1 (6 of 255 levels) is taken as on the bound: the teacher's ODE draws a black ground a few
# levels above black, and a student taught that level spreads its error around it (shapes: a fifth of the samples'
# grounds not black; snapped, none, and 64 → 73 % pass; Fashion-MNIST's FD 18.7 → 14.6; benchmarks/README.md, "More
# updates, and a ground snapped to black" and "The ground snapped on Fashion-MNIST")
NEAR_BOUND = 0.05


@dataclass
class DistillEvent:
    round: int  # 1 … rounds
    rounds: int
    student_steps: int  # this round's student's
    update: int  # of this round, 1 … updates
    updates: int
    loss: float
    eta_s: float  # until the last round ends, at the speed so far
    saved: Path | None = None  # the round's student, at its end (or kept from an earlier distillation)


def distilled_timesteps(num_timesteps: int, n: int) -> list[int]:
    """The timesteps a student of n steps is taught at: those its sampler ("distilled") steps through."""
    return taught_timesteps(num_timesteps - 1, n, num_timesteps)


def round_grid(num_timesteps: int, n: int, k: int) -> tuple[torch.Tensor, ...]:
    """The teacher's path under each of a round's n student steps: k + 1 tensors of n timesteps, the student's t,
    the teacher's k − 1 timesteps after it, and the student's next timestep (−1: the clean image)."""
    student = [*distilled_timesteps(num_timesteps, n), -1]
    teacher = [*distilled_timesteps(num_timesteps, k * n), -1]
    if teacher[::k] != student:
        raise DiffstudioError(f"a model of {num_timesteps} timesteps has too few for a teacher of {k * n} steps: "
                              "lower the teacher's steps")
    return tuple(torch.tensor(teacher[i::k][:n]) for i in range(k + 1))


def alpha_bar(schedule: NoiseSchedule, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """ᾱ at each image's timestep index, 1 at −1 (the clean image), shaped to broadcast over `like`."""
    with_clean = torch.cat([schedule.alphas_cumprod, torch.ones(1, dtype=torch.float64)])  # index −1: the 1
    return gather(with_clean, t, like)


def denoised(schedule: NoiseSchedule, network: EpsModel, x: torch.Tensor, t: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(x̂_0 clipped to [−1, 1], the ε̂ x implies for it) at each image's t, as the samplers' DDIM (ddim_step) takes
    them."""
    return schedule.denoise(x, t, network(x, t).float(), clip=True)


def ddim_jump(schedule: NoiseSchedule, x0: torch.Tensor, eps: torch.Tensor, t_next: torch.Tensor) -> torch.Tensor:
    """x at t_next = √ᾱ' x̂_0 + √(1 − ᾱ') ε̂  (DDIM eq. 12 with η = 0)."""
    a = alpha_bar(schedule, t_next, x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


def consistency_target(schedule: NoiseSchedule, target: EpsModel, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The target network's x̂_0 at each image's t; at the clean image (t = −1) the image itself (the consistency
    function's boundary condition, f(x, 0) = x)."""
    clean = (t < 0).reshape(-1, 1, 1, 1)
    t_model = t.clamp(min=0)
    x0, _ = schedule.split_prediction(z, t_model, target(z, t_model).float())
    return torch.where(clean, z, x0)


@torch.no_grad()
def jump_target(schedule: NoiseSchedule, teacher: EpsModel, z: torch.Tensor, path: tuple[torch.Tensor, ...]
                ) -> torch.Tensor:
    """The x̃ that one DDIM step from z at path[0] needs to land where the teacher's steps along the path land
    (Algorithm 2, for two steps: x̃ = (z'' − (σ''/σ) z) / (α'' − (σ''/σ) α))."""
    z_next = z
    for t_from, t_to in pairwise(path):
        z_next = ddim_jump(schedule, *denoised(schedule, teacher, z_next, t_from), t_to)
    t, t_next = path[0], path[-1]
    a_t, a_next = alpha_bar(schedule, t, z), alpha_bar(schedule, t_next, z)
    ratio = (1 - a_next).sqrt() / (1 - a_t).sqrt()  # σ''/σ
    return (z_next - ratio * z) / (a_next.sqrt() - ratio * a_t.sqrt())


def clipped_x0_loss(schedule: NoiseSchedule, z: torch.Tensor, t: torch.Tensor, output: torch.Tensor,
                    wanted: torch.Tensor) -> torch.Tensor:
    """The error of the student's x̂_0 as its sampler takes it, clipped to [−1, 1], against the teacher's x̃, taken
    onto the bound where it is within NEAR_BOUND of it; weighted per timestep as the network's own MSE weighs x̂_0
    errors, so that inside the bounds it is the plain loss. Where x̃ is on a bound (a black or white ground), an x̂_0
    past it draws the same image and costs nothing: the plain loss pulls it back to the mean, which the sampler draws
    a few levels off the bound."""
    x0, _ = schedule.split_prediction(z, t, output)
    low, high = wanted <= -1 + NEAR_BOUND, wanted >= 1 - NEAR_BOUND
    x0 = torch.where(low, x0.clamp(min=-1.0), torch.where(high, x0.clamp(max=1.0), x0))
    target = torch.where(low, -1.0, torch.where(high, 1.0, wanted))
    weight = schedule.x0_error_weight(t).float().to(z.device).reshape(-1, *[1] * (z.ndim - 1))
    return (weight * (x0 - target) ** 2).mean()


class Progress:
    """How far a distillation is: a round lasts `settings.updates` updates, or with a time budget its share of the
    minutes by the distiller's clock, counting only time spent in updates (a paused job is not in one). It sets each
    update's place in its round (the rate's decay) and the time left."""

    def __init__(self, settings: DistillSettings, rounds_to_do: int, clock: Callable[[], float]):
        self.updates, self.seconds = settings.updates, settings.round_seconds()
        self.rounds_left, self.clock = rounds_to_do, clock
        self.update, self.spent = 0, 0.0  # this round's
        self.done, self.spent_before = 0, 0.0  # the updates and seconds of the rounds done before

    def round(self) -> Iterator[int]:
        """The next round's update numbers, 1, 2, … until it is over."""
        self.update, self.spent = 0, 0.0
        while self.update == 0 or not self.round_over():
            self.update += 1
            yield self.update
        self.rounds_left -= 1
        self.done += self.update
        self.spent_before += self.spent

    @contextmanager
    def timed(self) -> Iterator[None]:
        start = self.clock()
        yield
        self.spent += self.clock() - start

    def share(self) -> float:
        """The share of the round done before this update, 0 … 1."""
        if self.seconds is None:
            return (self.update - 1) / self.updates
        return min(1.0, self.spent / self.seconds)

    def round_over(self) -> bool:
        return self.spent >= self.seconds if self.seconds is not None else self.update >= self.updates

    def planned(self) -> int:
        """The round's updates: as set, or those its time budget buys at the speed so far."""
        if self.seconds is None:
            return self.updates
        if self.round_over():
            return self.update
        return max(self.update + 1, round(self.update * self.seconds / max(self.spent, 1e-9)))

    def eta_s(self) -> float:
        """Until the last round ends, at the speed so far."""
        if self.seconds is not None:
            return max(0.0, self.seconds - self.spent) + (self.rounds_left - 1) * self.seconds
        per_update = (self.spent_before + self.spent) / (self.done + self.update)
        return per_update * (self.rounds_left * self.updates - self.update)


class Distiller:
    """One distillation of a run's latest checkpoint; `run()` yields a DistillEvent per update, as Trainer.run
    does per step (not pulling pauses it, closing it stops it: finished rounds are kept)."""

    def __init__(self, run_dir: str | Path, settings: DistillSettings, device: torch.device,
                 dataset: ImageDataset | None = None, data: str | None = None,
                 clock: Callable[[], float] = time.monotonic):
        settings.validate()
        self.run_dir, self.settings, self.device, self.clock = Path(run_dir), settings, device, clock
        self.lock = RunLock(self.run_dir)
        self.lock.acquire("distil")  # a run trained meanwhile would change its checkpoint under the student
        try:
            self.denoiser = load_denoiser(self.run_dir, device)
            if self.denoiser.class_names:
                raise DiffstudioError(f"{self.run_dir.name} is class-conditional: distilling such a run is not "
                                      "supported yet")
            first = settings.rounds()[0]
            round_grid(self.denoiser.schedule.num_timesteps, first, settings.teacher_steps // first)
            self.teacher_step = parse_step(latest_checkpoint(self.run_dir).name) or 0
            self.dataset = dataset or self.read_images(data)
        except BaseException:
            self.lock.release()
            raise
        self.autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if computes_bf16_natively(device)
                         else nullcontext())

    def read_images(self, data: str | None) -> ImageDataset:
        """The images the run learned from (or `data`), read as training read them."""
        run = read_run_config(self.run_dir)
        model = self.denoiser.config
        if "training" in run:
            config = TrainConfig.from_dict(run["training"])
            config = replace(config, data=data) if data else config
        elif data:
            config = TrainConfig(data=data, resolution=model.resolution, channels=model.channels)
        else:
            raise DiffstudioError(f"{self.run_dir.name} was not trained here, so its images are unknown: name a "
                                  "folder of such images (--data; Images in the Distil dialog)")
        if not Path(config.data).is_dir():
            raise DiffstudioError(f"the images {self.run_dir.name} learned from are gone ({config.data}): name a "
                                  "folder of such images (--data; Images in the Distil dialog)")
        return read_as_run(config, model.channels)

    def lineage(self) -> dict:
        """What a round's student depends on besides the round: the settings', and the clip loss's NEAR_BOUND (a
        student taught with another bound, or before there was one, is distilled anew, not continued)."""
        return {**self.settings.lineage(), **({"near_bound": NEAR_BOUND} if self.settings.loss == "clip" else {})}

    def kept_student(self, steps: int) -> Path | None:
        """This round's student from an earlier distillation of the same checkpoint with the same settings."""
        path = student_path(self.run_dir, steps)
        if not path.is_file():
            return None
        try:
            made = read_student_record(path)
        except DiffstudioError:
            return None
        same = made["teacher_step"] == self.teacher_step and made.get("settings", {}).get("lineage") == \
            self.lineage()
        return path if same else None

    def kept_students(self, rounds: list[int]) -> list[Path | None]:
        """The kept student of each round, up to the first round that must be distilled anew (its students would
        have another teacher)."""
        kept: list[Path | None] = []
        for n in rounds:
            kept.append(self.kept_student(n) if not kept or kept[-1] is not None else None)
        return kept

    def run(self) -> Iterator[DistillEvent]:
        try:
            yield from self._run()
        finally:
            self.lock.release()

    def _run(self) -> Iterator[DistillEvent]:
        if self.settings.method == "consistency":
            yield from self._run_consistency()
            return
        s, schedule = self.settings, self.denoiser.schedule
        rounds = s.rounds()
        teacher: EpsModel = self.denoiser.network(None, autoguidance=s.autoguidance)
        student: UNet = self.denoiser.model
        kept = self.kept_students(rounds)
        progress = Progress(s, sum(1 for path in kept if path is None), self.clock)
        for r, (n, path, teacher_n) in enumerate(zip(rounds, kept, s.teachers(), strict=True), 1):
            student = copy.deepcopy(student)
            if path is not None:
                student.load_state_dict(read_model_weights(path, "raw"))
                yield DistillEvent(r, len(rounds), n, s.updates, s.updates, math.nan, 0.0, path)
                teacher = student.eval()
                continue
            grid = round_grid(schedule.num_timesteps, n, teacher_n // n)
            student.train()
            optimizer = torch.optim.Adam(student.parameters(), lr=s.lr)
            generator = torch.Generator().manual_seed(s.seed + r)
            for update in progress.round():
                for group in optimizer.param_groups:
                    group["lr"] = s.lr * (1 - progress.share())
                with progress.timed():
                    loss = self.update(student, teacher, optimizer, grid, generator, (r - 1) * s.updates + update)
                saved = self.save(student, n, r) if progress.round_over() else None
                yield DistillEvent(r, len(rounds), n, update, progress.planned(), loss, progress.eta_s(), saved)
            teacher = student.eval()

    def _run_consistency(self) -> Iterator[DistillEvent]:
        s, schedule = self.settings, self.denoiser.schedule
        teacher: EpsModel = self.denoiser.network(None, autoguidance=s.autoguidance)
        student = copy.deepcopy(self.denoiser.model).train()
        target = copy.deepcopy(self.denoiser.model).eval().requires_grad_(False)
        grid = [*distilled_timesteps(schedule.num_timesteps, s.teacher_steps), -1]
        t_grid, t_next_grid = torch.tensor(grid[:-1]), torch.tensor(grid[1:])
        optimizer = torch.optim.Adam(student.parameters(), lr=s.lr)
        generator = torch.Generator().manual_seed(s.seed)
        progress = Progress(replace(s, updates=s.total_updates()), 1, self.clock)
        for update in progress.round():
            for group in optimizer.param_groups:
                group["lr"] = s.lr * (1 - progress.share())
            with progress.timed():
                _, z, t, t_next = self.noisy_batch((t_grid, t_next_grid), generator, update)
                with self.autocast, torch.no_grad():
                    z_next = ddim_jump(schedule, *denoised(schedule, teacher, z, t), t_next)  # one teacher step
                    wanted = consistency_target(schedule, target, z_next, t_next)
                with self.autocast:
                    x0_student, _ = schedule.split_prediction(z, t, student(z, t).float())
                loss = self.step(optimizer, student, F.mse_loss(x0_student, wanted.float()), update)
                with torch.no_grad():
                    torch._foreach_lerp_(list(target.parameters()), list(student.parameters()), 1 - CONSISTENCY_EMA)
            saved = self.save(target, s.steps, 1) if progress.round_over() else None
            yield DistillEvent(1, 1, s.steps, update, progress.planned(), loss, progress.eta_s(), saved)

    def noisy_batch(self, grid: tuple[torch.Tensor, ...], generator: torch.Generator, number: int
                    ) -> tuple[torch.Tensor, ...]:
        """Update `number`'s images, each noised to a timestep of the grid drawn for it; and the grid's other
        timesteps for each (the next one, the midpoint)."""
        s = self.settings
        x0 = self.dataset.batch_for_step(number, s.batch, s.seed).to(self.device)
        k = torch.randint(0, len(grid[0]), (len(x0),), generator=generator)
        t, *others = (g[k].to(self.device) for g in grid)
        z = self.denoiser.schedule.q_sample(x0, t, torch.randn(x0.shape, generator=generator).to(self.device))
        return x0, z, t, *others

    def update(self, student: UNet, teacher: EpsModel, optimizer: torch.optim.Optimizer,
               grid: tuple[torch.Tensor, ...], generator: torch.Generator, number: int) -> float:
        """One student update: noisy images at the round's timesteps, the teacher's steps as the target x̃; the loss
        through the sampler's clip, or the network's own (for v, Salimans & Ho's "SNR + 1" weighting)."""
        schedule = self.denoiser.schedule
        _, z, *path = self.noisy_batch(grid, generator, number)
        t = path[0]
        with self.autocast:
            wanted = jump_target(schedule, teacher, z, tuple(path)).float()
            output = student(z, t).float()
        if self.settings.loss == "clip":
            loss = clipped_x0_loss(schedule, z, t, output, wanted)
        else:
            loss = F.mse_loss(output, schedule.prediction_for(z, t, wanted).float())
        return self.step(optimizer, student, loss, number)

    def step(self, optimizer: torch.optim.Optimizer, student: UNet, loss: torch.Tensor, number: int) -> float:
        s = self.settings
        if not math.isfinite(loss.item()):
            raise DiffstudioError(f"the distillation loss became {loss.item()} at update {number}: lower the "
                                  f"learning rate (now {s.lr:g}) and distil again; finished rounds are kept")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), GRAD_CLIP)
        optimizer.step()
        return loss.item()

    def save(self, student: UNet, steps: int, round_number: int) -> Path:
        """The round's student, atomically, with what made it."""
        path = student_path(self.run_dir, steps, self.settings.method)
        path.parent.mkdir(exist_ok=True)
        made = {"steps": steps, "teacher_step": self.teacher_step, "round": round_number,
                "method": self.settings.method,
                "taught_by": "the run's model" if round_number == 1 else
                f"the student of {self.settings.teachers()[round_number - 1]} steps",
                "settings": {**asdict(self.settings), "lineage": self.lineage()},
                "model": self.denoiser.config.to_dict(), "schedule": self.denoiser.schedule.config.to_dict(),
                "created": datetime.now(timezone.utc).isoformat()}
        tensors = {RAW_PREFIX + k: v.detach().cpu().contiguous() for k, v in student.state_dict().items()}
        atomic_write_bytes(path, safetensors_bytes(tensors, metadata={"format": RUN_FORMAT,
                                                                      STUDENT_KEY: json.dumps(made)}))
        return path
