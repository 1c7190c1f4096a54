"""What every sampler's loop shares: the step it yields, the noise it draws (seeded per image, on the CPU, so a
seed means the same on any device), and the solvers' path through the timesteps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch

from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.schedule import NoiseSchedule
from diffstudio.core.diffusion.timesteps import Spacing, solver_timesteps

Generators = torch.Generator | Sequence[torch.Generator]
"""One generator for a whole batch, or one per image (see `image_generators`)."""


@dataclass
class SamplerStep:
    t: int  # the timestep index just denoised (−1: nothing was, the input was clean)
    x: torch.Tensor  # the sample after this step: x_{t−1}, the final image once t = 0
    x0_pred: torch.Tensor  # x̂_0, the clean image predicted at t


def seeded_generator(*key: int) -> torch.Generator:
    """A generator seeded from integers, well mixed and the same in every process (unlike hash())."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence(list(key)).generate_state(1, np.uint64)[0] >> 1))


def image_generators(seed: int, count: int, first: int = 0) -> list[torch.Generator]:
    """One generator per image, keyed by (seed, image index): image i of a seed is the same whatever the batch
    size it is drawn in, in the CLI and in the GUI."""
    return [seeded_generator(seed, i) for i in range(first, first + count)]


def draw_noise(like: torch.Tensor, generator: Generators, shared: bool = False) -> torch.Tensor:
    """Standard normal noise shaped like `like`, drawn on the CPU so a seed means the same on any device.

    With one generator per image, each image's noise comes from its own. `shared` draws one sample and repeats
    it across the batch: a batch decoded with shared noise gives each element what it would get decoded alone
    with the same seed.
    """
    if isinstance(generator, torch.Generator):
        shape = (1, *like.shape[1:]) if shared else like.shape
        noise = torch.randn(shape, generator=generator, dtype=torch.float32)
    else:
        noise = torch.stack([torch.randn(like.shape[1:], generator=g, dtype=torch.float32)
                             for g in (generator[:1] if shared else generator)])
    return noise.to(device=like.device, dtype=like.dtype).expand_as(like)


def seeded_start(seed: int, count: int, channels: int, resolution: int, device: torch.device | str = "cpu",
                 first: int = 0) -> tuple[torch.Tensor, list[torch.Generator]]:
    """x_T for images first … first + count − 1 of a seed, each image's pure noise drawn (on the CPU) from its own
    generator, and those generators for the rest of the run."""
    generators = image_generators(seed, count, first)
    x = torch.stack([torch.randn(channels, resolution, resolution, generator=g) for g in generators])
    return x.to(device), generators


def sampler_timesteps(schedule: NoiseSchedule, settings: SamplerSettings, start_t: int | None) -> list[int]:
    """The timestep indices the settings' sampler denoises, in order, from start_t (default T−1)."""
    start_t = schedule.num_timesteps - 1 if start_t is None else start_t
    return settings.timesteps(start_t, schedule.alphas_cumprod.tolist())


def solver_path(
    schedule: NoiseSchedule, start_t: int | None, num_steps: int, spacing: Spacing
) -> list[tuple[int, int]]:
    """The (t, t_next) pairs of a solver's run from index start_t (default T−1) to the clean image (−1)."""
    start_t = schedule.num_timesteps - 1 if start_t is None else start_t
    return list(pairwise([*solver_timesteps(start_t, num_steps, spacing, schedule.alphas_cumprod.tolist()), -1]))
