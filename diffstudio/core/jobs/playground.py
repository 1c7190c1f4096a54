"""The Playground's jobs: a small MLP trained on 1-D or 2-D points and compared with the data and the exact
model, and views of the trained models (reverse paths, the denoising field) and of the forward process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from diffstudio.core import toy
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.schedule import NoiseSchedule
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.jobs.messages import (
    HISTOGRAM_EDGES,
    HeatMap,
    Histograms,
    NoisedPoints,
    ToyField,
    ToyPaths,
    ToyView,
)
from diffstudio.core.jobs.requests import ToyFieldRequest, ToyNoisedRequest, ToyPathsRequest, ToyRequest
from diffstudio.core.toy_settings import ToyTrainSettings


@dataclass(frozen=True)
class TrainedToy:
    """The playground's trained models, which the paths and the field are drawn from (ToyView.trained)."""

    model: torch.nn.Module
    exact: torch.nn.Module | None  # the exact denoiser of a mixture
    schedule: NoiseSchedule
    dims: int
    box: tuple[list[float], list[float]]  # the data's bounds with a margin: where the field is drawn


def density_histogram(points: np.ndarray | None) -> np.ndarray | None:
    return None if points is None else np.histogram(points[:, 0], HISTOGRAM_EDGES, density=True)[0]


def histograms(name: str, data: np.ndarray, samples: np.ndarray | None, exact: np.ndarray | None,
               drawn: bool) -> Histograms:
    centres = (HISTOGRAM_EDGES[:-1] + HISTOGRAM_EDGES[1:]) / 2
    mixture = None if drawn else toy.MIXTURES.get(name)
    true = None if mixture is None else toy.mixture_density(mixture, torch.from_numpy(centres)[:, None]).numpy()
    return Histograms(HISTOGRAM_EDGES, centres, density_histogram(data), density_histogram(samples),
                      density_histogram(exact), true)


def heat_map(points: torch.Tensor, schedule: NoiseSchedule, seed: int) -> HeatMap:
    density = toy.marginal_density_1d(points, schedule, toy.HEAT_XS, toy.HEAT_TS)
    density = density / density.max(dim=1, keepdim=True).values
    paths = toy.forward_trajectories(points[: toy.PATHS], schedule, torch.Generator().manual_seed(seed),
                                     toy.PATH_EVERY)
    return HeatMap(density.T.numpy(), np.array(toy.HEAT_TS), toy.HEAT_XS.numpy(),
                   np.arange(paths.shape[0]) * toy.PATH_EVERY, paths[:, :, 0].T.numpy())


def trained_toy(frame: toy.ToyFrame) -> TrainedToy:
    margin = 0.25 * (frame.data.max(dim=0).values - frame.data.min(dim=0).values)
    return TrainedToy(frame.model, frame.exact, frame.schedule, frame.data.shape[1],
                      ((frame.data.min(dim=0).values - margin).tolist(),
                       (frame.data.max(dim=0).values + margin).tolist()))


def toy_job(r: ToyRequest) -> Iterator[ToyView]:
    """x̂₀ is never clipped: points, unlike pixels, are not bounded to [−1, 1]."""
    settings = SamplerSettings(**{**r.sampler, "clip": False})
    drawn = toy.drawn_points(r.clicks, seed=r.seed) if r.clicks else None
    heat = None
    train_settings = ToyTrainSettings(steps=r.steps, seed=r.seed, beta_schedule=r.beta_schedule)
    for f in toy.train_and_compare(r.name, r.count, train_settings, settings, drawn=drawn):
        if heat is None and f.data.shape[1] == 1:
            heat = heat_map(f.data, toy.toy_schedule(r.beta_schedule), r.seed)
        samples = None if f.samples is None else f.samples.numpy()
        exact_samples = None if f.exact_samples is None else f.exact_samples.numpy()
        hists = histograms(r.name, f.data.numpy(), samples, exact_samples, drawn is not None) \
            if heat is not None else None
        yield ToyView(f.step, f.total, np.array(f.loss_steps), np.array(f.losses), np.array(f.distance_steps),
                      np.array(f.distances), f.exact_distance, f.data.numpy(), samples, exact_samples, heat, hists,
                      None if f.model is None else trained_toy(f))


def toy_paths_job(r: ToyPathsRequest) -> Iterator[ToyPaths]:
    """Where x_T = `start` goes under the trained model: its ODE path, `draws` stochastic ones, and the exact
    model's ODE path."""
    trained = r.trained
    if not isinstance(trained, TrainedToy):
        raise DiffstudioError("train a model first (Train), then click where its paths should start")
    x_t = torch.tensor(r.start[: trained.dims], dtype=torch.float64)
    ode, sde = (SamplerSettings("ddim", r.steps, eta=eta, clip=False) for eta in (0.0, 1.0))
    ts, ode_paths = toy.reverse_paths(trained.model, trained.schedule, x_t, ode, 1)
    _, sde_paths = toy.reverse_paths(trained.model, trained.schedule, x_t, sde, r.draws)
    exact = None if trained.exact is None else toy.reverse_paths(trained.exact, trained.schedule, x_t, ode, 1)[1]
    yield ToyPaths(np.array(ts), ode_paths.numpy(), sde_paths.numpy(), None if exact is None else exact.numpy())


def toy_field_job(r: ToyFieldRequest) -> Iterator[ToyField]:
    """The trained 2-D model's denoising field at step t, and the exact model's."""
    trained = r.trained
    if not isinstance(trained, TrainedToy) or trained.dims != 2:
        raise DiffstudioError("the field is drawn for a model trained on 2-D data: train one first")
    lows, highs = trained.box

    def segments(model) -> np.ndarray:
        grid, ends = toy.denoising_field(model, trained.schedule, r.t, tuple(lows), tuple(highs))
        return torch.stack([grid, ends], dim=1).reshape(-1, 2).numpy()

    yield ToyField(r.t, segments(trained.model), None if trained.exact is None else segments(trained.exact))


def toy_noised_job(r: ToyNoisedRequest) -> Iterator[NoisedPoints]:
    """The preset's points (as toy_job trains on them) at step t of the forward process."""
    schedule = toy.toy_schedule(r.beta_schedule)
    points = toy.preset_points(r.name, r.count, r.seed)
    at_t = toy.noised(points, schedule, min(max(r.t, 0), schedule.num_timesteps - 1), r.seed).numpy()
    yield NoisedPoints(r.t, at_t, density_histogram(at_t) if at_t.shape[1] == 1 else None)
