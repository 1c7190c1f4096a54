"""Long-running work as generators of plain data, for the GUI's worker thread.

Each job yields small dataclasses of numpy uint8 images, numbers and text — never
tensors — so the GUI only displays. The worker runs one job at a time and can
stop between two yields. The GUI names jobs by their function's name and the
worker looks them up here, in its own thread: this module imports torch, and the
GUI thread never does (the first window does not wait for it).

An item may be dropped when a newer one follows within 1/30 s, so every item is a
whole state (the latest preview, the loss curve so far), never a difference.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from diffstudio.core import toy
from diffstudio.core.data import DatasetReport, ImageDataset, find_image_files
from diffstudio.core.devices import describe_device, pick_device
from diffstudio.core.diffusion.forward_view import ForwardFrame, forward_frame
from diffstudio.core.diffusion.inpainting import inpaint, repaint_model_calls
from diffstudio.core.diffusion.interpolation import decode_steps, interpolate, sdedit
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.samplers import run_sampler, vary_from
from diffstudio.core.diffusion.sampling import seeded_start
from diffstudio.core.diffusion.schedule import NoiseSchedule, ScheduleConfig
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.evaluate import (
    SamplingProgress,
    distance_histograms,
    evaluate,
    most_copied,
    most_copied_grid,
    summary,
    table_rows,
    training_images,
)
from diffstudio.core.evaluate_settings import EvaluateSettings
from diffstudio.core.images import image_grid, image_to_tensor, open_image, to_pil, to_uint8
from diffstudio.core.loss_history import LossHistory
from diffstudio.core.metric_history import MetricHistory
from diffstudio.core.progress import ReadProgress
from diffstudio.core.storage.checkpoint import (
    Denoiser,
    build_model,
    create_run,
    load_denoiser,
    load_run_model,
    run_config,
)
from diffstudio.core.storage.diffusers_interop import (
    diffusers_class_names,
    read_diffusers_folder,
    write_diffusers_folder,
)
from diffstudio.core.storage.run_folder import LOG_FILE, PREVIEW_FILE, read_run_config
from diffstudio.core.storage.run_jobs import Done
from diffstudio.core.toy_settings import ToyTrainSettings
from diffstudio.core.trainer import TrainConfig, Trainer
from diffstudio.core.training_data import read_training_folder
from diffstudio.core.unet import UNet, preset

STRIP_LAMBDAS = tuple(i / 10 for i in range(11))  # the interpolation strip: λ = 0, 0.1, … 1


@dataclass
class DeviceInfo:
    name: str  # e.g. "CPU (2 threads)" or "CUDA: NVIDIA H100"
    torch_version: str


def device_job(device: str = "auto") -> Iterator[DeviceInfo]:
    """The first job: imports torch in the worker thread and names the device for the status bar."""
    yield DeviceInfo(describe_device(pick_device(device)), torch.__version__)


def forward_job(image: str | Path, noise_steps: int, beta_schedule: str) -> Iterator[ForwardFrame]:
    yield forward_frame(image, noise_steps, ScheduleConfig(beta_schedule=beta_schedule))


# --- sampling ---


@dataclass
class SampleFrame:
    """One reverse step, as the two grids of the DDPM paper's Fig. 6."""

    index: int  # 1 … total
    total: int
    t: int  # the timestep just denoised
    x_t: np.ndarray  # (H, W, C) uint8 grid of the current samples
    x0_pred: np.ndarray  # (H, W, C) uint8 grid of the predicted clean images
    images: np.ndarray | None = None  # on the last frame: the (B, H, W, C) uint8 results


def sample_frames(steps, total: int) -> Iterator[SampleFrame]:
    for index, step in enumerate(steps, 1):
        last = index == total
        yield SampleFrame(index, total, step.t, image_grid(to_uint8(step.x)), image_grid(to_uint8(step.x0_pred)),
                          to_uint8(step.x) if last else None)


def conditioned(denoiser: Denoiser, condition: dict | None, count: int, image: int | None = None):
    """The network for `count` images under `condition` ({"class_name": a class, MIXED or None, "guidance": s});
    with `image`, for that one image of them."""
    condition = condition or {}
    class_ids = denoiser.class_ids(condition.get("class_name"), count)
    if class_ids is not None and image is not None:
        class_ids = class_ids[image : image + 1]
    return denoiser.network(class_ids, condition.get("guidance", 1.0))


