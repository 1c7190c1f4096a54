"""One Euler ancestral step (Karras et al. 2022's stochastic sampler as k-diffusion and diffusers run it): an Euler
step of the probability-flow ODE down to σ_down, then fresh noise σ_up back up to σ_next, with
σ_up = σ_next √(1 − σ_next²/σ²) and σ_down = √(σ_next² − σ_up²). Its loop: `euler_ancestral_sample`.

In x̃ = x/√ᾱ, whose noise level is σ = √((1 − ᾱ)/ᾱ), x̃ = x̂_0 + σ ε̂, so the ODE's derivative dx̃/dσ is ε̂ and
    x̃_next = x̂_0 + σ_down ε̂ + σ_up z,   x_next = √ᾱ_next x̃_next.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.sampling import Generators, SamplerStep, draw_noise, solver_path
from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule, timestep_batch
from diffstudio.core.diffusion.timesteps import Spacing


def euler_ancestral_step(
    schedule: NoiseSchedule,
    x: torch.Tensor,
    model_output: torch.Tensor,
    t: int,
    t_next: int,
    noise: torch.Tensor | None,
    clip: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """x at index t → x at t_next (−1: the clean image, where no noise is added); returns (x_next, x̂_0)."""
    x0_pred, eps = schedule.denoise(x, t, model_output, clip)
    sigma, sigma_next = schedule.sigma_at(t), schedule.sigma_at(t_next)
    sigma_up = sigma_next * math.sqrt(max(1 - (sigma_next / sigma) ** 2, 0.0))
    sigma_down = math.sqrt(max(sigma_next**2 - sigma_up**2, 0.0))
    x_tilde_next = x0_pred + sigma_down * eps
    if sigma_up > 0:
        x_tilde_next = x_tilde_next + sigma_up * noise
    return math.sqrt(schedule.alpha_cumprod_at(t_next)) * x_tilde_next, x0_pred


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



def sample(
    model: EpsModel, schedule: NoiseSchedule, x: torch.Tensor, generator: Generators, settings: SamplerSettings,
    start_t: int | None, shared_noise: bool,
) -> Iterator[SamplerStep]:
    """`run_sampler`'s entry: the loop with the settings' parameters."""
    return euler_ancestral_sample(model, schedule, x, generator, settings.steps, settings.spacing, start_t,
                                  settings.clip, shared_noise)
