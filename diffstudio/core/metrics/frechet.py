"""The Fréchet distance between two Gaussians fitted to feature sets (FID's formula, Heusel et al. 2017)."""

from __future__ import annotations

import numpy as np


def gaussian_fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean and the (unbiased) covariance of (N, D) features, in float64."""
    x = np.asarray(features, dtype=np.float64)
    return x.mean(0), np.cov(x, rowvar=False)


def frechet_distance_of_gaussians(mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray) -> float:
    """‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^½), the square root from eigendecompositions: (Σ_a Σ_b)^½ has
    the trace of (Σ_a^½ Σ_b Σ_a^½)^½, which is symmetric, so no complex square root (scipy's sqrtm) is needed."""
    root_a = psd_sqrt(cov_a)
    middle = psd_sqrt(root_a @ cov_b @ root_a)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(middle))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance between the Gaussians fitted to two feature sets."""
    return frechet_distance_of_gaussians(*gaussian_fit(a), *gaussian_fit(b))


def psd_sqrt(m: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((m + m.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
