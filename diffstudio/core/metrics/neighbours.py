"""Is the model copying its training images? Each sample's nearest and second-nearest training images, and the
share of samples much closer to one training image than to any other: d1 < d2 / 3 (Gu et al. 2023, "On
memorization in diffusion models"). Beside it, the training set's own leave-one-out nearest distances: the
d1 of a sample that is new, yet as close as the training images are to each other."""

from __future__ import annotations

from dataclasses import dataclass

import torch

COPY_RATIO = 1 / 3  # Gu et al.'s threshold on d1 / d2
BLOCK = 1024  # query rows per block; 1024 × 10,000 distances are 40 MB in float32


@dataclass(frozen=True)
class Neighbours:
    d1: torch.Tensor  # (N,) each sample's distance to its nearest training image
    d2: torch.Tensor  # (N,) to the second nearest
    nearest: torch.Tensor  # (N,) the nearest training image's index

    def copied(self, ratio: float = COPY_RATIO) -> torch.Tensor:
        return self.d1 < ratio * self.d2

    def memorised_fraction(self, ratio: float = COPY_RATIO) -> float:
        return float(self.copied(ratio).float().mean())


def nearest_two(queries: torch.Tensor, references: torch.Tensor, exclude_self: bool = False) -> Neighbours:
    """The two nearest references of each query by Euclidean distance (rows are flattened images or features),
    a block of queries at a time; exclude_self when the queries are the references (leave-one-out)."""
    if len(references) < 2 + exclude_self:
        raise ValueError("nearest neighbours need at least 2 reference images besides the query")
    queries, references = queries.flatten(1).float(), references.flatten(1).float()
    d1, d2, nearest = [], [], []
    for start in range(0, len(queries), BLOCK):
        distances = torch.cdist(queries[start:start + BLOCK], references)
        if exclude_self:
            rows = torch.arange(len(distances))
            distances[rows, rows + start] = float("inf")
        values, indices = distances.topk(2, dim=1, largest=False)
        d1.append(values[:, 0])
        d2.append(values[:, 1])
        nearest.append(indices[:, 0])
    return Neighbours(torch.cat(d1), torch.cat(d2), torch.cat(nearest))
