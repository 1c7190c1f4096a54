"""Kernel Inception Distance (Bińkowski et al. 2018): the unbiased squared MMD between two feature sets under
the cubic polynomial kernel k(x, y) = (x·y / d + 1)³, averaged over random subsets, as torch-fidelity and
clean-fid compute it. Unlike FID it is unbiased, so small sample sets compare fairly."""

from __future__ import annotations

from dataclasses import dataclass

import torch

SUBSETS, SUBSET_SIZE = 100, 1000  # torch-fidelity's defaults


@dataclass(frozen=True)
class KID:
    mean: float
    std: float  # over the subsets: the ± that papers and torch-fidelity print
    subsets: int
    subset_size: int

    def text(self) -> str:
        return f"KID {self.mean * 1e3:.2f} ± {self.std * 1e3:.2f} ×10⁻³ ({self.subsets} subsets of {self.subset_size})"


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x @ y.T / x.shape[1] + 1) ** 3


def unbiased_mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    """MMD² with the diagonals of k(x, x) and k(y, y) left out: E[k(x,x′)] + E[k(y,y′)] − 2 E[k(x,y)]."""
    m = x.shape[0]
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def kernel_inception_distance(real: torch.Tensor, fake: torch.Tensor, subsets: int = SUBSETS,
                              subset_size: int = SUBSET_SIZE, seed: int = 0) -> KID:
    """The MMD² of `subsets` seeded draws of `subset_size` rows of each set (without replacement within a draw),
    in float64. A draw takes at most half the smaller set, so that the draws differ and their spread means
    something."""
    real, fake = real.double(), fake.double()
    size = min(subset_size, len(real) // 2, len(fake) // 2)
    if size < 2:
        raise ValueError("KID needs at least 4 feature vectors in each set")
    generator = torch.Generator().manual_seed(seed)
    values = torch.tensor([unbiased_mmd2(real[torch.randperm(len(real), generator=generator)[:size]],
                                         fake[torch.randperm(len(fake), generator=generator)[:size]])
                           for _ in range(subsets)], dtype=torch.float64)
    return KID(float(values.mean()), float(values.std()) if subsets > 1 else 0.0, subsets, size)
