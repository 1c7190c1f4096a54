"""The reverse process as the settings name it (what the CLI and the GUI offer the user), DDIM inversion, and
"vary from here".

A sampler yields one `SamplerStep` per reverse step, so the GUI, the CLI and the tests watch the same
progression, and stopping the iteration cancels the run between steps. Each sampler's loop lives in its step file
beside the step math (`ddpm.py`, `ddim.py`, …), found through sampler_registry.py.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice, pairwise

import torch

from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.sampling import Generators, SamplerStep
from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule, timestep_batch


def ddim_invert(model: EpsModel, schedule: NoiseSchedule, x0: torch.Tensor, timesteps: Sequence[int]) -> torch.Tensor:
    """Encode x_0 deterministically to x at index timesteps[0] by running DDIM (η = 0) backwards.

    The mirror of a deterministic decode through `timesteps` (from its start down; `ddim_timesteps(t, n)` for
    `ddim_sample(start_t=t, num_steps=n)`): it starts where decoding ends, at ᾱ = 1 (the clean image), and climbs
    the same timesteps, so decoding the result gives back approximately x_0. ε at each step is taken at the current
    point, the usual approximation; from the clean image, where there is no timestep, at the first timestep reached
    (so one step is x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε_θ(x_0, t)).
    """
    path = [-1, *reversed(timesteps)]
    x = x0
    for t_cur, t_next in pairwise(path):
        t_model = timestep_batch(t_next if t_cur < 0 else t_cur, x)
        x0_pred, eps = schedule.split_prediction(x, t_model, model(x, t_model))
        if t_cur < 0:
            x0_pred = x  # ᾱ = 1: x is the clean image itself
        a_next = schedule.alpha_cumprod_at(t_next)
        x = math.sqrt(a_next) * x0_pred + math.sqrt(1 - a_next) * eps
    return x


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
    loop = importlib.import_module(f"diffstudio.core.diffusion.{settings.spec.module}")
    return loop.sample(model, schedule, x, generator, settings, start_t, shared_noise)


def vary_from(
    model: EpsModel,
    schedule: NoiseSchedule,
    x: torch.Tensor,
    generator: Generators,
    settings: SamplerSettings,
    from_index: int,
    image: int,
    variations: int,
    seed: int,
) -> Iterator[SamplerStep]:
    """Many x_0 from one x_t (the DDPM paper's Fig. 7): replay the run from x to step `from_index`, take image
    `image`'s x_t there, and finish it `variations` times with fresh noise seeded by `seed`; the finishing
    settings are `settings.variation(...)`'s."""
    finish, start_t = settings.variation(from_index, schedule.alphas_cumprod.tolist())
    step = next(islice(run_sampler(model, schedule, x, generator, settings), from_index - 1, None))
    x_t = step.x[image : image + 1].expand(variations, -1, -1, -1).contiguous()
    yield from run_sampler(model, schedule, x_t, torch.Generator().manual_seed(seed + 1), finish, start_t=start_t)


def final_sample(steps: Iterable[SamplerStep]) -> torch.Tensor:
    """Run a sampler to its end and return the last sample."""
    last = None
    for last in steps:  # noqa: B007 — the loop runs the sampler; the last step is the result
        pass
    if last is None:
        raise ValueError("the sampler made no step")
    return last.x
