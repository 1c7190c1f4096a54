"""A Gaussian mixture and its exact optimal denoiser: the one data distribution where every sampler's answer can be
checked against the truth (the tests' oracle, the samplers' benchmark, the playground).

For data x_0 ~ Σ_k w_k N(μ_k, Σ_k), the noised marginal is q_t = Σ_k w_k N(√ᾱ μ_k, ᾱ Σ_k + (1−ᾱ) I), and the
optimal noise prediction is ε*(x_t, t) = −√(1−ᾱ_t) ∇ log q_t(x_t) (Tweedie's formula).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from diffstudio.core.diffusion.schedule import NoiseSchedule


@dataclass(frozen=True)
class GaussianMixture:
    weights: torch.Tensor  # (K,), summing to 1
    means: torch.Tensor  # (K, D)
    covs: torch.Tensor  # (K, D, D)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n draws, (n, D) in float64."""
        labels = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        chol = torch.linalg.cholesky(self.covs)
        z = torch.randn(n, self.means.shape[1], generator=generator, dtype=torch.float64)
        return self.means[labels] + torch.einsum("bij,bj->bi", chol[labels], z)

    def marginal(self, alpha_cumprod: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Component means and covariances of q_t for ᾱ_t = alpha_cumprod."""
        eye = torch.eye(self.means.shape[1], dtype=torch.float64)
        return math.sqrt(alpha_cumprod) * self.means, alpha_cumprod * self.covs + (1 - alpha_cumprod) * eye

    def score(self, x: torch.Tensor, alpha_cumprod: float) -> torch.Tensor:
        """∇ log q_t(x) on (B, D) tensors."""
        means, covs = self.marginal(alpha_cumprod)
        precisions = torch.linalg.inv(covs)
        diff = x[:, None, :] - means[None]  # (B, K, D)
        mahalanobis = torch.einsum("bki,kij,bkj->bk", diff, precisions, diff)
        responsibilities = torch.softmax(self.weights.log() - 0.5 * torch.logdet(covs) - 0.5 * mahalanobis, dim=1)
        return -torch.einsum("bk,kij,bkj->bi", responsibilities, precisions, diff)


TWO_BLOBS = GaussianMixture(  # the tests' and the samplers' benchmark's data: two tilted, barely overlapping blobs
    weights=torch.tensor([0.3, 0.7], dtype=torch.float64),
    means=torch.tensor([[-1.0, 0.6], [1.0, -0.4]], dtype=torch.float64),
    covs=torch.tensor([[[0.09, 0.03], [0.03, 0.05]], [[0.04, -0.012], [-0.012, 0.06]]], dtype=torch.float64),
)


class MixtureDenoiser:
    """The exact ε*(x_t, t) of a mixture under a schedule, called as a network is: (x_t, t as indices)."""

    def __init__(self, mixture: GaussianMixture, schedule: NoiseSchedule):
        self.mixture, self.schedule = mixture, schedule

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a_bar = self.schedule.alpha_cumprod_at(int(t[0]))
        return -math.sqrt(1 - a_bar) * self.mixture.score(x.double(), a_bar).to(x.dtype)


class ClassMixtureDenoiser:
    """A class-conditional oracle: class k is component k of the mixture, so ε*(x_t, t, k) is that Gaussian's and
    "no class" (id K) is the whole mixture's; called as a class-conditional network is, (x_t, t, class ids)."""

    def __init__(self, mixture: GaussianMixture, schedule: NoiseSchedule):
        self.mixture, self.schedule = mixture, schedule
        self.null_class = len(mixture.weights)

    def component(self, k: int) -> GaussianMixture:
        one = torch.ones(1, dtype=torch.float64)
        return GaussianMixture(one, self.mixture.means[k : k + 1], self.mixture.covs[k : k + 1])

    def __call__(self, x: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        for label in class_labels.unique().tolist():
            rows = class_labels == label
            data = self.mixture if label == self.null_class else self.component(label)
            out[rows] = MixtureDenoiser(data, self.schedule)(x[rows], t[rows])
        return out


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, projections: int = 128, seed: int = 0) -> float:
    """The sliced 1-Wasserstein distance between two point clouds (N, D) and (M, D): the mean, over random unit
    directions, of the 1-D distance between the projections, ∫|F_a⁻¹ − F_b⁻¹|, at min(N, M) quantile levels (a
    reference cloud larger than the sample makes the estimate less noisy)."""
    directions = torch.randn(a.shape[1], projections, generator=torch.Generator().manual_seed(seed),
                             dtype=torch.float64)
    directions = directions / directions.norm(dim=0, keepdim=True)
    levels = (torch.arange(min(len(a), len(b)), dtype=torch.float64) + 0.5) / min(len(a), len(b))
    qa, qb = (torch.sort(cloud.double() @ directions, dim=0).values[(levels * len(cloud)).long()] for cloud in (a, b))
    return float((qa - qb).abs().mean())
