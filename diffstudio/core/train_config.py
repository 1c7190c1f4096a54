"""Training settings: one dataclass whose defaults are the app's defaults, read by the CLI, the GUI and the demo
recipe alike. Torch-free, so the GUI thread can read it.

The defaults are what `benchmarks/train_quality.py` found to give the best samples per CPU-minute (see
benchmarks/README.md); `RECIPES["ddpm-paper"]` keeps the DDPM paper's setting one flag away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from diffstudio.core import choices
from diffstudio.core.diffusion.sampler_settings import DEFAULT_KIND, DEFAULT_STEPS
from diffstudio.core.errors import DiffstudioError

Crop = Literal["center", "random"]


@dataclass
class TrainConfig:
    """Training settings; the defaults are the "diffstudio" recipe (see the module's docstring)."""

    data: str
    recipe: str = "diffstudio"  # the named defaults this run started from (RECIPES); informative only
    preset: str = "tiny"
    resolution: int = 32
    channels: int | None = None  # None: 1 if every image is grayscale, else 3
    steps: int = 6000  # ≈ 30 minutes of tiny at 32 px on a 2-core CPU: clean samples of simple images
    # a time budget instead: train for this many minutes (the run's whole training time, resumes included); the
    # learning-rate schedule then runs by the clock, and `steps` is the trainer's running estimate of the total
    minutes: float | None = None
    batch: int = 32
    lr: float | None = None  # None: the preset's (PRESET_LR)
    warmup: int = 100  # linear LR warm-up steps (the paper: 5000)
    # after warm-up: "constant" (the paper's), "cosine" decay to zero at the end (`steps`, or `minutes` by the
    # clock), or "auto": cosine with a time budget, constant with a step count (issue 33's study)
    lr_schedule: str = "auto"
    weight_decay: float = 0.0  # the paper used Adam, i.e. none
    grad_clip: float = 1.0  # the paper's
    ema_decay: float = 0.9999  # the paper's; warmed up as min(decay, (1 + n)/(10 + n)), so short runs average less
    dropout: float | None = None  # None: the preset's (0.1 for ddpm-cifar10)
    beta_schedule: str = "linear"
    num_timesteps: int = 1000
    prediction_type: str = "v_prediction"  # the network's target: "epsilon" (the paper's) or "v_prediction"
    zero_terminal_snr: bool = False  # rescale β so that ᾱ_T = 0 (Lin et al. 2023); needs v_prediction
    snr_shift: float = 1.0  # SNR × this at every t (ScheduleConfig.snr_shift; under study for 64 px, issue 33)
    loss_weighting: str = "min_snr"  # "uniform": L_simple (eq. 14); "min_snr": min-SNR-γ (Hang et al. 2023)
    min_snr_gamma: float = 5.0
    # which noise levels a training step draws: "uniform" over t (the paper's), or "logit_normal": t/T =
    # sigmoid(n), n ~ N(0, 1), more of the middle levels and fewer of the ends (Esser et al. 2024; under study)
    timestep_sampling: str = "uniform"
    precision: str = "auto"  # "float32", "bfloat16" (autocast), or "auto": bfloat16 where the device has it natively
    crop: Crop = "center"
    data_cache: str = "auto"  # decoded images in "memory", or memory-mapped from the "disk" cache (image_cache.py)
    flip: bool = True
    # "auto": class-conditional when the folder has two or more subfolders of images (classifier-free guidance)
    classes: str = "auto"
    p_uncond: float = 0.1  # how often a class-conditional step trains "no class" instead (Ho & Salimans 2022)
    seed: int = 0
    save_every: int = 1000
    preview_every: int = 500
    keep: int = 3  # checkpoints kept; older ones are deleted
    preview_count: int = 16
    preview_sampler: str = DEFAULT_KIND  # how previews are drawn: Sample's default sampler …
    preview_steps: int = DEFAULT_STEPS[DEFAULT_KIND]  # … and its steps
    # every eval_every steps (0: never), KID and the copied share of eval_samples samples into log.jsonl
    # (evaluate.CurveMeasure); off by default: it costs sampling time that training would use
    eval_every: int = 0
    eval_samples: int = 256

    def __post_init__(self) -> None:
        if self.lr is None:
            self.lr = PRESET_LR.get(self.preset, PRESET_LR["ddpm-cifar10"])

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """A stored config; a setting it lacks (a run from before the setting existed) is what that run used."""
        known = {**BEFORE_RECIPES, **d}
        return cls(**{k: known[k] for k in cls.__dataclass_fields__ if k in known})

    def lr_decays(self) -> bool:
        """Whether the learning rate follows a cosine to zero at the run's end after warm-up."""
        return self.lr_schedule == "cosine" or (self.lr_schedule == "auto" and self.minutes is not None)

    def validate(self) -> None:
        for name in ("steps", "batch", "save_every", "preview_every", "keep", "num_timesteps", "preview_steps"):
            if getattr(self, name) < 1:
                raise DiffstudioError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.minutes is not None and not (0 < self.minutes <= MAX_MINUTES):
            raise DiffstudioError(f"minutes must be more than 0 and at most {MAX_MINUTES:,} (a year), got "
                                  f"{self.minutes:g}")
        if not (0 < self.lr < 1):
            raise DiffstudioError(f"the learning rate must be between 0 and 1, got {self.lr}")
        if not self.snr_shift > 0:
            raise DiffstudioError(f"the SNR shift must be more than 0, got {self.snr_shift}")
        if not (0 <= self.ema_decay < 1):
            raise DiffstudioError(f"the EMA decay must be in [0, 1), got {self.ema_decay}")
        if not (0 <= self.p_uncond < 1):
            raise DiffstudioError(f"the unconditional share must be in [0, 1), got {self.p_uncond}")
        for name, allowed in (("beta_schedule", choices.BETA_SCHEDULES), ("prediction_type", choices.PREDICTION_TYPES),
                              ("loss_weighting", choices.LOSS_WEIGHTINGS), ("precision", choices.PRECISIONS),
                              ("timestep_sampling", choices.TIMESTEP_SAMPLINGS),
                              ("preview_sampler", choices.SAMPLERS), ("classes", choices.CLASS_MODES),
                              ("lr_schedule", choices.LR_SCHEDULES), ("data_cache", choices.DATA_CACHES)):
            if getattr(self, name) not in allowed:
                raise DiffstudioError(f"unknown {name.replace('_', ' ')} {getattr(self, name)!r}: "
                                      f"use {' or '.join(allowed)}")
        if self.data_cache == "disk" and self.crop != "center":
            raise DiffstudioError("the disk cache holds centre crops only: use crop center, or data-cache memory")
        if self.zero_terminal_snr and self.prediction_type != "v_prediction":
            raise DiffstudioError("a zero terminal SNR needs the v_prediction target")
        if self.min_snr_gamma <= 0:
            raise DiffstudioError(f"the min-SNR γ must be positive, got {self.min_snr_gamma}")
        if self.eval_every < 0 or self.eval_samples < 8:
            raise DiffstudioError(f"eval-every must be 0 (never) or more and eval-samples at least 8, got "
                                  f"{self.eval_every} and {self.eval_samples}")
        from diffstudio.core.unet import preset  # torch: only where a run is made, never in the GUI thread

        preset(self.preset, self.resolution).check_resolution(self.resolution)


MAX_MINUTES = 525_600
DEFAULT_MINUTES = 30  # the time budget the Train panel offers first

# The default learning rate of each model: the paper's for its own models (2e-5 at 256 px), five times the paper's
# CIFAR-10 rate for the 1.1 M-parameter tiny model, which learns far faster with it (benchmarks/README.md).
PRESET_LR = {"tiny": 1e-3, "ddpm-cifar10": 2e-4, "ddpm-256": 2e-5}

# What runs made before these settings existed trained with (on the CPU; CUDA used bfloat16 then).
BEFORE_RECIPES = dict(recipe="", lr_schedule="constant", prediction_type="epsilon", zero_terminal_snr=False,
                      loss_weighting="uniform", min_snr_gamma=5.0, precision="float32", preview_sampler="ddim",
                      classes="off")

# Named sets of changes to the defaults. "diffstudio" is the defaults themselves.
RECIPES: dict[str, dict] = {
    "diffstudio": {},
    # Ho et al. (2020) for CIFAR-10: Adam at 2e-4 after 5000 warm-up steps, EMA 0.9999, batch 128, ε and L_simple
    # on the linear schedule, float32. Slow to get anywhere on a CPU.
    "ddpm-paper": dict(lr=2e-4, warmup=5000, lr_schedule="constant", ema_decay=0.9999, batch=128,
                       beta_schedule="linear", prediction_type="epsilon", zero_terminal_snr=False,
                       loss_weighting="uniform", precision="float32"),
}


def recipe_config(recipe: str, **fields: object) -> TrainConfig:
    """A recipe's settings, with explicitly given fields on top."""
    if recipe not in RECIPES:
        raise DiffstudioError(f"unknown recipe {recipe!r}: choose one of {', '.join(RECIPES)}")
    return TrainConfig(**{**RECIPES[recipe], **fields, "recipe": recipe})


# Bytes of decoded images above which data_cache "auto" trains from the disk cache rather than from memory.
DISK_CACHE_ABOVE = 2 << 30


# Training images seen (steps × batch) before 97 % of samples passed for training images in
# benchmarks/train_quality.py with the defaults: tiny at 32 px on the synthetic shapes, 1,972 steps of 32 (10
# minutes on a 2-core CPU; benchmarks/README.md). Other sizes are not measured.
CLEAN_SAMPLE_IMAGES = {("tiny", 32): 2000 * 32}


def clean_sample_steps(preset: str, resolution: int, batch: int) -> int | None:
    """The steps that gave clean samples in our study at this batch size, where measured."""
    images = CLEAN_SAMPLE_IMAGES.get((preset, resolution))
    return None if images is None else -(-images // batch)
