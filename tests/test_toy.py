"""Issue 15 (core): the playground's data, its MLP ε-model against the exact answer, and the exact answer
against Monte Carlo."""

import math

import pytest
import torch

from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.samplers import final_sample, run_sampler
from diffstudio.core.diffusion.schedule import NoiseSchedule
from diffstudio.core.gaussian_mixture import TWO_BLOBS, MixtureDenoiser, sliced_wasserstein
from diffstudio.core.toy import (
    MIXTURE_1D,
    PRESETS,
    ToyModel,
    denoising_field,
    forward_trajectories,
    marginal_density_1d,
    preset_points,
    reverse_paths,
    train_and_compare,
    train_toy,
)
from diffstudio.core.toy_settings import ToyTrainSettings

SCHEDULE = NoiseSchedule()


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_is_seeded_and_fits_the_image_range(name):
    points = preset_points(name, 2000, seed=1)
    assert torch.equal(points, preset_points(name, 2000, seed=1)) and not torch.equal(points, preset_points(name, 2000))
    assert points.shape == (2000, 1 if "1-D" in name else 2) and points.abs().max() < 2.2
    assert 0.1 < float(points.std()) < 1.0


@pytest.mark.parametrize("t", [100, 400, 800])
def test_the_exact_eps_is_the_posterior_mean_of_the_noise(t):
    """E[ε | x_t = x] by Monte Carlo: draw x_0 from the mixture, weigh each by q(x | x_0) = N(√ᾱ x_0, (1−ᾱ) I)."""
    a_bar = SCHEDULE.alpha_cumprod_at(t)
    x0 = TWO_BLOBS.sample(400_000, torch.Generator().manual_seed(0))
    queries = torch.tensor([[-1.0, 0.5], [0.2, 0.1], [0.9, -0.3]], dtype=torch.float64) * math.sqrt(a_bar)
    exact = MixtureDenoiser(TWO_BLOBS, SCHEDULE)(queries, torch.full((3,), t))
    for query, expected in zip(queries, exact, strict=True):
        eps = (query - math.sqrt(a_bar) * x0) / math.sqrt(1 - a_bar)  # the noise each x_0 needs to reach the query
        weights = torch.softmax(-0.5 * (eps ** 2).sum(dim=1), dim=0)
        assert torch.allclose(weights @ eps, expected, atol=0.02)


@pytest.mark.slow  # a learning test: 1,500 steps
def test_the_mlp_trained_for_seconds_samples_nearly_as_well_as_the_exact_model():
    torch.manual_seed(0)
    data = preset_points("mixture", 4000)
    model = ToyModel(2)
    *_, last = train_toy(model, data, SCHEDULE, ToyTrainSettings(steps=1500))
    assert last.step == 1500 and last.loss < 0.5
    settings = SamplerSettings("ddim", 50, eta=1.0, clip=False)
    start = torch.randn(2000, 2, generator=torch.Generator().manual_seed(1))
    reference = preset_points("mixture", 20_000, seed=2)
    with torch.no_grad():
        learned = final_sample(run_sampler(model, SCHEDULE, start, torch.Generator().manual_seed(2), settings))
    exact = final_sample(run_sampler(MixtureDenoiser(TWO_BLOBS, SCHEDULE), SCHEDULE, start.double(),
                                     torch.Generator().manual_seed(2), settings))
    learned_distance, exact_distance = sliced_wasserstein(learned, reference), sliced_wasserstein(exact, reference)
    assert learned_distance < 2.5 * exact_distance, (learned_distance, exact_distance)  # measured: 1.6×
    assert sliced_wasserstein(start, reference) > 4 * learned_distance  # and far from where it started


