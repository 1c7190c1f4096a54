"""One step of DDPM ancestral sampling (Ho et al. 2020, Algorithm 2); the loop is `samplers.ddpm_sample`."""

from __future__ import annotations

import torch

from diffstudio.core.diffusion.sampler_settings import Variance
from diffstudio.core.diffusion.schedule import NoiseSchedule, gather, timestep_batch


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

