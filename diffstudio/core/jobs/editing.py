"""Editing jobs: inpainting (RePaint), SDEdit, and interpolation between two images at any noise level."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from diffstudio.core.diffusion.inpainting import inpaint, repaint_model_calls
from diffstudio.core.diffusion.interpolation import decode_steps, interpolations, sdedit
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.images import image_grid, image_to_tensor, open_image, to_pil, to_uint8
from diffstudio.core.jobs.messages import InterpolationFrame, SampleFrame
from diffstudio.core.jobs.models import job_denoiser
from diffstudio.core.jobs.requests import InpaintRequest, InterpolateRequest, SDEditRequest
from diffstudio.core.jobs.sampling import conditioned, sample_frames
from diffstudio.core.storage.checkpoint import Denoiser


def as_model_input(source: str | np.ndarray, resolution: int, channels: int) -> torch.Tensor:
    """An image file, or an (H, W, C) uint8 array (a sample), as a (1, C, H, W) tensor."""
    image = open_image(source) if isinstance(source, str) else to_pil(source)
    return image_to_tensor(image, resolution, channels)


def inpaint_job(r: InpaintRequest) -> Iterator[SampleFrame]:
    """RePaint: the mask is scaled to the model's size; at most the model's T steps."""
    denoiser = job_denoiser(r.checkpoint, r.device)
    c = denoiser.config
    known = as_model_input(r.image, c.resolution, c.channels).to(denoiser.device).expand(r.count, -1, -1, -1)
    paint = as_model_input(np.where(r.mask, 255, 0).astype(np.uint8)[:, :, None], c.resolution, 1) > 0
    if not bool(paint.any()):
        raise DiffstudioError("the mask has no white (nothing to paint) at the model's size: paint the part to fill "
                              "in white")
    keep = (~paint).to(known.dtype).to(denoiser.device).expand_as(known)
    steps = min(r.steps, denoiser.schedule.num_timesteps)
    total = repaint_model_calls(steps, r.jump_length, r.resamples)
    with torch.inference_mode():
        yield from sample_frames(inpaint(conditioned(denoiser, r.condition, 1, 0), denoiser.schedule, known, keep,
                                         torch.Generator().manual_seed(r.seed), steps, r.jump_length, r.resamples),
                                 total)


def sdedit_job(r: SDEditRequest) -> Iterator[SampleFrame]:
    """SDEdit from `strength` (t/T) of the model's own T steps of noise."""
    settings = SamplerSettings(**r.sampler)
    denoiser = job_denoiser(r.checkpoint, r.device)
    c = denoiser.config
    noise_steps = round(min(max(r.strength, 0.0), 1.0) * denoiser.schedule.num_timesteps)
    x0 = as_model_input(r.image, c.resolution, c.channels).to(denoiser.device)
    with torch.inference_mode():
        network = conditioned(denoiser, r.condition, 1, 0, autoguidance=settings.autoguidance)
        steps = sdedit(network, denoiser.schedule, x0, noise_steps, r.count, r.seed, settings)
        yield from sample_frames(steps, decode_steps(settings, noise_steps, denoiser.schedule.num_timesteps))


@dataclass
class KeptStrip:
    """A strip decoded to its end, handed to the GUI in the last frame and back in the next request: the strip
    depends on all of a request but its λ, so a job for a λ slider's new value decodes only the picture it asks for."""

    model: weakref.ref  # the Denoiser that decoded it: a model read again decodes its own
    request: InterpolateRequest  # as decoded, less its λ (0), its sources (`inputs`) and its own kept strip
    inputs: bytes  # the two images as the model saw them
    strip: np.ndarray
    images: np.ndarray

    def serves(self, model: Denoiser, request: InterpolateRequest, inputs: bytes) -> bool:
        return self.model() is model and self.request == request and self.inputs == inputs


def interpolate_job(r: InterpolateRequest) -> Iterator[InterpolationFrame]:
    settings = SamplerSettings(**r.sampler)
    denoiser = job_denoiser(r.checkpoint, r.device)
    T = denoiser.schedule.num_timesteps
    if not (r.clamp_t or 0 <= r.t <= T):
        raise DiffstudioError(f"t must be between 0 and {T} for this model, got {r.t}")
    t = min(max(r.t, 0), T)
    c = denoiser.config
    a, b = (as_model_input(s, c.resolution, c.channels).to(denoiser.device) for s in (r.source_a, r.source_b))
    pair = torch.cat([a, b])
    sources = to_uint8(pair)
    strip_request = replace(r, t=t, lam=0.0, source_a=None, source_b=None, kept=None)
    inputs = pair.cpu().numpy().tobytes()
    kept = r.kept if isinstance(r.kept, KeptStrip) and r.kept.serves(denoiser, strip_request, inputs) else None
    steps = decode_steps(settings, t, T)
    total = steps if kept else 2 * steps
    with torch.inference_mode():
        decodings = interpolations(conditioned(denoiser, r.condition, 1, 0, autoguidance=settings.autoguidance),
                                   denoiser.schedule, a, b, t, [[r.lam], r.lambdas], r.seed, r.encode_mode,
                                   r.mix_mode, settings, inversion_steps=settings.steps)
        for index, step in enumerate(next(decodings), 1):  # first the picture the sliders ask for, then the strip
            result = to_uint8(step.x if index == steps else step.x0_pred)[0]
            if kept and index == steps:
                yield InterpolationFrame(index, total, t, r.lam, T, sources, kept.strip, result, True, kept.images,
                                         kept)
            else:
                yield InterpolationFrame(index, total, t, r.lam, T, sources, None, result, False, None)
        if kept:
            return
        for index, step in enumerate(next(decodings), 1):
            x0 = to_uint8(step.x if index == steps else step.x0_pred)
            strip = image_grid(x0, columns=len(r.lambdas))
            decoded = KeptStrip(weakref.ref(denoiser), strip_request, inputs, strip, x0) if index == steps else None
            yield InterpolationFrame(steps + index, total, t, r.lam, T, sources, strip, result, index == steps, x0,
                                     decoded)
