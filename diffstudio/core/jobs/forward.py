"""The Forward process panel's job: x_t of one image at any t, and the schedule's curves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from diffstudio.core.diffusion.schedule import NoiseSchedule, ScheduleConfig
from diffstudio.core.images import image_grid, image_to_tensor, open_image, to_uint8
from diffstudio.core.jobs.messages import ForwardFrame
from diffstudio.core.jobs.requests import ForwardRequest

STRIP_STEPS = (0, 50, 100, 250, 500, 750, 1000)  # diffusion steps shown side by side (the paper's t)


def schedule_curves(config: ScheduleConfig) -> dict[str, np.ndarray]:
    """β_t, ᾱ_t and SNR(t) = ᾱ_t / (1 − ᾱ_t) against t = 1 … T."""
    schedule = NoiseSchedule(config)
    return {"t": np.arange(1, config.num_timesteps + 1), "beta": schedule.betas.numpy(),
            "alpha_bar": schedule.alphas_cumprod.numpy(), "snr": schedule.snr.numpy()}


def noised(schedule: NoiseSchedule, x0: torch.Tensor, noise_steps: int, noise: torch.Tensor) -> torch.Tensor:
    """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε after t = noise_steps diffusion steps (0: x_0 itself)."""
    if noise_steps == 0:
        return x0
    return schedule.q_sample(x0, torch.tensor([noise_steps - 1]), noise)


def forward_frame(image: str | Path, noise_steps: int, config: ScheduleConfig, resolution: int = 64,
                  seed: int = 0) -> ForwardFrame:
    schedule = NoiseSchedule(config)
    T = config.num_timesteps
    x0 = image_to_tensor(open_image(image), resolution, channels=3)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))  # one draw: x_t moves smoothly in t
    strip_steps = tuple(round(s * T / 1000) for s in STRIP_STEPS)
    strip = torch.cat([noised(schedule, x0, s, noise) for s in strip_steps])
    index = noise_steps - 1
    alpha_bar = 1.0 if noise_steps == 0 else float(schedule.alphas_cumprod[index])
    return ForwardFrame(noise_steps, to_uint8(noised(schedule, x0, noise_steps, noise))[0],
                        image_grid(to_uint8(strip), columns=len(strip_steps)), strip_steps, alpha_bar,
                        float("inf") if noise_steps == 0 else float(schedule.snr[index]), config.beta_schedule,
                        schedule_curves(config))


def forward_job(r: ForwardRequest) -> Iterator[ForwardFrame]:
    yield forward_frame(r.image, r.noise_steps, ScheduleConfig(beta_schedule=r.beta_schedule))
