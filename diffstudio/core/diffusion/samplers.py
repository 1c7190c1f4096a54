"""The reverse process as generators: DDPM's Algorithm 2, DDIM and its inversion, and the sampler the settings
name (what the CLI and the GUI offer the user).

A sampler yields one `SamplerStep` per reverse step, so the GUI, the CLI and the tests watch the same
progression, and stopping the iteration cancels the run between steps. The step math lives beside the
schedule (`ddpm.py`, `ddim.py`); here are the loops, the model calls and the noise they draw.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice, pairwise

import numpy as np
import torch

from diffstudio.core.diffusion.ddim import ddim_step
from diffstudio.core.diffusion.ddpm import ddpm_step
from diffstudio.core.diffusion.dpm_solver import dpm_solver_pp_sde_step, dpm_solver_pp_step, solver_order
from diffstudio.core.diffusion.euler_ancestral import euler_ancestral_step
from diffstudio.core.diffusion.heun import heun_step
from diffstudio.core.diffusion.sampler_settings import SDE_SOLVERS, SOLVER_ORDER, SamplerSettings, Variance
from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule, timestep_batch
from diffstudio.core.diffusion.timesteps import Spacing, ddim_timesteps, solver_timesteps

Generators = torch.Generator | Sequence[torch.Generator]
"""One generator for a whole batch, or one per image (see `image_generators`)."""


@dataclass
class SamplerStep:
    t: int  # the timestep index just denoised (−1: nothing was, the input was clean)
    x: torch.Tensor  # the sample after this step: x_{t−1}, the final image once t = 0
    x0_pred: torch.Tensor  # x̂_0, the clean image predicted at t


# --- noise ---

def seeded_generator(*key: int) -> torch.Generator:
    """A generator seeded from integers, well mixed and the same in every process (unlike hash())."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence(list(key)).generate_state(1, np.uint64)[0] >> 1))


def image_generators(seed: int, count: int, first: int = 0) -> list[torch.Generator]:
    """One generator per image, keyed by (seed, image index): image i of a seed is the same whatever the batch
    size it is drawn in, in the CLI and in the GUI."""
    return [seeded_generator(seed, i) for i in range(first, first + count)]


def draw_noise(like: torch.Tensor, generator: Generators, shared: bool = False) -> torch.Tensor:
    """Standard normal noise shaped like `like`, drawn on the CPU so a seed means the same on any device.

    With one generator per image, each image's noise comes from its own. `shared` draws one sample and repeats
    it across the batch: a batch decoded with shared noise gives each element what it would get decoded alone
    with the same seed.
    """
    if isinstance(generator, torch.Generator):
        shape = (1, *like.shape[1:]) if shared else like.shape
        noise = torch.randn(shape, generator=generator, dtype=torch.float32)
    else:
        noise = torch.stack([torch.randn(like.shape[1:], generator=g, dtype=torch.float32)
                             for g in (generator[:1] if shared else generator)])
    return noise.to(device=like.device, dtype=like.dtype).expand_as(like)


def seeded_start(seed: int, count: int, channels: int, resolution: int, device: torch.device | str = "cpu",
                 first: int = 0) -> tuple[torch.Tensor, list[torch.Generator]]:
    """x_T for images first … first + count − 1 of a seed, each image's pure noise drawn (on the CPU) from its own
    generator, and those generators for the rest of the run."""
    generators = image_generators(seed, count, first)
    x = torch.stack([torch.randn(channels, resolution, resolution, generator=g) for g in generators])
    return x.to(device), generators


# --- the samplers ---

def ddpm_sample(
    model: EpsModel,
    schedule: NoiseSchedule,
    x: torch.Tensor,
    generator: Generators,
    start_t: int | None = None,
    variance: Variance = "beta_tilde",
    clip: bool = True,
    shared_noise: bool = False,
) -> Iterator[SamplerStep]:
    """Algorithm 2 from x at timestep index start_t (default T−1, where x is pure noise) down to x_0."""
    start_t = schedule.num_timesteps - 1 if start_t is None else start_t
    for t in range(start_t, -1, -1):
        model_output = model(x, timestep_batch(t, x))
        noise = draw_noise(x, generator, shared_noise) if t > 0 else None
        x, x0_pred = ddpm_step(schedule, x, model_output, t, noise, variance, clip)
        yield SamplerStep(t, x, x0_pred)


