"""Acceptance 2: the samplers, driven by the exact optimal denoiser of a Gaussian mixture
(`core/gaussian_mixture.py`), reproduce the mixture. Nothing is trained: any error is the sampler's (or
discretisation's)."""

import functools
import math

import pytest
import torch

from diffstudio.core.diffusion.ddim import ddim_sample
from diffstudio.core.diffusion.ddpm import ddpm_sample, ddpm_step
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.samplers import ddim_invert, final_sample, run_sampler
from diffstudio.core.diffusion.schedule import NoiseSchedule, timestep_batch
from diffstudio.core.diffusion.timesteps import ddim_timesteps
from diffstudio.core.gaussian_mixture import TWO_BLOBS, MixtureDenoiser, sliced_wasserstein

SCHEDULE = NoiseSchedule()
N = 20_000
MIXTURE = TWO_BLOBS
WEIGHTS, MEANS, COVS = MIXTURE.weights, MIXTURE.means, MIXTURE.covs
ORACLE = MixtureDenoiser(MIXTURE, SCHEDULE)


def assign_components(x: torch.Tensor) -> torch.Tensor:
    """The most likely mixture component of each sample (the components barely overlap)."""
    precisions = torch.linalg.inv(COVS)
    diff = x[:, None, :] - MEANS[None]
    log_lik = WEIGHTS.log() - 0.5 * torch.logdet(COVS) - 0.5 * torch.einsum("bki,kij,bkj->bk", diff, precisions, diff)
    return log_lik.argmax(1)


def check_matches_mixture(x: torch.Tensor, bias: float = 0.0) -> None:
    """Weights, means and covariances within 5 Monte Carlo standard errors (+ an allowed bias)."""
    labels = assign_components(x)
    for k in range(len(WEIGHTS)):
        w = float(WEIGHTS[k])
        members = x[labels == k]
        n_k = len(members)
        assert abs(n_k / len(x) - w) < 5 * math.sqrt(w * (1 - w) / len(x)) + bias, f"weight of component {k}"
        var = torch.diagonal(COVS[k])
        mean_tol = 5 * (var / n_k).sqrt() + bias
        assert ((members.mean(0) - MEANS[k]).abs() < mean_tol).all(), f"mean of component {k}: {members.mean(0)}"
        cov = torch.cov(members.T)
        cov_se = ((var[:, None] * var[None, :] + COVS[k] ** 2) / n_k).sqrt()
        assert ((cov - COVS[k]).abs() < 5 * cov_se + bias).all(), f"covariance of component {k}: {cov}"


def noise(seed: int) -> tuple[torch.Tensor, torch.Generator]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(N, 2, generator=generator, dtype=torch.float64), generator


def test_checker_accepts_true_samples_and_rejects_others():
    true = MIXTURE.sample(N, torch.Generator().manual_seed(1))
    check_matches_mixture(true)
    with pytest.raises(AssertionError):
        check_matches_mixture(true * 1.1)  # 21 % too much variance


@pytest.mark.slow  # 1,000 steps on 20,000 points, twice: CI runs it (-m slow)
@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_ddpm_reproduces_the_mixture(variance):
    x, generator = noise(10)
    steps = ddpm_sample(ORACLE, SCHEDULE, x, generator, variance=variance, clip=False)
    check_matches_mixture(final_sample(steps), bias=0.01)


@pytest.mark.slow  # 1,000 steps on 20,000 points: CI runs it (-m slow)
def test_ddpm_without_its_noise_does_not():
    """The test can fail: Algorithm 2 with σ_t = 0 collapses the spread of each component."""
    x, _ = noise(11)
    for t in range(SCHEDULE.num_timesteps - 1, -1, -1):
        x, _ = ddpm_step(SCHEDULE, x, ORACLE(x, timestep_batch(t, x)), t, torch.zeros_like(x), clip=False)
    with pytest.raises(AssertionError):
        check_matches_mixture(x, bias=0.01)


def test_ddim_50_steps_reproduces_the_mixture():
    x, _ = noise(12)
    steps = ddim_sample(ORACLE, SCHEDULE, x, num_steps=50, eta=0.0, clip=False)
    check_matches_mixture(final_sample(steps), bias=0.02)


def test_ddim_with_eta_reproduces_the_mixture():
    x, generator = noise(13)
    steps = ddim_sample(ORACLE, SCHEDULE, x, generator, num_steps=100, eta=1.0, clip=False)
    check_matches_mixture(final_sample(steps), bias=0.02)