def sample_job(checkpoint: str, sampler: dict, count: int, seed: int, condition: dict | None = None,
               device: str = "auto") -> Iterator[SampleFrame]:
    """`sampler`: the fields of SamplerSettings; `condition`: see `conditioned`."""
    settings = SamplerSettings(**sampler)
    denoiser = load_denoiser(checkpoint, pick_device(device))
    network = conditioned(denoiser, condition, count)
    x, generator = seeded_start(seed, count, denoiser.config.channels, denoiser.config.resolution, denoiser.device)
    total = settings.num_steps(denoiser.schedule.num_timesteps - 1)
    with torch.inference_mode():
        yield from sample_frames(run_sampler(network, denoiser.schedule, x, generator, settings), total)


def vary_job(checkpoint: str, sampler: dict, count: int, seed: int, condition: dict | None, from_index: int,
             image: int, variations: int, device: str = "auto") -> Iterator[SampleFrame]:
    """Fig. 7's variations of image `image` of the run (checkpoint, sampler, count, seed, condition) from its
    step `from_index` (see `samplers.vary_from`)."""
    settings = SamplerSettings(**sampler)
    denoiser = load_denoiser(checkpoint, pick_device(device))
    finish, start_t = settings.variation(from_index, denoiser.schedule.alphas_cumprod.tolist())
    network = conditioned(denoiser, condition, count, image)
    x, generator = seeded_start(seed, count, denoiser.config.channels, denoiser.config.resolution, denoiser.device)
    with torch.inference_mode():
        steps = vary_from(network, denoiser.schedule, x, generator, settings, from_index, image, variations, seed)
        yield from sample_frames(steps, finish.num_steps(start_t))


@dataclass
class SamplerResult:
    sampler: dict  # the SamplerSettings fields
    model_calls: int
    seconds: float
    grid: np.ndarray  # (H, W, C) uint8


@dataclass
class ComparisonFrame:
    """The samplers finished so far, and the steps done of all (for progress)."""

    index: int
    total: int
    results: list[SamplerResult]


def compare_job(checkpoint: str, samplers: list[dict], count: int, seed: int, condition: dict | None = None,
                device: str = "auto") -> Iterator[ComparisonFrame]:
    """The same seed drawn with each sampler in turn, timed: what a solver buys, in one picture."""
    settings = [SamplerSettings(**fields) for fields in samplers]
    denoiser = load_denoiser(checkpoint, pick_device(device))
    network = conditioned(denoiser, condition, count)
    start_t = denoiser.schedule.num_timesteps - 1
    total, done, results = sum(s.num_steps(start_t) for s in settings), 0, []
    for fields, sampler in zip(samplers, settings, strict=True):
        x, generator = seeded_start(seed, count, denoiser.config.channels, denoiser.config.resolution, denoiser.device)
        started = time.perf_counter()
        with torch.inference_mode():
            for step in run_sampler(network, denoiser.schedule, x, generator, sampler):  # noqa: B007
                done += 1
                yield ComparisonFrame(done, total, list(results))
        calls = sampler.num_model_calls(start_t, denoiser.schedule.alpha_cumprod_at(start_t) == 0)
        results.append(SamplerResult(fields, calls, time.perf_counter() - started,
                                     image_grid(to_uint8(step.x))))  # the last step's x: the images
        yield ComparisonFrame(done, total, list(results))


# --- editing ---


def inpaint_job(checkpoint: str, image: str | np.ndarray, mask: np.ndarray, count: int, seed: int, steps: int,
                jump_length: int, resamples: int, condition: dict | None = None,
                device: str = "auto") -> Iterator[SampleFrame]:
    """RePaint: fill in where `mask` ((H, W) bool, any size: scaled to the model's) is True, `count` times."""
    denoiser = load_denoiser(checkpoint, pick_device(device))
    c = denoiser.config
    known = as_model_input(image, c.resolution, c.channels).to(denoiser.device).expand(count, -1, -1, -1)
    paint = as_model_input(np.where(mask, 255, 0).astype(np.uint8)[:, :, None], c.resolution, 1) > 0
    keep = (~paint).to(known.dtype).to(denoiser.device).expand_as(known)
    total = repaint_model_calls(min(steps, denoiser.schedule.num_timesteps), jump_length, resamples)
    with torch.inference_mode():
        yield from sample_frames(inpaint(conditioned(denoiser, condition, 1, 0), denoiser.schedule, known, keep,
                                         torch.Generator().manual_seed(seed),
                                         min(steps, denoiser.schedule.num_timesteps), jump_length, resamples), total)