def ddim_sample(
    model: EpsModel,
    schedule: NoiseSchedule,
    x: torch.Tensor,
    generator: Generators | None = None,
    num_steps: int = 50,
    eta: float = 0.0,
    start_t: int | None = None,
    clip: bool = True,
    shared_noise: bool = False,
) -> Iterator[SamplerStep]:
    """DDIM from x at index start_t (default T−1) to x_0 in num_steps model calls; η = 0 is deterministic."""
    if eta > 0 and generator is None:
        raise ValueError("DDIM with η > 0 draws noise: pass a generator")
    start_t = schedule.num_timesteps - 1 if start_t is None else start_t
    timesteps = ddim_timesteps(start_t, num_steps)
    for t, t_prev in pairwise([*timesteps, -1]):
        model_output = model(x, timestep_batch(t, x))
        noise = draw_noise(x, generator, shared_noise) if eta > 0 else None
        x, x0_pred = ddim_step(schedule, x, model_output, t, t_prev, eta, noise, clip)
        yield SamplerStep(t, x, x0_pred)


def solver_path(
    schedule: NoiseSchedule, start_t: int | None, num_steps: int, spacing: Spacing
) -> list[tuple[int, int]]:
    """The (t, t_next) pairs of a solver's run from index start_t (default T−1) to the clean image (−1)."""
    start_t = schedule.num_timesteps - 1 if start_t is None else start_t
    return list(pairwise([*solver_timesteps(start_t, num_steps, spacing, schedule.alphas_cumprod.tolist()), -1]))


def dpm_solver_sample(
    model: EpsModel,
    schedule: NoiseSchedule,
    x: torch.Tensor,
    num_steps: int = 20,
    order: int = 2,
    spacing: Spacing = "trailing",
    start_t: int | None = None,
    clip: bool = True,
    generator: Generators | None = None,
    shared_noise: bool = False,
) -> Iterator[SamplerStep]:
    """DPM-Solver++(2M or 3M) from x at index start_t (default T−1) to x_0 in num_steps model calls; deterministic,
    or with a generator the SDE variant (second order at most), which draws fresh noise at every step but the
    last."""
    path = solver_path(schedule, start_t, num_steps, spacing)
    visited, x0_preds = [t for t, _ in path], []
    for i, (t, t_next) in enumerate(path):
        x0_pred, _ = schedule.denoise(x, t, model(x, timestep_batch(t, x)), clip)
        x0_preds = [*x0_preds, x0_pred][-order:]
        step_order = solver_order(i, len(path), order)
        if generator is None:
            x = dpm_solver_pp_step(schedule, x, x0_preds[-step_order:], visited[: i + 1], t_next)
        else:
            noise = draw_noise(x, generator, shared_noise) if t_next >= 0 else None
            x = dpm_solver_pp_sde_step(schedule, x, x0_preds[-step_order:], visited[: i + 1], t_next, noise)
        yield SamplerStep(t, x, x0_pred)


def euler_ancestral_sample(
    model: EpsModel,
    schedule: NoiseSchedule,
    x: torch.Tensor,
    generator: Generators,
    num_steps: int = 30,
    spacing: Spacing = "trailing",
    start_t: int | None = None,
    clip: bool = True,
    shared_noise: bool = False,
) -> Iterator[SamplerStep]:
    """Euler ancestral from x at index start_t (default T−1) to x_0 in num_steps model calls."""
    for t, t_next in solver_path(schedule, start_t, num_steps, spacing):
        model_output = model(x, timestep_batch(t, x))
        noise = draw_noise(x, generator, shared_noise) if t_next >= 0 else None
        x, x0_pred = euler_ancestral_step(schedule, x, model_output, t, t_next, noise, clip)
        yield SamplerStep(t, x, x0_pred)


