"""Feature vectors for the metrics, from extractors that need no download.

- "random": a small convolutional network with fixed, seeded random weights (Naeem et al. 2020 found randomly
  initialised networks' features usable for their metrics). Always available and the same for every model, so
  numbers compare across models and runs; but it was never trained to see what people see: it weighs colour,
  texture and layout, not "is this a shoe". Compare numbers measured with it with each other, never with
  published FIDs.
- "pixels": the image pooled to 8×8, the plainest reference, and what memorisation is measured on (pixel L2).
- "inception": Inception-v3's, the papers' FID features, when the user has the weights (metrics/inception.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from diffstudio.core.choices import FEATURE_EXTRACTORS
from diffstudio.core.metrics.inception import inception_extractor

FEATURE_SEED = 0


class RandomFeatures(nn.Module):
    """Three 3×3 convolutions with ReLU, average-pooled between, then each of 128 maps pooled to 2×2: 512
    features, from He-normal weights drawn by a generator of fixed seed (never the global one, so measuring
    during training leaves training's random draws alone)."""

    WIDTHS = (3, 32, 64, 128)

    def __init__(self, seed: int = FEATURE_SEED):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        for i, (fan_in, fan_out) in enumerate(zip(self.WIDTHS, self.WIDTHS[1:], strict=False)):
            weight = torch.randn(fan_out, fan_in, 3, 3, generator=generator) * (2 / (fan_in * 9)) ** 0.5
            self.register_buffer(f"weight{i}", weight)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = [getattr(self, f"weight{i}") for i in range(len(self.WIDTHS) - 1)]
        for i, weight in enumerate(weights):
            x = F.relu(F.conv2d(x, weight, padding=1))
            if i < len(weights) - 1:
                x = F.avg_pool2d(x, 2)
        return F.adaptive_avg_pool2d(x, 2).flatten(1)


def as_rgb_32(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) in [−1, 1] → (B, 3, 32, 32): grey repeated to three channels, resized (area) to 32 px, so
    every data set's features have one meaning."""
    images = images.float()
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return F.interpolate(images, size=(32, 32), mode="area") if images.shape[-1] != 32 else images


def pixel_features(images: torch.Tensor) -> torch.Tensor:
    return F.adaptive_avg_pool2d(as_rgb_32(images), 8).flatten(1)


def feature_extractor(name: str, inception: str | Path | None = None, device: torch.device | None = None
                      ) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function of (B, C, H, W) images in [−1, 1] to (B, D) features. `inception`: the weights file (default:
    evaluate_settings.inception_weights_path()); `device`: where Inception runs (the small extractors stay on
    the CPU)."""
    if name == "inception":
        return inception_extractor(inception, device)
    if name == "random":
        network = RandomFeatures()
        return lambda images: network(as_rgb_32(images))
    if name == "pixels":
        return pixel_features
    raise ValueError(f"unknown feature extractor {name!r}: choose one of {', '.join(FEATURE_EXTRACTORS)}")


@torch.no_grad()
def extract(extractor: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    return torch.cat([extractor(images[i:i + batch]) for i in range(0, len(images), batch)])
