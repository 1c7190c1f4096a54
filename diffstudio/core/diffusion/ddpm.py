"""One step of DDPM ancestral sampling (Ho et al. 2020, Algorithm 2), and its loop `ddpm_sample`."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from diffstudio.core.diffusion.sampler_settings import SamplerSettings, Variance
from diffstudio.core.diffusion.sampling import Generators, SamplerStep, draw_noise
from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule, gather, timestep_batch


def ddpm_step(
    schedule: NoiseSchedule,
    x_t: torch.Tensor,
    model_output: torch.Tensor,
    t: int,
    noise: torch.Tensor,
    variance: Variance = "beta_tilde",
    clip: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """x_{t−1} ~ p_θ(x_{t−1} | x_t), and the x̂_0 it went through.

    The mean is μ̃_t(x_t, x̂_0) (eq. 7), which equals Algorithm 2's
    (x_t − β_t/√(1−ᾱ_t) ε) / √α_t (eq. 11) when x̂_0 is not clipped.
    `model_output` is ε̂ or v̂, as the schedule's prediction type says.
    No noise is added at the last step (t = 0).
    """
    t_batch = timestep_batch(t, x_t)
    x0_pred, _ = schedule.split_prediction(x_t, t_batch, model_output)
    if clip:
        x0_pred = x0_pred.clamp(-1.0, 1.0)
    mean, posterior_variance, _ = schedule.q_posterior(x0_pred, x_t, t_batch)
    if t == 0:
        return mean, x0_pred
    sigma2 = posterior_variance if variance == "beta_tilde" else gather(schedule.betas, t_batch, x_t)
    return mean + sigma2.sqrt() * noise, x0_pred


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



def sample(
    model: EpsModel, schedule: NoiseSchedule, x: torch.Tensor, generator: Generators, settings: SamplerSettings,
    start_t: int | None, shared_noise: bool,
) -> Iterator[SamplerStep]:
    """`run_sampler`'s entry: the loop with the settings' parameters."""
    return ddpm_sample(model, schedule, x, generator, start_t, settings.variance, settings.clip, shared_noise)