def sdedit_job(checkpoint: str, image: str | np.ndarray, strength: float, count: int, seed: int, sampler: dict,
               condition: dict | None = None, device: str = "auto") -> Iterator[SampleFrame]:
    """SDEdit: `count` variations of the image from `strength` (t/T, 0 … 1) of the model's own T steps of noise."""
    settings = SamplerSettings(**sampler)
    denoiser = load_denoiser(checkpoint, pick_device(device))
    c = denoiser.config
    noise_steps = round(min(max(strength, 0.0), 1.0) * denoiser.schedule.num_timesteps)
    x0 = as_model_input(image, c.resolution, c.channels).to(denoiser.device)
    with torch.inference_mode():
        steps = sdedit(conditioned(denoiser, condition, 1, 0), denoiser.schedule, x0, noise_steps, count, seed,
                       settings)
        yield from sample_frames(steps, decode_steps(settings, noise_steps))


# --- evaluation ---


@dataclass
class EvaluationResult:
    rows: list[tuple[str, str, str]]  # (measure, the samples, the held-out real images): evaluate.table_rows
    notes: list[str]  # what was not measured and why; the data set's summary
    pairs: np.ndarray  # (H, W, C) uint8 grid: the most copied samples first, each beside its nearest training image
    pair_ratios: list[float]  # d1/d2 of each pair, in the grid's order (row by row)
    centres: np.ndarray  # of the histogram bins of the nearest-training-image distance d1
    sample_density: np.ndarray  # of the samples' d1
    training_density: np.ndarray  # of the training images' own (leave-one-out) d1
    summary: dict  # evaluate.summary: every number, JSON-able


def evaluate_job(checkpoint: str, data: str | None, settings: dict, device: str = "auto"
                 ) -> Iterator[SamplingProgress | EvaluationResult]:
    """`settings`: EvaluateSettings' fields, the sampler's as a dict; `data`: the real images (default: the folder
    the run trained on)."""
    evaluate_settings = EvaluateSettings(**{**settings, "sampler": SamplerSettings(**settings["sampler"])})
    denoiser = load_denoiser(checkpoint, pick_device(device))
    training, report = training_images(denoiser, Path(data) if data else None)
    for item in evaluate(denoiser, training, evaluate_settings):
        if isinstance(item, SamplingProgress):
            yield item
    notes = [report.summary()] + ([item.fd_note()] if item.model.fd is None else [])
    _, ratios = most_copied(item)
    yield EvaluationResult(table_rows(item), notes, most_copied_grid(item), ratios.tolist(),
                           *distance_histograms(item), summary(item))


# --- the playground ---


@dataclass
class ToyView:
    """toy.ToyFrame as numpy, for the Playground panel."""

    step: int
    total: int
    loss_steps: np.ndarray
    losses: np.ndarray
    distance_steps: np.ndarray
    distances: np.ndarray
    exact_distance: float | None
    data: np.ndarray  # (N, D)
    samples: np.ndarray | None  # (N, D), on the last frame
    exact_samples: np.ndarray | None
    heat: HeatMap | None = None  # 1-D data: q(x_t) over (t, x), with forward paths
    histograms: Histograms | None = None  # 1-D data: the densities of the data and the samples


HISTOGRAM_EDGES = np.linspace(-2.5, 2.5, 81)


@dataclass
class Histograms:
    """1-D densities on HISTOGRAM_EDGES' bins (Figs. 18.8 and 18.10's histograms beside the true density)."""

    edges: np.ndarray
    centres: np.ndarray
    data: np.ndarray
    learned: np.ndarray | None
    exact: np.ndarray | None
    true: np.ndarray | None  # the mixture's own density at the bins' centres


def density_histogram(points: np.ndarray | None) -> np.ndarray | None:
    return None if points is None else np.histogram(points[:, 0], HISTOGRAM_EDGES, density=True)[0]