def heun_sample(
    model: EpsModel,
    schedule: NoiseSchedule,
    x: torch.Tensor,
    num_steps: int = 10,
    spacing: Spacing = "trailing",
    start_t: int | None = None,
    clip: bool = True,
) -> Iterator[SamplerStep]:
    """Heun's method from x at index start_t (default T−1) to x_0: num_steps steps, 2·num_steps − 1 model calls."""
    for t, t_next in solver_path(schedule, start_t, num_steps, spacing):
        x, x0_pred = heun_step(model, schedule, x, t, t_next, clip)
        yield SamplerStep(t, x, x0_pred)


def ddim_invert(
    model: EpsModel, schedule: NoiseSchedule, x0: torch.Tensor, t: int, num_steps: int = 50
) -> torch.Tensor:
    """Encode x_0 deterministically to x at index t by running DDIM (η = 0) backwards.

    The mirror of `ddim_sample(start_t=t, num_steps=...)`: it starts where decoding ends, at ᾱ = 1 (the clean
    image), and climbs the same timesteps to t, so decoding the result gives back approximately x_0. ε at each
    step is taken at the current point, the usual approximation; from the clean image, where there is no
    timestep, at the first timestep reached (so one step is x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε_θ(x_0, t)).
    """
    path = [-1] + ddim_timesteps(t, num_steps)[::-1]
    x = x0
    for t_cur, t_next in pairwise(path):
        t_model = timestep_batch(t_next if t_cur < 0 else t_cur, x)
        x0_pred, eps = schedule.split_prediction(x, t_model, model(x, t_model))
        if t_cur < 0:
            x0_pred = x  # ᾱ = 1: x is the clean image itself
        a_next = schedule.alpha_cumprod_at(t_next)
        x = math.sqrt(a_next) * x0_pred + math.sqrt(1 - a_next) * eps
    return x


def run_sampler(
    model: EpsModel,
    schedule: NoiseSchedule,
    x: torch.Tensor,
    generator: Generators,
    settings: SamplerSettings,
    start_t: int | None = None,
    shared_noise: bool = False,
) -> Iterator[SamplerStep]:
    """The reverse process from x at index start_t (default T−1) with the sampler the settings name."""
    settings.validate()
    s = settings
    if s.kind == "ddpm":
        return ddpm_sample(model, schedule, x, generator, start_t, s.variance, s.clip, shared_noise)
    if s.kind == "ddim":
        return ddim_sample(model, schedule, x, generator, s.steps, s.eta, start_t, s.clip, shared_noise)
    if s.kind in SOLVER_ORDER:
        return dpm_solver_sample(model, schedule, x, s.steps, SOLVER_ORDER[s.kind], s.spacing, start_t, s.clip,
                                 generator if s.kind in SDE_SOLVERS else None, shared_noise)
    if s.kind == "euler_a":
        return euler_ancestral_sample(model, schedule, x, generator, s.steps, s.spacing, start_t, s.clip, shared_noise)
    return heun_sample(model, schedule, x, s.steps, s.spacing, start_t, s.clip)


def vary_from(
    model: EpsModel,
    schedule: NoiseSchedule,
    x: torch.Tensor,
    generator: Generators,
    settings: SamplerSettings,
    from_index: int,
    image: int,
    variations: int,
    seed: int,
) -> Iterator[SamplerStep]:
    """Many x_0 from one x_t (the DDPM paper's Fig. 7): replay the run from x to step `from_index`, take image
    `image`'s x_t there, and finish it `variations` times with fresh noise seeded by `seed`; the finishing
    settings are `settings.variation(...)`'s."""
    finish, start_t = settings.variation(from_index, schedule.alphas_cumprod.tolist())
    step = next(islice(run_sampler(model, schedule, x, generator, settings), from_index - 1, None))
    x_t = step.x[image : image + 1].expand(variations, -1, -1, -1).contiguous()
    yield from run_sampler(model, schedule, x_t, torch.Generator().manual_seed(seed + 1), finish, start_t=start_t)


def final_sample(steps: Iterable[SamplerStep]) -> torch.Tensor:
    """Run a sampler to its end and return the last sample."""
    last = None
    for last in steps:  # noqa: B007 — the loop runs the sampler; the last step is the result
        pass
    if last is None:
        raise ValueError("the sampler made no step")
    return last.x
