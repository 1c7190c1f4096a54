"""DDIM sampling and inversion (Song, Meng & Ermon 2021), on a strided subsequence of timesteps."""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import pairwise

import torch

from diffstudio.core.sampler_settings import ddim_timesteps
from diffstudio.core.sampling import EpsModel, Generators, SamplerStep, draw_noise, timestep_batch
from diffstudio.core.schedule import NoiseSchedule


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
    """x_{t_prev} = √ᾱ_prev x̂_0 + √(1 − ᾱ_prev − σ²) ε + σ z  (DDIM eq. 12); t_prev = −1 means ᾱ = 1."""
    x0_pred, eps = schedule.split_prediction(x_t, timestep_batch(t, x_t), model_output)
    if clip:
        x0_pred = x0_pred.clamp(-1.0, 1.0)
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
    timesteps = ddim_timesteps(start_t, num_steps)
    for t, t_prev in pairwise([*timesteps, -1]):
        model_output = model(x, timestep_batch(t, x))
        noise = draw_noise(x, generator, shared_noise) if eta > 0 else None
        x, x0_pred = ddim_step(schedule, x, model_output, t, t_prev, eta, noise, clip)
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