def histograms(name: str, data: np.ndarray, samples: np.ndarray | None, exact: np.ndarray | None,
               drawn: bool) -> Histograms:
    centres = (HISTOGRAM_EDGES[:-1] + HISTOGRAM_EDGES[1:]) / 2
    mixture = None if drawn else toy.MIXTURES.get(name)
    true = None if mixture is None else toy.mixture_density(mixture, torch.from_numpy(centres)[:, None]).numpy()
    return Histograms(HISTOGRAM_EDGES, centres, density_histogram(data), density_histogram(samples),
                      density_histogram(exact), true)


@dataclass
class HeatMap:
    """Figs. 18.2–18.4: the density of q(x_t) (rows: x, columns: t) and forward trajectories over it."""

    density: np.ndarray  # (len(xs), len(ts)), each column (one t) scaled to its peak, so every t shows its shape
    ts: np.ndarray
    xs: np.ndarray
    path_ts: np.ndarray  # (L,)
    paths: np.ndarray  # (PATHS, L)


def heat_map(points: torch.Tensor, schedule: NoiseSchedule, seed: int) -> HeatMap:
    density = toy.marginal_density_1d(points, schedule, toy.HEAT_XS, toy.HEAT_TS)
    density = density / density.max(dim=1, keepdim=True).values
    paths = toy.forward_trajectories(points[: toy.PATHS], schedule, torch.Generator().manual_seed(seed),
                                     toy.PATH_EVERY)
    return HeatMap(density.T.numpy(), np.array(toy.HEAT_TS), toy.HEAT_XS.numpy(),
                   np.arange(paths.shape[0]) * toy.PATH_EVERY, paths[:, :, 0].T.numpy())


def toy_job(name: str, count: int, steps: int, seed: int, sampler: dict,
            clicks: list[tuple[float, float]] | None = None, beta_schedule: str = "linear") -> Iterator[ToyView]:
    """Train the playground's MLP on a preset, or on points drawn around the user's clicks, and compare it with
    the data (and the exact model). x̂₀ is never clipped: points, unlike pixels, are not bounded to [−1, 1]."""
    settings = SamplerSettings(**{**sampler, "clip": False})
    drawn = toy.drawn_points(clicks, seed=seed) if clicks else None
    heat = None
    train_settings = ToyTrainSettings(steps=steps, seed=seed, beta_schedule=beta_schedule)
    for f in toy.train_and_compare(name, count, train_settings, settings, drawn=drawn):
        if heat is None and f.data.shape[1] == 1:
            heat = heat_map(f.data, toy.toy_schedule(beta_schedule), seed)
        if f.model is not None:
            margin = 0.25 * (f.data.max(dim=0).values - f.data.min(dim=0).values)
            TRAINED_TOY.update(model=f.model, exact=f.exact, schedule=f.schedule, dims=f.data.shape[1],
                               box=((f.data.min(dim=0).values - margin).tolist(),
                                    (f.data.max(dim=0).values + margin).tolist()))
        samples = None if f.samples is None else f.samples.numpy()
        exact_samples = None if f.exact_samples is None else f.exact_samples.numpy()
        hists = histograms(name, f.data.numpy(), samples, exact_samples, drawn is not None) \
            if heat is not None else None
        yield ToyView(f.step, f.total, np.array(f.loss_steps), np.array(f.losses), np.array(f.distance_steps),
                      np.array(f.distances), f.exact_distance, f.data.numpy(), samples, exact_samples, heat, hists)


# The playground's last trained model, kept in the worker thread (which alone runs jobs) for toy_paths_job.
TRAINED_TOY: dict = {}


@dataclass
class ToyPaths:
    """Reverse paths from one x_T: ts (L,), then (draws, L, D) points each."""

    ts: np.ndarray
    ode: np.ndarray  # the learned model, DDIM η = 0: the probability-flow ODE (one path)
    sde: np.ndarray  # the learned model, DDPM-like (DDIM η = 1): a path per draw
    exact_ode: np.ndarray | None  # the exact model's ODE path (mixtures)


