"""Sampling a distilled student (distillation.py): DDIM through the timesteps it was taught at, trailing from
T − 1. η = 0 follows what it learned; η > 0 puts fresh noise back between its steps, as a consistency model's
multistep sampling does."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from diffstudio.core.diffusion.ddim import ddim_loop
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.sampling import Generators, SamplerStep, sampler_timesteps
from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule


def sample(
    model: EpsModel, schedule: NoiseSchedule, x: torch.Tensor, generator: Generators, settings: SamplerSettings,
    start_t: int | None, shared_noise: bool,
) -> Iterator[SamplerStep]:
    """`run_sampler`'s entry: the loop with the settings' parameters."""
    return ddim_loop(model, schedule, x, generator, sampler_timesteps(schedule, settings, start_t), settings.eta,
                     settings.clip, shared_noise)
