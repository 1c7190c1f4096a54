"""The Evaluate panel's job: samples measured against held-out real images, and the most copied ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.evaluate import (
    distance_histograms,
    evaluate,
    most_copied,
    most_copied_grid,
    summary,
    table_rows,
    training_images,
)
from diffstudio.core.evaluate_settings import EvaluateSettings
from diffstudio.core.jobs.messages import EvaluationResult
from diffstudio.core.jobs.models import job_denoiser
from diffstudio.core.jobs.requests import EvaluateRequest
from diffstudio.core.progress import SamplingProgress


def evaluate_job(r: EvaluateRequest) -> Iterator[SamplingProgress | EvaluationResult]:
    settings = EvaluateSettings(**{**r.settings, "sampler": SamplerSettings(**r.settings["sampler"])})
    denoiser = job_denoiser(r.checkpoint, r.device)
    training, report = training_images(denoiser, Path(r.data) if r.data else None)
    for item in evaluate(denoiser, training, settings):
        if isinstance(item, SamplingProgress):
            yield item
    notes = [report.summary()] + ([item.fd_note()] if item.model.fd is None else [])
    _, ratios = most_copied(item)
    yield EvaluationResult(table_rows(item), notes, most_copied_grid(item), ratios.tolist(),
                           *distance_histograms(item), summary(item))
