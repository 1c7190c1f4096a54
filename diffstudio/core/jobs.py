"""Long-running work as generators of plain data, for the GUI's worker thread.

Each job yields small dataclasses of numpy uint8 images, numbers and text — never
tensors — so the GUI only displays. The worker runs one job at a time and can
stop between two yields.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from diffstudio.core.checkpoint import load_denoiser
from diffstudio.core.devices import pick_device
from diffstudio.core.images import image_grid, to_uint8
from diffstudio.core.samplers import SamplerSettings, run_sampler


@dataclass
class SampleFrame:
    """One reverse step, as the two grids of the DDPM paper's Fig. 6."""

    index: int  # 1 … total
    total: int
    t: int  # the timestep just denoised
    x_t: np.ndarray  # (H, W, C) uint8 grid of the current samples
    x0_pred: np.ndarray  # (H, W, C) uint8 grid of the predicted clean images
    images: np.ndarray | None = None  # on the last frame: the (B, H, W, C) uint8 results


def sample_job(checkpoint: str, settings: SamplerSettings, count: int, seed: int,
               device: str = "auto") -> Iterator[SampleFrame]:
    denoiser = load_denoiser(checkpoint, pick_device(device))
    c = denoiser.config
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(count, c.channels, c.resolution, c.resolution, generator=generator).to(denoiser.device)
    total = settings.num_model_calls(denoiser.schedule.num_timesteps - 1)
    with torch.inference_mode():
        for index, step in enumerate(run_sampler(denoiser.model, denoiser.schedule, x, generator, settings), 1):
            last = index == total
            yield SampleFrame(index, total, step.t, image_grid(to_uint8(step.x)), image_grid(to_uint8(step.x0_pred)),
                              to_uint8(step.x) if last else None)
