"""Long-running work as generators of plain data, for the GUI's worker thread.

Each job yields small dataclasses of numpy uint8 images, numbers and text — never
tensors — so the GUI only displays. The worker runs one job at a time and can
stop between two yields.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class Done:
    """A job that makes files reports what it made."""

    message: str
    path: str


def duplicate_job(name: str, new_name: str, root: str) -> Iterator[Done]:
    from diffstudio.core.runs import duplicate_run

    path = duplicate_run(name, new_name, Path(root))
    yield Done(f"Copied {name} to {new_name}", str(path))


def export_diffusers_job(run: str, out: str) -> Iterator[Done]:
    from diffstudio.core.checkpoint import load_run_model
    from diffstudio.core.diffusers_interop import write_diffusers_folder

    model, schedule = load_run_model(Path(run))
    write_diffusers_folder(out, model.config, schedule, model.state_dict())
    yield Done(f"Exported {Path(run).name} as a diffusers folder", out)


def import_diffusers_job(folder: str, run: str) -> Iterator[Done]:
    from diffstudio.core.checkpoint import build_model, create_run, run_config
    from diffstudio.core.diffusers_interop import read_diffusers_folder

    unet_config, schedule_config, state = read_diffusers_folder(folder)
    build_model(unet_config, state, Path(folder))  # refuse weights that do not fit before writing anything
    create_run(run, run_config(unet_config, schedule_config, imported_from=str(Path(folder).resolve())), state)
    yield Done(f"Imported {Path(folder).name} as {Path(run).name}", run)
