"""A sampler chosen by settings: what the CLI and the GUI offer the user."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from diffstudio.core.ddim import ddim_sample
from diffstudio.core.ddpm import ddpm_sample
from diffstudio.core.sampler_settings import SamplerSettings
from diffstudio.core.sampling import EpsModel, Generators, SamplerStep
from diffstudio.core.schedule import NoiseSchedule

__all__ = ["SamplerSettings", "run_sampler"]

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
    if settings.kind == "ddpm":
        return ddpm_sample(model, schedule, x, generator, start_t, settings.variance, settings.clip, shared_noise)
    return ddim_sample(model, schedule, x, generator, settings.steps, settings.eta, start_t, settings.clip,
                       shared_noise)
