"""One Heun step (Karras et al. 2022, Algorithm 1 with no churn): the second-order trapezoidal rule on the
probability-flow ODE in σ = √((1 − ᾱ)/ᾱ), two model calls per step. Its loop: `heun_sample`.

In x̃ = x/√ᾱ = x̂_0 + σ ε̂ the ODE is dx̃/dσ = ε̂: Euler predicts x̃' = x̃ + (σ_next − σ) ε̂, the model is asked
again there for ε̂', and the step takes the average slope, x̃_next = x̃ + (σ_next − σ)(ε̂ + ε̂')/2. The last step
(σ_next = 0) is Euler's, as in EDM; so is a step from σ = ∞ (a zero terminal SNR), where the average is undefined.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.sampling import Generators, SamplerStep, solver_path
from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule, timestep_batch
from diffstudio.core.diffusion.timesteps import Spacing


def heun_step(
    model: EpsModel, schedule: NoiseSchedule, x: torch.Tensor, t: int, t_next: int, clip: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """x at index t → x at t_next with one or two model calls; returns (x_next, x̂_0 at t)."""
    x0_pred, eps = schedule.denoise(x, t, model(x, timestep_batch(t, x)), clip)
    sigma, sigma_next = schedule.sigma_at(t), schedule.sigma_at(t_next)
    scale_next = math.sqrt(schedule.alpha_cumprod_at(t_next))  # x = √ᾱ x̃
    x_euler = scale_next * (x0_pred + sigma_next * eps)
    if sigma_next == 0 or math.isinf(sigma):
        return x_euler, x0_pred
    _, eps_next = schedule.denoise(x_euler, t_next, model(x_euler, timestep_batch(t_next, x_euler)), clip)
    x_tilde = x0_pred + sigma * eps
    return scale_next * (x_tilde + (sigma_next - sigma) * 0.5 * (eps + eps_next)), x0_pred


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



def sample(
    model: EpsModel, schedule: NoiseSchedule, x: torch.Tensor, generator: Generators, settings: SamplerSettings,
    start_t: int | None, shared_noise: bool,
) -> Iterator[SamplerStep]:
    """`run_sampler`'s entry: the loop with the settings' parameters."""
    return heun_sample(model, schedule, x, settings.steps, settings.spacing, start_t, settings.clip)
