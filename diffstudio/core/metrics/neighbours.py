"""Is the model copying its training images? Each sample's nearest and second-nearest training images, and the
share of samples much closer to one training image than to any other: d1 < d2 / 3 (Gu et al. 2023, "On
memorization in diffusion models"). Beside it, the training set's own leave-one-out nearest distances: the
d1 of a sample that is new, yet as close as the training images are to each other."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from diffstudio.core.evaluate_settings import COPY_RATIO

BLOCK = 1024  # query rows per block
REFERENCE_BLOCK = 4096  # reference rows per block: 1024 × 4096 distances are 16 MB, 4096 64-px RGB images 200 MB


@dataclass(frozen=True)
class Neighbours:
    d1: torch.Tensor  # (N,) each sample's distance to its nearest training image
    d2: torch.Tensor  # (N,) to the second nearest
    nearest: torch.Tensor  # (N,) the nearest training image's index

    def copied(self, ratio: float = COPY_RATIO) -> torch.Tensor:
        return self.d1 < ratio * self.d2

    def memorised_fraction(self, ratio: float = COPY_RATIO) -> float:
        return float(self.copied(ratio).float().mean())


def nearest_two(queries: torch.Tensor, references: torch.Tensor, exclude_self: bool = False,
                scale: float = 1.0) -> Neighbours:
    """The two nearest references of each query by Euclidean distance (rows: flattened images or features, times
    `scale`: 1/255 puts uint8 images in [0, 1] units); exclude_self when the queries are the references
    (leave-one-out). Blocks of both are made float on the fly, so a big uint8 training set is never copied whole."""
    if len(references) < 2 + exclude_self:
        raise ValueError("nearest neighbours need at least 2 reference images besides the query")
    queries, references = queries.flatten(1), references.flatten(1)
    d1, d2, nearest = [], [], []
    for q_start in range(0, len(queries), BLOCK):
        block = queries[q_start:q_start + BLOCK].float() * scale
        best = torch.full((len(block), 2), float("inf"))
        best_index = torch.zeros((len(block), 2), dtype=torch.long)
        for r_start in range(0, len(references), REFERENCE_BLOCK):
            distances = torch.cdist(block, references[r_start:r_start + REFERENCE_BLOCK].float() * scale)
            if exclude_self:
                rows = torch.arange(len(block))
                columns = rows + q_start - r_start
                inside = (columns >= 0) & (columns < distances.shape[1])
                distances[rows[inside], columns[inside]] = float("inf")
            index = torch.arange(r_start, r_start + distances.shape[1]).expand_as(distances)
            values, chosen = torch.cat([best, distances], dim=1).topk(2, dim=1, largest=False)
            best, best_index = values, torch.cat([best_index, index], dim=1).gather(1, chosen)
        d1.append(best[:, 0])
        d2.append(best[:, 1])
        nearest.append(best_index[:, 0])
    return Neighbours(torch.cat(d1), torch.cat(d2), torch.cat(nearest))
