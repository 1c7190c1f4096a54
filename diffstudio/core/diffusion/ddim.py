"""One DDIM step (Song, Meng & Ermon 2021) between two timesteps of a strided subsequence; the loops (sampling
and inversion) are in `samplers.py`."""

from __future__ import annotations

import math

import torch

from diffstudio.core.diffusion.schedule import NoiseSchedule, timestep_batch


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

