"""Sampling jobs: images drawn step by step (the grids of the DDPM paper's Fig. 6), variations from a step
(Fig. 7), and samplers compared on one seed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch

from diffstudio.core.devices import pick_device
from diffstudio.core.diffusion.sampler_settings import DEFAULT_AUTOGUIDANCE, SamplerSettings
from diffstudio.core.diffusion.samplers import run_sampler, vary_from
from diffstudio.core.diffusion.sampling import seeded_start
from diffstudio.core.images import image_grid, to_uint8
from diffstudio.core.jobs.messages import ComparisonFrame, SampleFrame, SamplerResult, SamplingSpeed
from diffstudio.core.jobs.models import job_denoiser
from diffstudio.core.jobs.requests import CompareRequest, SampleRequest, SamplingSpeedRequest, VaryRequest
from diffstudio.core.storage.checkpoint import Denoiser, load_denoiser

SPEED_MEASURE_S = 2.0  # a checkpoint's speed is measured for about this long (one call at least)


def sample_frames(steps, total: int) -> Iterator[SampleFrame]:
    for index, step in enumerate(steps, 1):
        last = index == total
        yield SampleFrame(index, total, step.t, image_grid(to_uint8(step.x)), image_grid(to_uint8(step.x0_pred)),
                          to_uint8(step.x) if last else None)


def conditioned(denoiser: Denoiser, condition: dict | None, count: int, image: int | None = None, first: int = 0,
                total: int | None = None, autoguidance: float = DEFAULT_AUTOGUIDANCE):
    """The network for images first … first + count − 1 of a run of `total` (None: first + count) under
    `condition` ({"class_name": a class, MIXED or None, "guidance": s}) and autoguidance w; with `image`, for that
    one of them."""
    condition = condition or {}
    class_ids = denoiser.class_ids(condition.get("class_name"), total or first + count)
    if class_ids is not None:
        class_ids = class_ids[first : first + count]
        if image is not None:
            class_ids = class_ids[image : image + 1]
    return denoiser.network(class_ids, condition.get("guidance", 1.0), autoguidance)


def start_of(denoiser: Denoiser, r: SampleRequest):
    """x_T of the request's images, at its resolution, and their generators."""
    size = denoiser.config.resolution if r.resolution is None else r.resolution
    denoiser.config.check_resolution(size)
    return seeded_start(r.seed, r.count, denoiser.config.channels, size, denoiser.device, r.first)


def sampling_speed_job(r: SamplingSpeedRequest) -> Iterator[SamplingSpeed]:
    """One image through the network, timed: a 256-px model of the paper takes seconds a call on a CPU, so the
    Sample panel says what a run will cost before starting one. The fastest of a few calls after a first one (which
    allocates), within SPEED_MEASURE_S: the calls made while the window is still building itself wait for it."""
    denoiser = job_denoiser(r.checkpoint, r.device)
    x = torch.randn(1, denoiser.config.channels, denoiser.config.resolution, denoiser.config.resolution,
                    device=denoiser.device)
    t = torch.full((1,), denoiser.schedule.num_timesteps // 2, device=denoiser.device)
    times: list[float] = []
    with torch.inference_mode():
        denoiser.model(x, t)
        started = time.perf_counter()
        while len(times) < 5 and (not times or time.perf_counter() - started < SPEED_MEASURE_S):
            call = time.perf_counter()
            denoiser.model(x, t).cpu()
            times.append(time.perf_counter() - call)
    yield SamplingSpeed(r.checkpoint, min(times), denoiser.schedule.num_timesteps, denoiser.guide is not None)


def sample_job(r: SampleRequest) -> Iterator[SampleFrame]:
    settings = SamplerSettings(**r.sampler)
    denoiser = job_denoiser(r.checkpoint, r.device)
    network = conditioned(denoiser, r.condition, r.count, first=r.first, total=r.total,
                          autoguidance=settings.autoguidance)
    x, generator = start_of(denoiser, r)
    total = settings.num_steps(denoiser.schedule.num_timesteps - 1)
    with torch.inference_mode():
        yield from sample_frames(run_sampler(network, denoiser.schedule, x, generator, settings), total)


def vary_job(r: VaryRequest) -> Iterator[SampleFrame]:
    """Fig. 7's variations (see `samplers.vary_from`)."""
    s = r.sample
    settings = SamplerSettings(**s.sampler)
    denoiser = job_denoiser(s.checkpoint, s.device)
    finish, start_t = settings.variation(r.from_index, denoiser.schedule.alphas_cumprod.tolist())
    network = conditioned(denoiser, s.condition, s.count, r.image, s.first, s.total, settings.autoguidance)
    x, generator = start_of(denoiser, s)
    with torch.inference_mode():
        steps = vary_from(network, denoiser.schedule, x, generator, settings, r.from_index, r.image, r.variations,
                          s.seed)
        yield from sample_frames(steps, finish.num_steps(start_t, denoiser.schedule.num_timesteps))


def compare_job(r: CompareRequest) -> Iterator[ComparisonFrame]:
    """The same seed drawn with each sampler in turn, timed: what a solver buys, in one picture. A row may name
    another model than the request's ("checkpoint": a student's teacher, a run's student)."""
    settings = [SamplerSettings(**{k: v for k, v in fields.items() if k != "checkpoint"}) for fields in r.samplers]
    models = {r.checkpoint, *(fields["checkpoint"] for fields in r.samplers if "checkpoint" in fields)}  # a teacher
    denoisers = {path: load_denoiser(path, pick_device(r.device)) for path in sorted(models)}
    start_t = denoisers[r.checkpoint].schedule.num_timesteps - 1
    total, done, results = sum(s.num_steps(start_t) for s in settings), 0, []
    for fields, sampler in zip(r.samplers, settings, strict=True):
        denoiser = denoisers[fields.get("checkpoint", r.checkpoint)]
        x, generator = seeded_start(r.seed, r.count, denoiser.config.channels, denoiser.config.resolution,
                                    denoiser.device)
        network = conditioned(denoiser, r.condition, r.count, autoguidance=sampler.autoguidance)
        started = time.perf_counter()
        with torch.inference_mode():
            for step in run_sampler(network, denoiser.schedule, x, generator, sampler):  # noqa: B007
                done += 1
                yield ComparisonFrame(done, total, list(results))
        calls = (sampler.num_model_calls(start_t, denoiser.schedule.alpha_cumprod_at(start_t) == 0)
                 * denoiser.network_calls(sampler.autoguidance))
        results.append(SamplerResult(fields, calls, time.perf_counter() - started,
                                     image_grid(to_uint8(step.x))))  # the last step's x: the images
        yield ComparisonFrame(done, total, list(results))
