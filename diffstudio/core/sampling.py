"""What every sampler shares: the step it yields, the model it calls, how it draws noise.

A sampler is a generator: it yields one `SamplerStep` per reverse step, so the GUI,
the CLI and the tests watch the same progression, and stopping the iteration
cancels the run between steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""ε_θ(x_t, t): noise prediction for a batch x_t at timestep indices t (shape (B,))."""


@dataclass
class SamplerStep:
    t: int  # the timestep index just denoised (−1: nothing was, the input was clean)
    x: torch.Tensor  # the sample after this step: x_{t−1}, the final image once t = 0
    x0_pred: torch.Tensor  # x̂_0, the clean image predicted at t


def draw_noise(like: torch.Tensor, generator: torch.Generator, shared: bool = False) -> torch.Tensor:
    """Standard normal noise shaped like `like`, drawn on the CPU so a seed means the same on any device.

    `shared` draws one sample and repeats it across the batch: a batch decoded with
    shared noise gives each element what it would get decoded alone with the same seed.
    """
    shape = (1, *like.shape[1:]) if shared else like.shape
    noise = torch.randn(shape, generator=generator, dtype=torch.float32)
    return noise.to(device=like.device, dtype=like.dtype).expand_as(like)


def timestep_batch(t: int, x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)


def final_sample(steps: Iterable[SamplerStep]) -> torch.Tensor:
    """Run a sampler to its end and return the last sample."""
    last = None
    for last in steps:
        pass
    if last is None:
        raise ValueError("the sampler made no step")
    return last.x
