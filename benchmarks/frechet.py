"""The Fréchet distance (FID's formula) between two sets of feature vectors."""

from __future__ import annotations

import numpy as np


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^½), with the matrix square root from an eigendecomposition."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _psd_sqrt(cov_a)
    middle = _psd_sqrt(root_a @ cov_b @ root_a)  # (Σ_a Σ_b)^½ has the trace of (Σ_a^½ Σ_b Σ_a^½)^½
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(middle))


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((m + m.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def pooled_features(images: np.ndarray) -> np.ndarray:
    """(B, 32, 32, C) uint8 → (B, 64·C): 4×4 average pooling to 8×8, in [0, 1]."""
    x = images.astype(np.float64) / 255.0
    b, h, w, c = x.shape
    return x.reshape(b, 8, h // 8, 8, w // 8, c).mean(axis=(2, 4)).reshape(b, -1)
