"""A sampler chosen by settings: what the CLI and the GUI offer the user."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch

from diffstudio.core.ddim import ddim_sample, ddim_timesteps
from diffstudio.core.ddpm import Variance, ddpm_sample
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.sampling import EpsModel, Generators, SamplerStep
from diffstudio.core.schedule import NoiseSchedule

SamplerKind = Literal["ddpm", "ddim"]


@dataclass(frozen=True)
class SamplerSettings:
    kind: SamplerKind = "ddim"
    steps: int = 50  # DDIM's model calls; DDPM always takes one step per timestep
    eta: float = 0.0  # DDIM's noise: 0 deterministic, 1 as much as DDPM's β̃
    variance: Variance = "beta_tilde"  # DDPM's σ_t²
    clip: bool = True  # clip x̂_0 to [−1, 1] inside each step

    def validate(self) -> None:
        if self.kind not in ("ddpm", "ddim"):
            raise DiffstudioError(f"unknown sampler {self.kind!r}: use ddpm or ddim")
        if self.steps < 1:
            raise DiffstudioError(f"the number of DDIM steps must be at least 1, got {self.steps}")
        if not 0.0 <= self.eta <= 1.0:
            raise DiffstudioError(f"η must be between 0 and 1, got {self.eta}")
        if self.variance not in ("beta", "beta_tilde"):
            raise DiffstudioError(f"unknown DDPM variance {self.variance!r}: use beta or beta_tilde")

    def timesteps(self, start_t: int) -> list[int]:
        """The timestep indices denoised, in order, from start_t."""
        return list(range(start_t, -1, -1)) if self.kind == "ddpm" else ddim_timesteps(start_t, self.steps)

    def num_model_calls(self, start_t: int) -> int:
        return len(self.timesteps(start_t))


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
