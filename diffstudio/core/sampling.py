"""What every sampler shares: the step it yields, the model it calls, how it draws noise.

A sampler is a generator: it yields one `SamplerStep` per reverse step, so the GUI,
the CLI and the tests watch the same progression, and stopping the iteration
cancels the run between steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""ε_θ(x_t, t): noise prediction for a batch x_t at timestep indices t (shape (B,))."""


@dataclass
class SamplerStep:
    t: int  # the timestep index just denoised (−1: nothing was, the input was clean)
    x: torch.Tensor  # the sample after this step: x_{t−1}, the final image once t = 0
    x0_pred: torch.Tensor  # x̂_0, the clean image predicted at t


Generators = torch.Generator | Sequence[torch.Generator]
"""One generator for a whole batch, or one per image (see `image_generators`)."""


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


def initial_noise(generators: Sequence[torch.Generator], channels: int, resolution: int) -> torch.Tensor:
    """x_T for a batch: each image's pure noise from its own generator."""
    return torch.stack([torch.randn(channels, resolution, resolution, generator=g) for g in generators])


def timestep_batch(t: int, x: torch.Tensor) -> torch.Tensor:
    return torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)


def final_sample(steps: Iterable[SamplerStep]) -> torch.Tensor:
    """Run a sampler to its end and return the last sample."""
    last = None
    for last in steps:  # noqa: B007 — the loop runs the sampler; the last step is the result
        pass
    if last is None:
        raise ValueError("the sampler made no step")
    return last.x
