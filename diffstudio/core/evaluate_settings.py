"""What an evaluation draws and measures, with the defaults the CLI and the GUI offer (torch-free, for the GUI)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from diffstudio.core.choices import FEATURE_EXTRACTORS
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.settings import seed_setting, setting
from diffstudio.core.train_config import MAX_BATCH

# KID draws subsets of half the samples, and precision, recall, density and coverage look at each sample's 5
# nearest neighbours among the others: fewer samples than this leave them nothing to measure
MIN_SAMPLES = 10
FD_MIN_SAMPLES = 2000  # below this the Fréchet distance's bias swamps the differences between models
COPY_RATIO = 1 / 3  # Gu et al.'s threshold on d1 / d2: a sample this much closer to one training image is a copy
MOST_COPIED = 32  # pairs shown, the most copied first
MOST_COPIED_COLUMNS = 4
INCEPTION_VARIABLE = "DIFFSTUDIO_INCEPTION_WEIGHTS"


@dataclass(frozen=True)
class EvaluateSettings:
    samples: int = setting(1000, f"samples to draw (the Fréchet distance needs {FD_MIN_SAMPLES:,})", flag="--n",
                           minimum=MIN_SAMPLES, maximum=100_000, step=100, label="Samples")
    features: str = setting("random", "random: a fixed random network (compare runs with each other, not with "
                                      "published FIDs); pixels: the images pooled to 8×8; inception: the papers' FID "
                                      "network (needs torch-fidelity and its weights: see --inception)",
                            choices=FEATURE_EXTRACTORS)
    seed: int = seed_setting("the seed of the samples and of the folder's split")
    batch: int = setting(64, "images per forward pass", minimum=1, maximum=MAX_BATCH)
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    inception: str | None = None  # the Inception weights (safetensors); None: inception_weights_path()


def inception_weights_path(override: str | Path | None = None) -> Path:
    """--inception, else $DIFFSTUDIO_INCEPTION_WEIGHTS, else the user data folder (e.g.
    ~/.local/share/diffstudio/weights/inception-2015-12-05.safetensors)."""
    chosen = override or os.environ.get(INCEPTION_VARIABLE)
    if chosen:
        return Path(chosen).expanduser()
    return platformdirs.user_data_path("diffstudio") / "weights" / "inception-2015-12-05.safetensors"