def test_sampling_from_an_intermediate_x_t():
    """Starting at x_t ~ q(x_t) (not pure noise) also ends on the data distribution (Fig. 7's "vary from here")."""
    g = torch.Generator().manual_seed(14)
    t = 400
    means, covs = MIXTURE.marginal(SCHEDULE.alpha_cumprod_at(t))
    labels = (torch.rand(N, generator=g, dtype=torch.float64) < WEIGHTS[1]).long()
    chol = torch.linalg.cholesky(covs)
    x_t = means[labels] + torch.einsum("bij,bj->bi", chol[labels], torch.randn(N, 2, generator=g, dtype=torch.float64))
    check_matches_mixture(final_sample(ddpm_sample(ORACLE, SCHEDULE, x_t, g, start_t=t, clip=False)), bias=0.01)
    check_matches_mixture(final_sample(ddim_sample(ORACLE, SCHEDULE, x_t, num_steps=40, start_t=t, clip=False)),
                          bias=0.02)


def test_ddim_inversion_round_trips_with_first_order_error():
    """Deterministic encoding: invert data to t, decode with the same steps, land back where it started,
    up to the inversion's first-order error, which halves when the steps double."""
    g = torch.Generator().manual_seed(15)
    x0 = MEANS[torch.arange(64) % 2] + 0.1 * torch.randn(64, 2, generator=g, dtype=torch.float64)
    errors = []
    for steps in (50, 100, 200):
        x_t = ddim_invert(ORACLE, SCHEDULE, x0, ddim_timesteps(600, steps))
        assert (x_t - x0).abs().mean() > 0.3  # it did move into the noise
        back = final_sample(ddim_sample(ORACLE, SCHEDULE, x_t, num_steps=steps, start_t=600, clip=False))
        errors.append(float((back - x0).abs().mean()))
    assert errors[-1] < 0.005
    assert errors[1] < 0.6 * errors[0] and errors[2] < 0.6 * errors[1]


# --- issue 12: the fast samplers against DDIM, at equal model calls (numbers: benchmarks/sampler_oracle.py) ---

REFERENCE = MIXTURE.sample(4 * N, torch.Generator().manual_seed(100))


@functools.cache
def distance_after(kind: str, steps: int, spacing: str = "trailing", eta: float = 0.0) -> float:
    x, generator = noise(16)
    settings = SamplerSettings(kind, steps, eta, clip=False, spacing=spacing)
    return sliced_wasserstein(final_sample(run_sampler(ORACLE, SCHEDULE, x, generator, settings)), REFERENCE)


def test_the_distance_sees_a_sampler_error():
    """20,000 true draws sit at the floor (~0.008); DDIM with 5 steps is far above it."""
    floor = sliced_wasserstein(MIXTURE.sample(N, torch.Generator().manual_seed(101)), REFERENCE)
    assert floor < 0.012 and distance_after("ddim", 5) > 10 * floor


@pytest.mark.parametrize("calls", [10, 20])
@pytest.mark.parametrize("kind", ["dpm++2m", "dpm++3m"])
def test_dpm_solver_is_closer_than_ddim_at_equal_calls(kind, calls):
    """Measured: 10 calls 6.8–7.0 against DDIM's 8.8 (×100); 20 calls 3.6–4.1 against 4.5."""
    assert distance_after(kind, calls) < 0.95 * distance_after("ddim", calls)


def test_dpm_solver_on_karras_steps_halves_ddims_distance_at_20_calls():
    assert distance_after("dpm++2m", 20, "karras") < 0.6 * distance_after("ddim", 20)


@pytest.mark.slow  # four samplers at 50 calls on 20,000 points: CI runs it (-m slow)
def test_heun_on_karras_steps_beats_ddim_at_50_calls_not_below():
    """Heun's second order pays only with small steps: at 49 calls it beats DDIM-50 (1.2 against 1.8), at 9 it
    is far worse (over 100)."""
    assert distance_after("heun", 25, "karras") < 0.8 * distance_after("ddim", 50)
    assert distance_after("heun", 5, "karras") > 5 * distance_after("ddim", 10)


def test_euler_ancestral_reproduces_the_mixture_with_enough_steps():
    x, generator = noise(17)
    out = final_sample(run_sampler(ORACLE, SCHEDULE, x, generator, SamplerSettings("euler_a", 50, clip=False)))
    check_matches_mixture(out, bias=0.03)