def toy_paths_job(start: list[float], steps: int = 50, draws: int = 5) -> Iterator[ToyPaths]:
    """Where x_T = `start` goes under the last trained playground model: its ODE path, `draws` stochastic ones,
    and the exact model's ODE path."""
    if not TRAINED_TOY:
        raise DiffstudioError("train a model first (Train), then click where its paths should start")
    x_t = torch.tensor(start[: TRAINED_TOY["dims"]], dtype=torch.float64)
    ode, sde = (SamplerSettings("ddim", steps, eta=eta, clip=False) for eta in (0.0, 1.0))
    model, exact, schedule = TRAINED_TOY["model"], TRAINED_TOY["exact"], TRAINED_TOY["schedule"]
    ts, ode_paths = toy.reverse_paths(model, schedule, x_t, ode, 1)
    _, sde_paths = toy.reverse_paths(model, schedule, x_t, sde, draws)
    exact = None if exact is None else toy.reverse_paths(exact, schedule, x_t, ode, 1)[1]
    yield ToyPaths(np.array(ts), ode_paths.numpy(), sde_paths.numpy(), None if exact is None else exact.numpy())


@dataclass
class ToyField:
    """Segments (pairs of rows) from grid points a quarter of the way to the x̂₀ each model predicts at step t."""

    t: int
    learned: np.ndarray  # (2 n², 2): start, end, start, end, …
    exact: np.ndarray | None


def toy_field_job(t: int) -> Iterator[ToyField]:
    """The last trained 2-D playground model's denoising field at step t, and the exact model's."""
    if not TRAINED_TOY or TRAINED_TOY["dims"] != 2:
        raise DiffstudioError("the field is drawn for a model trained on 2-D data: train one first")
    lows, highs = TRAINED_TOY["box"]

    def segments(model) -> np.ndarray:
        grid, ends = toy.denoising_field(model, TRAINED_TOY["schedule"], t, tuple(lows), tuple(highs))
        return torch.stack([grid, ends], dim=1).reshape(-1, 2).numpy()

    exact = TRAINED_TOY["exact"]
    yield ToyField(t, segments(TRAINED_TOY["model"]), None if exact is None else segments(exact))


@dataclass
class NoisedPoints:
    t: int
    points: np.ndarray  # (N, D): the data at step t of the forward process
    histogram: np.ndarray | None  # 1-D: their density on the bins of `edges`
    edges: np.ndarray = field(default_factory=lambda: HISTOGRAM_EDGES)


def toy_noised_job(name: str, count: int, seed: int, t: int, beta_schedule: str = "linear"
                   ) -> Iterator[NoisedPoints]:
    """The preset's points (as toy_job trains on them) at step t of the forward process."""
    schedule = toy.toy_schedule(beta_schedule)
    points = toy.preset_points(name, count, seed)
    at_t = toy.noised(points, schedule, min(max(t, 0), schedule.num_timesteps - 1), seed).numpy()
    yield NoisedPoints(t, at_t, density_histogram(at_t) if at_t.shape[1] == 1 else None)


# --- interpolation ---


@dataclass
class InterpolationFrame:
    index: int  # decoding step, 1 … total
    total: int
    t: int
    lam: float
    num_timesteps: int  # the model's T
    sources: np.ndarray  # (2, H, W, C) uint8: the two images as the model sees them (cropped, resized)
    strip: np.ndarray  # (H, W, C) uint8: one row of x̂_0 so far at λ = 0, 0.1, … 1
    result: np.ndarray  # (H, W, C) uint8: x̂_0 so far at the chosen λ
    done: bool


def as_model_input(source: str | np.ndarray, resolution: int, channels: int) -> torch.Tensor:
    """An image file, or an (H, W, C) uint8 array (a sample), as a (1, C, H, W) tensor."""
    image = open_image(source) if isinstance(source, str) else to_pil(source)
    return image_to_tensor(image, resolution, channels)


def interpolate_job(checkpoint: str, source_a: str | np.ndarray, source_b: str | np.ndarray, t: int, lam: float,
                    seed: int, encode_mode: str, mix_mode: str, sampler: dict, condition: dict | None = None,
                    device: str = "auto") -> Iterator[InterpolationFrame]:
    """The strip λ = 0 … 1 and the chosen λ, decoded in one batch from t diffusion steps of noise
    (at most the model's T: the GUI learns T from the first frame)."""
    settings = SamplerSettings(**sampler)
    denoiser = load_denoiser(checkpoint, pick_device(device))
    T = denoiser.schedule.num_timesteps
    t = min(max(t, 0), T)
    c = denoiser.config
    a, b = (as_model_input(s, c.resolution, c.channels).to(denoiser.device) for s in (source_a, source_b))
    sources = to_uint8(torch.cat([a, b]))
    total = decode_steps(settings, t)
    lambdas = [*STRIP_LAMBDAS, lam]
    with torch.inference_mode():
        steps = interpolate(conditioned(denoiser, condition, 1, 0), denoiser.schedule, a, b, t, lambdas, seed,
                            encode_mode, mix_mode, settings, inversion_steps=settings.steps)
        for index, step in enumerate(steps, 1):
            x0 = to_uint8(step.x if index == total else step.x0_pred)
            yield InterpolationFrame(index, total, t, lam, T, sources, image_grid(x0[:-1], columns=len(STRIP_LAMBDAS)),
                                     x0[-1], index == total)


