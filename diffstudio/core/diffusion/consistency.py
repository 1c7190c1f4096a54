"""Multistep consistency sampling (Song et al. 2023, Algorithm 1) for a consistency-distilled student
(distillation.py): x̂_0 from the noise, then fresh noise to the next of the timesteps it was taught on and x̂_0 again,
down to the clean image. Every step but the last draws noise."""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import pairwise

import torch

from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.sampling import Generators, SamplerStep, draw_noise, sampler_timesteps
from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule, timestep_batch


def sample(
    model: EpsModel, schedule: NoiseSchedule, x: torch.Tensor, generator: Generators, settings: SamplerSettings,
    start_t: int | None, shared_noise: bool,
) -> Iterator[SamplerStep]:
    """`run_sampler`'s entry: x at start_t (default T − 1) → x̂_0 → x at the next timestep (eq. 4, fresh noise) …"""
    for t, t_next in pairwise([*sampler_timesteps(schedule, settings, start_t), -1]):
        x0_pred, _ = schedule.denoise(x, t, model(x, timestep_batch(t, x)), settings.clip)
        if t_next < 0:
            x = x0_pred
        else:
            a = schedule.alpha_cumprod_at(t_next)
            x = math.sqrt(a) * x0_pred + math.sqrt(1 - a) * draw_noise(x, generator, shared_noise)
        yield SamplerStep(t, x, x0_pred)
