"""Acceptance 2: the samplers, driven by the exact optimal denoiser of a Gaussian mixture,
reproduce the mixture. Nothing is trained: any error is the sampler's (or discretisation's).

For data x_0 ~ Σ_k w_k N(μ_k, Σ_k), the noised marginal is q_t = Σ_k w_k N(√ᾱ μ_k, ᾱ Σ_k + (1−ᾱ) I)
and the optimal noise prediction is ε*(x_t, t) = −√(1−ᾱ_t) ∇ log q_t(x_t).
"""

import math

import pytest
import torch

from diffstudio.core.diffusion.ddpm import ddpm_step
from diffstudio.core.diffusion.samplers import ddim_invert, ddim_sample, ddpm_sample, final_sample
from diffstudio.core.diffusion.schedule import NoiseSchedule, timestep_batch

SCHEDULE = NoiseSchedule()
N = 20_000
WEIGHTS = torch.tensor([0.3, 0.7], dtype=torch.float64)
MEANS = torch.tensor([[-1.0, 0.6], [1.0, -0.4]], dtype=torch.float64)
COVS = torch.tensor([[[0.09, 0.03], [0.03, 0.05]], [[0.04, -0.012], [-0.012, 0.06]]], dtype=torch.float64)


class MixtureOracle:
    """ε*(x_t, t) for the mixture above, on (B, 2) tensors."""

    def __init__(self, schedule: NoiseSchedule):
        self.schedule = schedule

    def marginal(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        a_bar = float(self.schedule.alphas_cumprod[t])
        return math.sqrt(a_bar) * MEANS, a_bar * COVS + (1 - a_bar) * torch.eye(2, dtype=torch.float64)

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        index = int(t[0])
        means, covs = self.marginal(index)
        precisions = torch.linalg.inv(covs)  # (K, 2, 2)
        diff = x[:, None, :] - means[None]  # (B, K, 2)
        mahalanobis = torch.einsum("bki,kij,bkj->bk", diff, precisions, diff)
        log_resp = WEIGHTS.log() - 0.5 * torch.logdet(covs) - 0.5 * mahalanobis
        resp = torch.softmax(log_resp, dim=1)  # (B, K)
        score = -torch.einsum("bk,kij,bkj->bi", resp, precisions, diff)  # ∇ log q_t
        return -math.sqrt(1 - float(self.schedule.alphas_cumprod[index])) * score


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
    g = torch.Generator().manual_seed(1)
    labels = (torch.rand(N, generator=g, dtype=torch.float64) < WEIGHTS[1]).long()
    chol = torch.linalg.cholesky(COVS)
    true = MEANS[labels] + torch.einsum("bij,bj->bi", chol[labels], torch.randn(N, 2, generator=g, dtype=torch.float64))
    check_matches_mixture(true)
    with pytest.raises(AssertionError):
        check_matches_mixture(true * 1.1)  # 21 % too much variance


@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_ddpm_reproduces_the_mixture(variance):
    x, generator = noise(10)
    steps = ddpm_sample(MixtureOracle(SCHEDULE), SCHEDULE, x, generator, variance=variance, clip=False)
    check_matches_mixture(final_sample(steps), bias=0.01)


def test_ddpm_without_its_noise_does_not():
    """The test can fail: Algorithm 2 with σ_t = 0 collapses the spread of each component."""
    x, _ = noise(11)
    oracle = MixtureOracle(SCHEDULE)
    for t in range(SCHEDULE.num_timesteps - 1, -1, -1):
        x, _ = ddpm_step(SCHEDULE, x, oracle(x, timestep_batch(t, x)), t, torch.zeros_like(x), clip=False)
    with pytest.raises(AssertionError):
        check_matches_mixture(x, bias=0.01)


def test_ddim_50_steps_reproduces_the_mixture():
    x, _ = noise(12)
    steps = ddim_sample(MixtureOracle(SCHEDULE), SCHEDULE, x, num_steps=50, eta=0.0, clip=False)
    check_matches_mixture(final_sample(steps), bias=0.02)


def test_ddim_with_eta_reproduces_the_mixture():
    x, generator = noise(13)
    steps = ddim_sample(MixtureOracle(SCHEDULE), SCHEDULE, x, generator, num_steps=100, eta=1.0, clip=False)
    check_matches_mixture(final_sample(steps), bias=0.02)


def test_sampling_from_an_intermediate_x_t():
    """Starting at x_t ~ q(x_t) (not pure noise) also ends on the data distribution (Fig. 7's "vary from here")."""
    g = torch.Generator().manual_seed(14)
    oracle = MixtureOracle(SCHEDULE)
    t = 400
    means, covs = oracle.marginal(t)
    labels = (torch.rand(N, generator=g, dtype=torch.float64) < WEIGHTS[1]).long()
    chol = torch.linalg.cholesky(covs)
    x_t = means[labels] + torch.einsum("bij,bj->bi", chol[labels], torch.randn(N, 2, generator=g, dtype=torch.float64))
    check_matches_mixture(final_sample(ddpm_sample(oracle, SCHEDULE, x_t, g, start_t=t, clip=False)), bias=0.01)
    check_matches_mixture(final_sample(ddim_sample(oracle, SCHEDULE, x_t, num_steps=40, start_t=t, clip=False)),
                          bias=0.02)


def test_ddim_inversion_round_trips_with_first_order_error():
    """Deterministic encoding: invert data to t, decode with the same steps, land back where it started,
    up to the inversion's first-order error, which halves when the steps double."""
    g = torch.Generator().manual_seed(15)
    x0 = MEANS[torch.arange(64) % 2] + 0.1 * torch.randn(64, 2, generator=g, dtype=torch.float64)
    oracle = MixtureOracle(SCHEDULE)
    errors = []
    for steps in (50, 100, 200):
        x_t = ddim_invert(oracle, SCHEDULE, x0, t=600, num_steps=steps)
        assert (x_t - x0).abs().mean() > 0.3  # it did move into the noise
        back = final_sample(ddim_sample(oracle, SCHEDULE, x_t, num_steps=steps, start_t=600, clip=False))
        errors.append(float((back - x0).abs().mean()))
    assert errors[-1] < 0.005
    assert errors[1] < 0.6 * errors[0] and errors[2] < 0.6 * errors[1]