# --- training ---


@dataclass
class DatasetSummary:
    folder: str
    text: str  # count, sizes, skipped files, warnings
    count: int
    skipped: int
    thumbnails: np.ndarray  # (H, W, C) uint8 grid of the first images, as the model will see them
    channels: int  # 1 if every image is grayscale, else 3


SPEED_STEPS = 3
_last_dataset: tuple[tuple, ImageDataset, DatasetReport] | None = None  # worker-thread only


def read_dataset(config: TrainConfig) -> Iterator[ReadProgress]:
    """The folder's images, decoded once: the summary shown on choosing a folder and the training started
    from it share one decode (unless a file changed in between). Yields reading progress; the last item's
    result is (dataset, report). Closing it stops the reading within a moment."""
    global _last_dataset
    folder = Path(config.data)
    files = tuple((str(p), p.stat().st_mtime_ns) for p in find_image_files(folder)) if folder.is_dir() else ()
    classes = config.classes == "auto"
    key = (config.data, config.resolution, config.channels, config.crop, config.flip, classes, config.data_cache, files)
    if _last_dataset is None or _last_dataset[0] != key:
        for progress in read_training_folder(config):
            if progress.result is None:
                yield progress
        _last_dataset = (key, *progress.result)
    yield ReadProgress(len(files), len(files), 0.0, _last_dataset[1:])


def dataset_job(folder: str, resolution: int, classes: bool = True) -> Iterator[ReadProgress | DatasetSummary]:
    config = TrainConfig(data=folder, resolution=resolution, classes="auto" if classes else "off")
    for progress in read_dataset(config):
        if progress.result is None:
            yield progress
    dataset, report = progress.result
    yield DatasetSummary(folder, report.summary(), report.count, len(report.skipped),
                         image_grid(dataset.preview_images(24), columns=8), dataset.channels)


@dataclass
class SpeedEstimate:
    steps_per_minute: float | None  # None: could not measure (see `problem`)
    problem: str = ""


def speed_job(preset_name: str, resolution: int, batch: int, device: str = "auto",
              precision: str = "auto") -> Iterator[SpeedEstimate]:
    """Training steps per minute with these settings on this device: a few real steps of the model on noise.
    A problem (no such device) is reported in the estimate, not as a failure: the user is only choosing."""
    try:
        config = TrainConfig(data="", preset=preset_name, resolution=resolution, batch=batch, precision=precision)
        config.validate()
        trainer = Trainer(Path(), config, UNet(preset(preset_name, resolution)), NoiseSchedule(),
                          RandomImages(resolution), pick_device(device))
    except DiffstudioError as e:
        yield SpeedEstimate(None, str(e))
        return
    try:
        trainer.train_step()  # warm-up: allocations, kernel choice
        durations = []
        for _ in range(SPEED_STEPS):
            start = time.perf_counter()
            trainer.train_step()
            durations.append(time.perf_counter() - start)
            yield SpeedEstimate(60.0 / statistics.median(durations))
    finally:
        trainer.close()


class RandomImages:
    """Stands in for a data set when only the speed of a step matters."""

    def __init__(self, resolution: int):
        self.resolution = resolution

    def batch_for_step(self, step: int, batch_size: int, seed: int) -> torch.Tensor:
        return torch.rand(batch_size, 3, self.resolution, self.resolution) * 2 - 1

    def labels_for_step(self, step: int, batch_size: int, seed: int) -> None:
        return None


