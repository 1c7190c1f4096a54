"""Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020): how much of
the samples lies on the real images' manifold, and how much of that manifold the samples reach. The manifold
of a set is the union of balls around its points, each as wide as the distance to its k-th nearest neighbour."""

from __future__ import annotations

from dataclasses import dataclass

import torch

PRECISION_RECALL_K, DENSITY_COVERAGE_K = 3, 5  # the papers' choices
BLOCK = 2048  # rows per distance block: 2048 × 10,000 float32 distances are 80 MB


@dataclass(frozen=True)
class Manifold:
    precision: float  # share of samples inside the real manifold
    recall: float  # share of real images inside the samples' manifold
    density: float  # mean number of real balls a sample falls in, over k (1 when matched; can exceed 1)
    coverage: float  # share of real balls that hold at least one sample
    real: int
    fake: int


def kth_neighbour_radii(points: torch.Tensor, k: int) -> torch.Tensor:
    """Each point's distance to its k-th nearest other point (itself, at distance 0, not counted)."""
    if len(points) <= k:
        raise ValueError(f"the manifold needs more than k = {k} points, got {len(points)}")
    return torch.cat([torch.cdist(points[i:i + BLOCK], points).kthvalue(k + 1, dim=1).values
                      for i in range(0, len(points), BLOCK)])


def inside_counts(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each query point, the number of balls (centre, radius) it falls in."""
    return torch.cat([(torch.cdist(queries[i:i + BLOCK], centres) <= radii).sum(dim=1)
                      for i in range(0, len(queries), BLOCK)])


def manifold_metrics(real: torch.Tensor, fake: torch.Tensor) -> Manifold:
    real, fake = real.float(), fake.float()
    real_radii_pr = kth_neighbour_radii(real, PRECISION_RECALL_K)
    fake_radii_pr = kth_neighbour_radii(fake, PRECISION_RECALL_K)
    real_radii_dc = kth_neighbour_radii(real, DENSITY_COVERAGE_K)
    precision = (inside_counts(fake, real, real_radii_pr) > 0).float().mean()
    recall = (inside_counts(real, fake, fake_radii_pr) > 0).float().mean()
    density = inside_counts(fake, real, real_radii_dc).float().sum() / (DENSITY_COVERAGE_K * len(fake))
    nearest_fake = torch.cat([torch.cdist(real[i:i + BLOCK], fake).min(dim=1).values
                              for i in range(0, len(real), BLOCK)])
    coverage = (nearest_fake <= real_radii_dc).float().mean()
    return Manifold(float(precision), float(recall), float(density), float(coverage), len(real), len(fake))
