"""Diffusion in 1-D and 2-D, for the playground: point clouds that can be drawn whole, a small MLP ε-model that
trains on them in seconds, and for Gaussian mixtures the exact ε* beside it (gaussian_mixture.py).

The data sets are scaled to about [−1, 1], as images are, so the image schedule (T = 1000, linear β) fits them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from diffstudio.core.choices import TOY_DATA
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.samplers import final_sample, run_sampler
from diffstudio.core.diffusion.schedule import NoiseSchedule, ScheduleConfig
from diffstudio.core.gaussian_mixture import TWO_BLOBS, GaussianMixture, MixtureDenoiser, sliced_wasserstein
from diffstudio.core.toy_settings import ToyTrainSettings
from diffstudio.core.unet import timestep_embedding

MIXTURE_1D = GaussianMixture(  # Figs. 18.2–18.4's kind of data: three bumps on a line
    weights=torch.tensor([0.3, 0.45, 0.25], dtype=torch.float64),
    means=torch.tensor([[-0.7], [0.1], [0.75]], dtype=torch.float64),
    covs=torch.tensor([[[0.01]], [[0.006]], [[0.012]]], dtype=torch.float64),
)
MIXTURES = {"mixture": TWO_BLOBS, "mixture 1-D": MIXTURE_1D}  # the presets with an exact ε*


def two_moons(n: int, g: torch.Generator) -> torch.Tensor:
    angle = torch.rand(n, generator=g, dtype=torch.float64) * math.pi
    upper = torch.rand(n, generator=g) < 0.5
    x = torch.where(upper, angle.cos(), 1 - angle.cos())
    y = torch.where(upper, angle.sin(), 0.5 - angle.sin())
    points = torch.stack([x - 0.5, y - 0.25], dim=1) * 0.8
    return points + 0.04 * torch.randn(n, 2, generator=g, dtype=torch.float64)


def spiral(n: int, g: torch.Generator) -> torch.Tensor:
    turn = torch.rand(n, generator=g, dtype=torch.float64).sqrt() * 3 * math.pi
    points = torch.stack([turn * turn.cos(), turn * turn.sin()], dim=1) / (3 * math.pi)
    return points + 0.02 * torch.randn(n, 2, generator=g, dtype=torch.float64)


def checkerboard(n: int, g: torch.Generator) -> torch.Tensor:
    """Uniform on the black squares of a 4 × 4 board over [−1, 1]²."""
    cell = torch.randint(0, 8, (n,), generator=g)
    row = cell // 2
    column = 2 * (cell % 2) + row % 2
    corner = torch.stack([column, row], dim=1).double() * 0.5 - 1
    return corner + 0.5 * torch.rand(n, 2, generator=g, dtype=torch.float64)


def ring(n: int, g: torch.Generator) -> torch.Tensor:
    angle = torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi
    radius = 0.7 + 0.04 * torch.randn(n, generator=g, dtype=torch.float64)
    return torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1)


SHAPES = {"two moons": two_moons, "spiral": spiral, "checkerboard": checkerboard, "ring": ring}
PRESETS = TOY_DATA  # choices.TOY_DATA: the mixtures, then the shapes


def mixture_density(mixture: GaussianMixture, x: torch.Tensor) -> torch.Tensor:
    """The mixture's density at points (N, D)."""
    dist = torch.distributions.MultivariateNormal(mixture.means, covariance_matrix=mixture.covs)
    log_components = dist.log_prob(x.double()[:, None, :]) + mixture.weights.log()
    return torch.logsumexp(log_components, dim=1).exp()


def toy_schedule(beta_schedule: str = "linear") -> NoiseSchedule:
    """The image schedule (T = 1000, ε prediction): the playground shows what images go through."""
    return NoiseSchedule(ScheduleConfig(beta_schedule=beta_schedule))


def preset_points(name: str, n: int, seed: int = 0) -> torch.Tensor:
    """n points (n, D) of a preset, float64, seeded."""
    g = torch.Generator().manual_seed(seed)
    if name in MIXTURES:
        return MIXTURES[name].sample(n, g)
    if name in SHAPES:
        return SHAPES[name](n, g)
    raise ValueError(f"unknown data set {name!r}: choose one of {', '.join(PRESETS)}")


class ToyModel(nn.Module):
    """ε_θ(x_t, t) for points: the sinusoidal timestep embedding, concatenated with x_t, through an MLP."""

    def __init__(self, dims: int, hidden: int = 128, layers: int = 3, time_dims: int = 32):
        super().__init__()
        self.dims, self.time_dims = dims, time_dims
        widths = [dims + time_dims, *[hidden] * layers]
        self.hidden = nn.ModuleList([nn.Linear(a, b) for a, b in zip(widths, widths[1:], strict=False)])
        self.out = nn.Linear(hidden, dims)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x.float(), timestep_embedding(t, self.time_dims, True, 0)], dim=1)
        for layer in self.hidden:
            h = F.silu(layer(h))
        return self.out(h).to(x.dtype)


