"""One DDIM step (Song, Meng & Ermon 2021) between two timesteps of a strided subsequence; its sampling loop
(`ddim_sample`); the inversion is in `samplers.py`."""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import pairwise

import torch

from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.sampling import Generators, SamplerStep, draw_noise
from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule, timestep_batch
from diffstudio.core.diffusion.timesteps import ddim_timesteps


def ddim_sigma(schedule: NoiseSchedule, t: int, t_prev: int, eta: float) -> float:
    """σ_t(η) = η √((1−ᾱ_prev)/(1−ᾱ_t)) √(1−ᾱ_t/ᾱ_prev)  (DDIM eq. 16); η = 1 is DDPM's β̃."""
    a_t, a_prev = schedule.alpha_cumprod_at(t), schedule.alpha_cumprod_at(t_prev)
    return eta * math.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))


def ddim_step(
    schedule: NoiseSchedule,
    x_t: torch.Tensor,
    model_output: torch.Tensor,
    t: int,
    t_prev: int,
    eta: float = 0.0,
    noise: torch.Tensor | None = None,
    clip: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """x_{t_prev} = √ᾱ_prev x̂_0 + √(1 − ᾱ_prev − σ²) ε̂ + σ z  (DDIM eq. 12); t_prev = −1 means ᾱ = 1.

    A clipped x̂_0 comes with the ε̂ that x_t implies for it (GLIDE's choice; diffusers' DDIM with
    `use_clipped_model_output=True`), as every solver here takes them (`NoiseSchedule.denoise`). The network's own ε̂
    beside a clipped x̂_0 adds back, at every step, what the clip took away: on a briefly trained model the
    deterministic path (η = 0) then drew its black at 8/255 after 50 steps and 13 after 100, 0.4 % of shapes passing
    against 82 % (benchmarks/README.md, "The haze was DDIM's clip")."""
    x0_pred, eps = schedule.denoise(x_t, t, model_output, clip)
    a_prev = schedule.alpha_cumprod_at(t_prev)
    sigma = ddim_sigma(schedule, t, t_prev, eta)
    x_prev = math.sqrt(a_prev) * x0_pred + math.sqrt(max(1 - a_prev - sigma**2, 0.0)) * eps
    if sigma > 0:
        x_prev = x_prev + sigma * noise
    return x_prev, x0_pred


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
    return ddim_loop(model, schedule, x, generator, ddim_timesteps(start_t, num_steps), eta, clip, shared_noise)


def ddim_loop(
    model: EpsModel,
    schedule: NoiseSchedule,
    x: torch.Tensor,
    generator: Generators | None,
    timesteps: list[int],
    eta: float,
    clip: bool,
    shared_noise: bool,
) -> Iterator[SamplerStep]:
    """DDIM through these timesteps, then to the clean image."""
    for t, t_prev in pairwise([*timesteps, -1]):
        model_output = model(x, timestep_batch(t, x))
        noise = draw_noise(x, generator, shared_noise) if eta > 0 else None
        x, x0_pred = ddim_step(schedule, x, model_output, t, t_prev, eta, noise, clip)
        yield SamplerStep(t, x, x0_pred)



def sample(
    model: EpsModel, schedule: NoiseSchedule, x: torch.Tensor, generator: Generators, settings: SamplerSettings,
    start_t: int | None, shared_noise: bool,
) -> Iterator[SamplerStep]:
    """`run_sampler`'s entry: the loop with the settings' parameters."""
    return ddim_sample(model, schedule, x, generator, settings.steps, settings.eta, start_t, settings.clip,
                       shared_noise)