def test_exact_ode_trajectories_end_at_a_mode():
    start = torch.randn(2000, 1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    steps = list(run_sampler(MixtureDenoiser(MIXTURE_1D, SCHEDULE), SCHEDULE, start, torch.Generator(),
                             SamplerSettings("ddim", 100, eta=0.0, clip=False)))
    end = steps[-1].x
    sigmas = MIXTURE_1D.covs.flatten().sqrt()
    z = ((end - MIXTURE_1D.means.T).abs() / sigmas)  # (2000, 3): how many σ from each component's mean
    nearest = z.argmin(dim=1)
    assert float((z.min(dim=1).values < 3).double().mean()) > 0.97  # a Gaussian holds 99.7 % within 3σ
    shares = torch.bincount(nearest, minlength=3).double() / len(end)
    assert torch.allclose(shares, MIXTURE_1D.weights, atol=0.04)  # and each mode its weight (SE 0.011)


def test_the_1d_heat_map_is_each_marginal_density_and_the_forward_paths_reach_it():
    points = preset_points("mixture 1-D", 3000, seed=4)
    xs = torch.linspace(-3, 3, 601)
    ts = [0, 200, 999]
    heat = marginal_density_1d(points, SCHEDULE, xs, ts)
    assert heat.shape == (3, 601)
    mass = heat.sum(dim=1) * float(xs[1] - xs[0])  # at t = T, N(0, 1) has 0.27 % outside ±3
    assert torch.allclose(mass, torch.tensor([1, 1, 0.9973], dtype=torch.float64), atol=1e-3)
    at_t = {t: SCHEDULE.alpha_cumprod_at(t) for t in ts}
    means = (heat * xs).sum(dim=1) / heat.sum(dim=1)
    assert torch.allclose(means, torch.tensor([math.sqrt(at_t[t]) for t in ts], dtype=torch.float64)
                          * points.mean(), atol=1e-3)
    paths = forward_trajectories(points[:2000], SCHEDULE, torch.Generator().manual_seed(5), every=100)
    assert paths.shape == (11, 2000, 1) and torch.equal(paths[0], points[:2000])
    end = paths[-1].flatten()
    assert abs(float(end.mean())) < 0.08 and abs(float(end.std()) - 1) < 0.05  # q(x_T) ≈ N(0, 1)


@pytest.mark.slow  # a learning test: 1,000 steps (the Playground's GUI test shows the same frames, fast)
def test_training_and_comparing_reports_the_learned_distance_falling_towards_the_exact_one():
    sampler = SamplerSettings("ddim", 20, eta=1.0, clip=False)
    frames = list(train_and_compare("mixture", 2000, ToyTrainSettings(steps=1000), sampler, measure_every=250))
    last = frames[-1]
    assert last.distance_steps == [250, 500, 750, 1000] and len(last.loss_steps) == 20
    assert last.samples.shape == last.exact_samples.shape == (2000, 2)
    assert last.distances[-1] < last.distances[0] and last.distances[-1] < 3 * last.exact_distance
    moons = list(train_and_compare("two moons", 500, ToyTrainSettings(steps=100), sampler, measure_every=50))[-1]
    assert moons.exact_distance is None and moons.exact_samples is None and moons.samples.shape == (500, 2)


def test_reverse_paths_from_one_start_are_one_path_under_the_ode_and_many_under_ddpm():
    exact = MixtureDenoiser(TWO_BLOBS, SCHEDULE)
    start = torch.tensor([0.3, -0.2])
    ts, ode = reverse_paths(exact, SCHEDULE, start, SamplerSettings("ddim", 40, eta=0.0, clip=False), draws=4)
    assert ts[0] == 999 and ts[-1] == 0 and len(ts) == ode.shape[1] == 41 and ode.shape == (4, 41, 2)
    assert torch.equal(ode[0], ode[3]) and torch.equal(ode[:, 0], start.double().expand(4, -1))
    _, sde = reverse_paths(exact, SCHEDULE, start, SamplerSettings("ddim", 40, eta=1.0, clip=False), draws=4)
    assert float((sde[0, -1] - sde[1, -1]).norm()) > 1e-3  # each draw its own noise
    means = TWO_BLOBS.means
    for end in (ode[0, -1], *sde[:, -1]):  # every path lands near one of the two blobs
        assert float((end - means).norm(dim=1).min()) < 0.8


def test_the_exact_denoising_field_points_from_each_blob_to_its_centre():
    exact = MixtureDenoiser(TWO_BLOBS, SCHEDULE)
    t = 50
    shrink = math.sqrt(SCHEDULE.alpha_cumprod_at(t))
    grid, ends = denoising_field(exact, SCHEDULE, t, (-1.5, -1.0), (1.5, 1.0), per_side=31, length=1.0)  # length 1: x̂₀
    assert grid.shape == ends.shape == (31 * 31, 2)
    for mean in TWO_BLOBS.means:  # at x_t = √ᾱ μ_k, the clean point predicted is μ_k's neighbourhood
        nearest = int(((grid - shrink * mean) ** 2).sum(dim=1).argmin())
        assert float((ends[nearest] - mean).norm()) < 0.15
    noisy_grid, noisy_ends = denoising_field(exact, SCHEDULE, 900, (-1.5, -1.0), (1.5, 1.0), per_side=5, length=1.0)
    assert float((noisy_ends - noisy_grid).norm(dim=1).min()) > 0.3  # at high noise every point has far to go