@dataclass
class TrainProgress:
    run: str  # the run folder
    step: int
    total: int
    loss: float
    images_per_s: float
    eta_s: float
    loss_steps: np.ndarray  # the loss curve so far (binned means, see LossHistory)
    loss_values: np.ndarray
    preview: np.ndarray | None  # the latest grid of EMA samples
    preview_step: int
    saved_step: int  # the step of the newest checkpoint
    # the measured curves so far (eval_every; empty when off): steps, KID, its spread, the copied share
    metric_steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    kid: np.ndarray = field(default_factory=lambda: np.zeros(0))
    kid_std: np.ndarray = field(default_factory=lambda: np.zeros(0))
    memorised: np.ndarray = field(default_factory=lambda: np.zeros(0))


def read_preview(run_dir: Path) -> np.ndarray | None:
    path = run_dir / PREVIEW_FILE
    return np.asarray(open_image(path).convert("RGB")) if path.is_file() else None


def train_job(run: str, config: dict | None, device: str = "auto", steps: int | None = None,
              changes: dict | None = None) -> Iterator[ReadProgress | TrainProgress]:
    """Train a new run (`config`: TrainConfig's fields) or resume `run` (config None; `steps` may set a new
    total, `changes` other train_config.RESUME_CHANGES). Closing the generator — Stop, or quitting the app — saves a
    checkpoint at the current step."""
    run_dir = Path(run)
    new = config is not None
    if new:
        config = TrainConfig(**config)
        config.validate()  # before reading a big folder
    else:
        config = TrainConfig.from_dict(read_run_config(run_dir).get("training", {}))
    for reading in read_dataset(config):  # a resumed run's folder read as when it began: the same disk cache
        if reading.result is None:
            yield reading
    dataset, report = reading.result
    if new:
        trainer = Trainer.create(run_dir, config, pick_device(device), dataset, report)
    else:
        trainer = Trainer.resume(run_dir, pick_device(device), steps, changes, dataset)
    history, metrics = LossHistory.from_log(run_dir / LOG_FILE), MetricHistory.from_log(run_dir / LOG_FILE)
    progress = TrainProgress(str(run_dir), trainer.step, trainer.config.steps, trainer.last_loss, 0.0, float("nan"),
                             *history.arrays(), read_preview(run_dir), trainer.step, trainer.step, *metrics.arrays())
    yield progress
    try:
        for event in trainer.run():
            history.add(event.step, event.loss)
            progress = replace(progress, step=event.step, loss=event.loss, images_per_s=event.images_per_s,
                               eta_s=event.eta_s)
            progress.loss_steps, progress.loss_values = history.arrays()
            if event.preview is not None:
                progress.preview, progress.preview_step = event.preview, event.step
            if event.checkpoint is not None:
                progress.saved_step = event.step
            if event.metrics is not None:
                metrics.add(event.step, event.metrics)
                progress.metric_steps, progress.kid, progress.kid_std, progress.memorised = metrics.arrays()
            yield progress
    except GeneratorExit:  # stopped: keep what was learned since the last checkpoint
        if trainer.step > progress.saved_step:
            try:
                trainer.save()
            except DiffstudioError as e:
                raise DiffstudioError(f"stopped at step {trainer.step}, but its checkpoint could not be saved: {e} "
                                      f"The run is safe at step {progress.saved_step}: "
                                      f"{trainer.last_checkpoint_text()}") from e
        raise
    finally:
        trainer.close()


# --- diffusers folders (the run-folder jobs are in storage/run_jobs.py, torch-free) ---


def export_diffusers_job(run: str, out: str) -> Iterator[Done]:
    model, schedule = load_run_model(Path(run))
    classes = tuple(read_run_config(Path(run)).get("classes", ()))
    write_diffusers_folder(out, model.config, schedule, model.state_dict(), classes)
    yield Done(f"Exported {Path(run).name} as a diffusers folder", out)


def import_diffusers_job(folder: str, run: str) -> Iterator[Done]:
    unet_config, schedule_config, state = read_diffusers_folder(folder)
    build_model(unet_config, state, Path(folder))  # refuse weights that do not fit before writing anything
    classes = diffusers_class_names(folder, unet_config)
    create_run(run, run_config(unet_config, schedule_config, imported_from=str(Path(folder).resolve()),
                               **({"classes": list(classes)} if classes else {})), state)
    yield Done(f"Imported {Path(folder).name} as {Path(run).name}", run)
