"""Inpainting with an unconditional model: RePaint (Lugmayr et al. 2022). Each reverse step takes the known pixels
from the forward process, x_{t−1}^known ~ q(x_{t−1} | x_0), and the unknown ones from the model's reverse step, and
joins them by the mask (their Algorithm 1); to let the two halves agree, the run goes back up `jump_length` steps
of forward noise `resamples − 1` times at each jump (their Fig. 9 schedule, as diffusers' RePaintScheduler makes
it). The steps are a strided subsequence of the model's T; between two of them the reverse step is DDPM's posterior
(DDIM with η = 1) and the way back up is q(x_t | x_{t'}), exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import pairwise

import torch

from diffstudio.core.diffusion.ddim import ddim_step
from diffstudio.core.diffusion.sampling import Generators, SamplerStep, draw_noise
from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule, timestep_batch


def repaint_schedule(steps: int, jump_length: int, resamples: int) -> list[int]:
    """The visiting order of step positions steps−1 … 0 with jumps back up, ending at −1 (the clean image)."""
    jumps = {j: resamples - 1 for j in range(0, steps - jump_length, jump_length)}
    t, order = steps, []
    while t >= 1:
        t -= 1
        order.append(t)
        if jumps.get(t, 0) > 0:
            jumps[t] -= 1
            for _ in range(jump_length):
                t += 1
                order.append(t)
    return [*order, -1]


def repaint_model_calls(steps: int, jump_length: int, resamples: int) -> int:
    """How many reverse steps (each one model call) a RePaint run takes."""
    order = repaint_schedule(steps, jump_length, resamples)
    return sum(1 for a, b in pairwise(order) if b < a)


def forward_jump(schedule: NoiseSchedule, x: torch.Tensor, t_from: int, t_to: int, noise: torch.Tensor) -> torch.Tensor:
    """x_{t_to} ~ q(x_{t_to} | x_{t_from}) for t_to > t_from: √(ᾱ_to/ᾱ_from) x + √(1 − ᾱ_to/ᾱ_from) z."""
    ratio = schedule.alpha_cumprod_at(t_to) / schedule.alpha_cumprod_at(t_from)
    return math.sqrt(ratio) * x + math.sqrt(1 - ratio) * noise


def repaint_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """Position i → the model's timestep index, "trailing" (Lin et al. 2023): the last position is always T − 1,
    where the run starts from pure noise, whether or not `steps` divides T."""
    return [round((i + 1) * num_timesteps / steps) - 1 for i in range(steps)]


def inpaint(
    model: EpsModel,
    schedule: NoiseSchedule,
    known: torch.Tensor,
    mask: torch.Tensor,
    generator: Generators,
    steps: int = 250,
    jump_length: int = 10,
    resamples: int = 10,
    clip: bool = True,
) -> Iterator[SamplerStep]:
    """Fill in where mask is 0 (mask 1: keep `known`), yielding every reverse step; the last x is the result with
    the known pixels pasted back exactly."""
    timestep = repaint_timesteps(schedule.num_timesteps, steps)
    order = repaint_schedule(steps, jump_length, resamples)
    x = draw_noise(known, generator)
    for here, there in pairwise(order):
        t = timestep[here]
        if there > here:  # back up: one jump of forward noise
            x = forward_jump(schedule, x, t, timestep[there], draw_noise(x, generator))
            continue
        t_prev = timestep[there] if there >= 0 else -1
        model_output = model(x, timestep_batch(t, x))
        unknown, x0_pred = ddim_step(schedule, x, model_output, t, t_prev, 1.0, draw_noise(x, generator), clip)
        a_prev = schedule.alpha_cumprod_at(t_prev)
        known_part = math.sqrt(a_prev) * known + math.sqrt(1 - a_prev) * draw_noise(x, generator)
        x = mask * known_part + (1 - mask) * unknown
        yield SamplerStep(t, x, x0_pred)
