"""Training settings: one dataclass whose defaults are the app's defaults, read by the CLI, the GUI and the demo
recipe alike. Torch-free, so the GUI thread can read it.

The defaults are what `benchmarks/train_quality.py` found to give the best samples per CPU-minute (see
benchmarks/README.md); `RECIPES["ddpm-paper"]` keeps the DDPM paper's setting one flag away.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from diffstudio.core import choices
from diffstudio.core.batch_choice import AUTO
from diffstudio.core.diffusion.sampler_registry import DEFAULT_KIND, SAMPLERS
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.settings import MAX_TIMESTEPS, check_declared, declared_settings, seed_setting, setting

Crop = Literal["center", "random"]

# The default learning rate of each model: the paper's for its own models (2e-5 at 256 px), five times the paper's
# CIFAR-10 rate for the 1.1 M-parameter tiny model, which learns far faster with it (benchmarks/README.md).
PRESET_LR = {"tiny": 1e-3, "ddpm-cifar10": 2e-4, "ddpm-256": 2e-5}

# Bytes of decoded images above which data_cache "auto" trains from the disk cache rather than from memory.
DISK_CACHE_ABOVE = 2 << 30

MAX_MINUTES = 525_600  # a year
MAX_STEPS = 100_000_000
MAX_BATCH = 4096
MAX_RESOLUTION = 1024
PATCHED_FROM = 64  # the resolution from which a CPU trains a patched U-Net (patch_size auto)


@dataclass
class TrainConfig:
    """Training settings; the defaults are the "diffstudio" recipe (see the module's docstring)."""

    data: str
    recipe: str = "diffstudio"  # the named defaults this run started from (RECIPES); informative only
    preset: str = setting("tiny", "model size", choices=choices.PRESETS)
    resolution: int = setting(32, "image size in pixels", minimum=8, maximum=MAX_RESOLUTION)
    channels: int | None = setting(None, "1 (grayscale) or 3 (colour)", choices=(1, 3),
                                   default_text="1 if every image is grayscale, else 3")
    # ≈ 30 minutes of tiny at 32 px on a 2-core CPU: clean samples of simple images
    steps: int = setting(6000, "total training steps (with --resume: a new total)", minimum=1, maximum=MAX_STEPS,
                         resumable=True, step=500)
    # a time budget instead: the learning-rate schedule then runs by the clock, and `steps` is the trainer's running
    # estimate of the total
    minutes: float | None = setting(None, "train for this long instead of --steps (the run's whole training time; "
                                          "with --resume: a new total); the learning rate decays to the end of it "
                                          "(--lr-schedule auto or cosine)", minimum=0.01, maximum=MAX_MINUTES,
                                  resumable=True)
    batch: int = setting(AUTO, "images per step; auto: 32, or 16 where a time budget buys few steps of 32 on this "
                               "machine (tiny, colour, 32 px or 64 px in patches), chosen when the run is made (may "
                               "change on --resume)",
                         minimum=0, maximum=MAX_BATCH, resumable=True, zero_text="auto")
    lr: float | None = setting(None, "AdamW's learning rate, reached after a linear warm-up (may change on --resume)",
                               minimum=1e-6, maximum=0.5, resumable=True, default_text="the model's: " + ", ".join(
                                   f"{lr:g} for {name}" for name, lr in PRESET_LR.items()))
    warmup: int = setting(100, "learning-rate warm-up steps (the paper: 5000)", minimum=0, maximum=MAX_STEPS, step=100,
                         advanced=True)
    lr_schedule: str = setting("auto", "after warm-up: constant (the paper's), or a cosine decay to zero at the end "
                                       "of --steps or --minutes; auto: cosine with --minutes, constant with --steps",
                               choices=choices.LR_SCHEDULES, advanced=True, label="LR schedule")
    weight_decay: float = 0.0  # the paper used Adam, i.e. none
    grad_clip: float = 1.0  # the paper's
    # the paper's; warmed up as min(decay, (1 + n)/(10 + n)), so short runs average less
    ema_decay: float = setting(0.9999, "decay of the weight average (EMA) that samples are drawn from",
                               minimum=0.0, maximum=0.99999, step=0.0005, advanced=True, label="EMA decay")
    dropout: float | None = None  # None: the preset's (0.1 for ddpm-cifar10)
    beta_schedule: str = setting("linear", "the noise schedule β_t: linear (the paper's) or cosine (Nichol & "
                                           "Dhariwal)", flag="--schedule", choices=choices.BETA_SCHEDULES,
                                 advanced=True, label="Noise schedule")
    num_timesteps: int = 1000
    prediction_type: str = setting("v_prediction", "what the network predicts: the noise ε (the paper's) or "
                                                   "v = √ᾱ ε − √(1−ᾱ) x₀ (Salimans & Ho)", flag="--prediction",
                                   choices=choices.PREDICTION_TYPES, advanced=True, label="Prediction")
    zero_terminal_snr: bool = setting(False, "rescale β so that x_T is pure noise (Lin et al. 2023); needs "
                                             "v_prediction", advanced=True, label="zero terminal SNR")
    # Hoogeboom et al. (2023) noise larger images more, SNR × (base / resolution)²; at 64 px a shift of 1/4 was within
    # a run's spread of none after 30 minutes, and worse in patches over 120 minutes' steps (6.5× the floor against
    # 3.4×; benchmarks/README.md, "The SNR shift under patches"), so the paper's schedule stays the default
    snr_shift: float = setting(1.0, "the noise schedule's signal-to-noise ratio × this at every t: below 1 noises "
                                    "more (for larger images: (32 / resolution)², Hoogeboom et al. 2023)",
                               minimum=0.001, maximum=1000.0, step=0.05, advanced=True, label="SNR shift")
    loss_weighting: str = setting("min_snr", "uniform: the paper's L_simple (eq. 14); min_snr: min-SNR-γ weights "
                                             "(Hang et al. 2023)", flag="--loss", choices=choices.LOSS_WEIGHTINGS,
                                  advanced=True, label="Loss weighting")
    min_snr_gamma: float = setting(5.0, "γ of min_snr: noise levels with a signal-to-noise ratio above γ weigh less",
                                   minimum=0.1, maximum=100.0, advanced=True, label="Min-SNR γ")
    # which noise levels a training step draws: "uniform" over t (the paper's), or "logit_normal": t/T =
    # sigmoid(n), n ~ N(0, 1), more of the middle levels and fewer of the ends (Esser et al. 2024; under study)
    timestep_sampling: str = "uniform"
    # a resolution curriculum: this share of the training (of the minutes by the clock, else of the steps) sees
    # the images at half the resolution first, four times cheaper a step; the guide is kept in the rest
    # (time_budget.guide_point) (issue 33; under study)
    low_res_share: float = 0.0
    # … noised with the SNR × this: 4 noises a half-resolution image as the full-resolution images look average-
    # pooled (pool(x_t) = √ᾱ pool(x_0) + √(1 − ᾱ) ε/2), so the first share learns the coarse part of the same task
    # at each t (under study)
    low_res_snr_shift: float = 1.0
    # a 64-px model at the cost of a 32-px one (UNetConfig.patch_size): on a 2-core CPU 120 minutes at 64 px gave
    # 3.9× the real-vs-real floor with patch 2 against 8.9× at the full resolution, 9,951 steps against 2,538
    # (benchmarks/README.md, "Patches at 64 px"); on a GPU the full resolution is cheap enough
    patch_size: int = setting(AUTO, "pixels per side folded into channels around the U-Net (space-to-depth): 2 "
                                    "computes a 64-px model at 32 × 32, about four times cheaper a step; auto: "
                                    f"2 from {PATCHED_FROM} px on a CPU, else 1", choices=(AUTO, 1, 2, 4),
                              zero_text="auto", advanced=True, label="Patch size")
    # Autoguidance helped every colourful set by a third or more and no grayscale one (Fashion-MNIST after 30
    # minutes: FD 10.19 unguided, 10.85 at w = 1.5, 11.09 at w = 2; benchmarks/README.md, "The guide")
    guide: str = setting("auto", "keep a guide, an earlier state of the run that sampling pushes away from "
                                 "(autoguidance, Karras et al. 2024): on, off, or auto: on for colour folders, off for "
                                 "grayscale ones", choices=choices.GUIDES, advanced=True, label="Guide")
    guide_at: float = setting(0.3, "share of the run (of --minutes by the clock, else of --steps) after which "
                                     "its EMA weights are kept as its guide; 0: no guide", minimum=0.0, maximum=0.9,
                              step=0.05, advanced=True, label="Guide at")
    # Autoguidance wants a guide that is a finished shorter run, not a snapshot taken at a high learning rate: at
    # 64 px after 120 minutes a 30-minute run's final weights as the guide gave 2.3× the floor, the run's own
    # snapshot at 30 % 3.8× (w = 2; benchmarks/README.md, "The guide")
    guide_cooldown: float = setting(0.1, "share of the run before the guide is kept over which the learning rate "
                                         "falls to zero (then climbs back), so that the guide is a model trained to "
                                         "the end of a shorter schedule; 0: none", minimum=0.0, maximum=0.5,
                                    step=0.05, advanced=True, label="Guide cool-down")
    precision: str = setting("auto", "auto: bfloat16 autocast where the device computes it natively (recent CPUs "
                                     "with AMX or AVX512-BF16, and GPUs), else float32",
                             choices=choices.PRECISIONS, advanced=True)
    crop: Crop = setting("center", "how images are cut square", choices=choices.CROPS)
    data_cache: str = setting("auto", "where the decoded images are kept while training: memory; disk (a "
                                      "memory-mapped cache, built once, for folders larger than memory; centre "
                                      "crops); auto: disk above "
                                      f"{DISK_CACHE_ABOVE >> 30} GB of decoded images",
                              choices=choices.DATA_CACHES, advanced=True, label="Data cache")
    flip: bool = setting(True, "random horizontal flips of the training images")
    classes: str = setting("auto", "auto: subfolders of images are classes when there are two or more "
                                   "(class-conditional, for --class and --guidance when sampling); off: never",
                           choices=choices.CLASS_MODES)
    p_uncond: float = setting(0.1, "share of steps that train 'no class' instead, for guidance (Ho & Salimans 2022)",
                              minimum=0.0, maximum=0.99)
    seed: int = seed_setting("the seed of the weights, the noise and the order of the images")
    save_every: int = setting(1000, "checkpoint interval in steps (Stop and quitting save too)", minimum=1,
                              maximum=MAX_STEPS, resumable=True, step=100)
    preview_every: int = setting(500, "preview interval in steps: samples from the EMA weights", minimum=1,
                                 maximum=MAX_STEPS, resumable=True, step=50)
    keep: int = setting(3, "checkpoints to keep; older ones are deleted", minimum=1, maximum=1000)
    preview_count: int = 16
    preview_sampler: str = setting(DEFAULT_KIND, "how previews are drawn (as `diffstudio sample` and the Sample "
                                                 "panel)", choices=tuple(SAMPLERS), advanced=True)
    preview_steps: int = setting(SAMPLERS[DEFAULT_KIND].default_steps, "the preview sampler's steps", minimum=1,
                                 maximum=MAX_TIMESTEPS, advanced=True)
    # off by default: it costs sampling time that training would use
    eval_every: int = setting(0, "every N steps, log KID and the share of samples copying a training image "
                                 "(random network features; see `diffstudio evaluate`) and plot them beside the "
                                 "loss", minimum=0, maximum=MAX_STEPS, zero_text="never", step=250,
                            advanced=True)
    eval_samples: int = setting(256, "samples per measurement: more is steadier and slower", minimum=8,
                                maximum=50_000, step=64, advanced=True)

    def __post_init__(self) -> None:
        if self.lr is None:
            self.lr = PRESET_LR.get(self.preset, PRESET_LR["ddpm-cifar10"])

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """A stored config; a setting it lacks (a run from before the setting existed) is what that run used."""
        known = {**BEFORE_RECIPES, **d}
        return cls(**{k: known[k] for k in cls.__dataclass_fields__ if k in known})

    def for_folder(self, channels: int) -> TrainConfig:
        """These settings with "auto" decided for a folder of `channels` (1 or 3), as a new run stores them."""
        return self if self.guide != "auto" else replace(self, guide="on" if channels == 3 else "off")

    def keeps_guide(self) -> bool:
        """Whether the run keeps a guide: "on" (auto is decided by for_folder when the run is made) and a share."""
        return self.guide == "on" and self.guide_at > 0

    def lr_decays(self) -> bool:
        """Whether the learning rate follows a cosine to zero at the run's end after warm-up."""
        return self.lr_schedule == "cosine" or (self.lr_schedule == "auto" and self.minutes is not None)

    def check_declared(self) -> None:
        """Every declared setting against its type, choices and range (torch-free, for the GUI thread too)."""
        check_declared(self)

    def validate(self) -> None:
        self.check_declared()
        if self.num_timesteps < 1:
            raise DiffstudioError(f"the number of timesteps must be at least 1, got {self.num_timesteps}")
        if not 0 <= self.low_res_share < 1:
            raise DiffstudioError(f"the low-resolution share must be in [0, 1), got {self.low_res_share}")
        if not self.low_res_snr_shift > 0:
            raise DiffstudioError(f"the low-resolution SNR shift must be more than 0, got {self.low_res_snr_shift}")
        if self.timestep_sampling not in choices.TIMESTEP_SAMPLINGS:
            raise DiffstudioError(f"unknown timestep sampling {self.timestep_sampling!r}: use "
                                  f"{' or '.join(choices.TIMESTEP_SAMPLINGS)}")
        if self.data_cache == "disk" and self.crop != "center":
            raise DiffstudioError("the disk cache holds centre crops only: use crop center, or data-cache memory")
        if self.guide != "off" and self.guide_at > 0 and self.guide_cooldown > self.guide_at:
            raise DiffstudioError(f"the guide's cool-down ({self.guide_cooldown:g} of the run) must end where the "
                                  f"guide is kept ({self.guide_at:g}): shorten it, or keep the guide later")
        if self.zero_terminal_snr and self.prediction_type != "v_prediction":
            raise DiffstudioError("a zero terminal SNR needs the v_prediction target")
        from diffstudio.core.unet import preset  # torch: only where a run is made, never in the GUI thread

        # auto falls back to 1 where 2 does not fit (patch_on)
        preset(self.preset, self.resolution, patch_size=self.patch_size or 1).check_resolution(self.resolution)

    def patch_on(self, device_type: str) -> int:
        """The patch size a run trains with on this kind of device ("cpu", "cuda", "mps"): set, or auto's: 2 from
        PATCHED_FROM px on a CPU, where a budget buys few full-resolution steps (where the resolution allows), else
        1."""
        if self.patch_size != AUTO:
            return self.patch_size
        from diffstudio.core.unet import preset  # torch: only where a run is made or timed

        patched = preset(self.preset, self.resolution, patch_size=2)
        fits = self.resolution % patched.downsampling_factor == 0
        return 2 if device_type == "cpu" and self.resolution >= PATCHED_FROM and fits else 1


DEFAULT_MINUTES = 30  # the time budget the Train panel offers first

# What runs made before these settings existed trained with (on the CPU; CUDA used bfloat16 then).
BEFORE_RECIPES = dict(recipe="", lr_schedule="constant", prediction_type="epsilon", zero_terminal_snr=False,
                      loss_weighting="uniform", min_snr_gamma=5.0, precision="float32", preview_sampler="ddim",
                      classes="off", guide="on", guide_at=0.0, guide_cooldown=0.0, patch_size=1)

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


# Training images seen (steps × batch) before 97 % of samples passed for training images in
# benchmarks/train_quality.py with the defaults: tiny at 32 px on the synthetic shapes, 1,972 steps of 32 (10
# minutes on a 2-core CPU; benchmarks/README.md). Other sizes are not measured.
CLEAN_SAMPLE_IMAGES = {("tiny", 32): 2000 * 32}


def clean_sample_steps(preset: str, resolution: int, batch: int) -> int | None:
    """The steps that gave clean samples in our study at this batch size, where measured."""
    images = CLEAN_SAMPLE_IMAGES.get((preset, resolution))
    return None if images is None else -(-images // batch)


TRAIN_SETTINGS = declared_settings(TrainConfig)  # the settings a user gives: flags, the Train panel, resume rules
RESUME_CHANGES = tuple(d.name for d in TRAIN_SETTINGS if d.setting.resumable)  # what a resumed run may change