@dataclass(frozen=True)
class ToyProgress:
    step: int
    total: int
    loss: float  # the mean of the last report_every steps' L_simple


def train_toy(model: ToyModel, points: torch.Tensor, schedule: NoiseSchedule, settings: ToyTrainSettings
              ) -> Iterator[ToyProgress]:
    """Algorithm 1 on a point cloud (L_simple, ε target), seeded; a progress item every report_every steps."""
    g = torch.Generator().manual_seed(settings.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.0)
    points = points.float()
    losses = []
    model.train()
    for step in range(1, settings.steps + 1):
        x0 = points[torch.randint(0, len(points), (settings.batch,), generator=g)]
        t = torch.randint(0, schedule.num_timesteps, (settings.batch,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        loss = F.mse_loss(model(schedule.q_sample(x0, t, noise), t), noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % settings.report_every == 0 or step == settings.steps:
            yield ToyProgress(step, settings.steps, sum(losses) / len(losses))
            losses = []
    model.eval()


def marginal_density_1d(points: torch.Tensor, schedule: NoiseSchedule, xs: torch.Tensor, ts: list[int]
                        ) -> torch.Tensor:
    """q(x_t) on a grid, (len(ts), len(xs)): the exact marginal of the points' own distribution, a mixture of
    N(√ᾱ_t x_i, 1 − ᾱ_t) over the points (Figs. 18.2–18.4's heat map). At t = 0, where it would be a row of spikes,
    each point is widened to the grid's spacing."""
    x0, xs = points.double().flatten(), xs.double()
    spacing = float(xs[1] - xs[0]) if len(xs) > 1 else 1.0
    rows = []
    for t in ts:
        a_bar = schedule.alpha_cumprod_at(t)
        variance = max(1 - a_bar, spacing ** 2)
        z = (xs[:, None] - math.sqrt(a_bar) * x0[None, :]) ** 2 / variance
        rows.append(torch.exp(-0.5 * z).mean(dim=1) / math.sqrt(2 * math.pi * variance))
    return torch.stack(rows)


def forward_trajectories(x0: torch.Tensor, schedule: NoiseSchedule, generator: torch.Generator,
                         every: int = 10) -> torch.Tensor:
    """Paths of the forward chain q(x_t | x_{t−1}) (eq. 2) from each point, (T // every + 1, N, D): x_0, then
    every `every`-th step, as the lecture's Fig. 18.2 draws them."""
    x, path = x0.double(), [x0.double()]
    for t in range(schedule.num_timesteps):
        noise = torch.randn(x.shape, generator=generator, dtype=torch.float64)
        x = schedule.q_step(x, torch.full((len(x),), t), noise)
        if (t + 1) % every == 0:
            path.append(x)
    return torch.stack(path)


@dataclass
class ToyFrame:
    """The playground's state after some training: plain data for the GUI."""

    step: int
    total: int
    loss_steps: list[int]
    losses: list[float]
    distance_steps: list[int]  # when the learned model's samples were measured
    distances: list[float]  # their sliced Wasserstein distance to the data
    exact_distance: float | None  # the exact model's, with the same sampler (mixtures only)
    data: torch.Tensor  # (N, D) the training points
    samples: torch.Tensor | None = None  # (M, D) the learned model's, on the last frame
    exact_samples: torch.Tensor | None = None  # the exact model's
    model: ToyModel | None = None  # the trained network, on the last frame
    exact: MixtureDenoiser | None = None
    schedule: NoiseSchedule | None = None  # the one both models denoise under


def sample_points(model, schedule: NoiseSchedule, count: int, dims: int, settings: SamplerSettings, seed: int
                  ) -> torch.Tensor:
    """`count` points from a model (learned or exact) with a sampler, from seeded noise."""
    start = torch.randn(count, dims, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    with torch.no_grad():
        return final_sample(run_sampler(model, schedule, start, torch.Generator().manual_seed(seed + 1),
                                        settings)).double()


def train_and_compare(name: str, count: int, train_settings: ToyTrainSettings, sampler: SamplerSettings,
                      measure_every: int = 250, measured: int = 2000, drawn: torch.Tensor | None = None
                      ) -> Iterator[ToyFrame]:
    """Train the MLP on a preset's points, measuring `measured` of its samples against the data as it learns (fewer
    than ~2,000 and the distance's own sampling noise hides the last gains); the last frame holds its samples and,
    for a mixture, the exact model's, drawn from the same noise with the same sampler. `drawn` points (N, D), the
    user's own, replace the preset: they are then both the data and what the samples are measured against."""
    schedule = toy_schedule(train_settings.beta_schedule)
    data = preset_points(name, count, train_settings.seed) if drawn is None else drawn.double()
    reference = preset_points(name, 10_000, train_settings.seed + 1) if drawn is None else data
    name = name if drawn is None else "drawn"
    dims = data.shape[1]
    torch.manual_seed(train_settings.seed)
    model = ToyModel(dims, train_settings.hidden)
    exact = MixtureDenoiser(MIXTURES[name], schedule) if name in MIXTURES else None
    exact_distance = None if exact is None else sliced_wasserstein(
        sample_points(exact, schedule, measured, dims, sampler, 0), reference)
    frame = ToyFrame(0, train_settings.steps, [], [], [], [], exact_distance, data)
    for progress in train_toy(model, data, schedule, train_settings):
        frame.step = progress.step
        frame.loss_steps.append(progress.step)
        frame.losses.append(progress.loss)
        if progress.step % measure_every == 0 or progress.step == progress.total:
            frame.distance_steps.append(progress.step)
            frame.distances.append(sliced_wasserstein(sample_points(model, schedule, measured, dims, sampler, 0),
                                                      reference))
        yield frame
    frame.samples = sample_points(model, schedule, len(data), dims, sampler, 1)
    frame.model, frame.exact, frame.schedule = model, exact, schedule
    if exact is not None:
        frame.exact_samples = sample_points(exact, schedule, len(data), dims, sampler, 1)
    yield frame


HEAT_TS = list(range(0, 1000, 5))  # the heat map's columns: every 5th timestep
HEAT_XS = torch.linspace(-2.5, 2.5, 251, dtype=torch.float64)  # its rows
PATHS, PATH_EVERY = 12, 5  # forward trajectories drawn on it, a point every 5 steps


def noised(points: torch.Tensor, schedule: NoiseSchedule, t: int, seed: int) -> torch.Tensor:
    """The points at step t of the forward process, x_t ~ q(x_t | x_0) (eq. 4), from seeded noise: the same
    noise at every t, so moving t moves each point smoothly."""
    noise = torch.randn(points.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return schedule.q_sample(points.double(), torch.full((len(points),), t), noise)


def drawn_points(clicks: list[tuple[float, float]], per_click: int = 40, spread: float = 0.04,
                 seed: int = 0) -> torch.Tensor:
    """The user's own 2-D data: a small seeded Gaussian puff of points around each click."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor(clicks, dtype=torch.float64).repeat_interleave(per_click, dim=0)
    return centres + spread * torch.randn(centres.shape, generator=g, dtype=torch.float64)


def reverse_paths(model, schedule: NoiseSchedule, start: torch.Tensor, settings: SamplerSettings, draws: int,
                  seed: int = 0) -> tuple[list[int], torch.Tensor]:
    """`draws` reverse paths from one x_T (D,): the timesteps, and the points (draws, steps + 1, D), x_T first.
    A deterministic sampler (DDIM η = 0, the probability-flow ODE) gives the same path every draw; a stochastic
    one (DDPM, DDIM η > 0) a different path each."""
    x = start.double().expand(draws, -1).clone()
    generators = [torch.Generator().manual_seed(seed + i) for i in range(draws)]
    step_ts, points = [], [x]
    with torch.no_grad():
        for step in run_sampler(model, schedule, x, generators, settings):
            step_ts.append(step.t)
            points.append(step.x.double())
    # x_T is at the first step's t; after the step at t_k the path is at t_(k+1), and at the end it is clean (0)
    return [*step_ts, 0], torch.stack(points, dim=1)


def denoising_field(model, schedule: NoiseSchedule, t: int, lows: tuple[float, float], highs: tuple[float, float],
                    per_side: int = 21, length: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the model sends each point of a grid over the box [lows, highs] at step t: the grid (n², 2) and the
    predicted clean points x̂₀ (n², 2). A drawing of segments from x_t a `length` of the way to x̂₀ shows the field
    the reverse process follows (the lecture's Fig. 18.7)."""
    xs = torch.linspace(lows[0], highs[0], per_side, dtype=torch.float64)
    ys = torch.linspace(lows[1], highs[1], per_side, dtype=torch.float64)
    grid = torch.cartesian_prod(xs, ys)
    steps = torch.full((len(grid),), t)
    with torch.no_grad():
        x0 = schedule.predict_x0_from_eps(grid, steps, model(grid, steps).double())
    return grid, grid + length * (x0 - grid)
