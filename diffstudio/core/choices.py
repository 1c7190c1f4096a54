"""Every choice the user is offered, in one torch-free module: the CLI builds its flags from it and the GUI
fills its combo boxes from it, so the two never disagree."""

from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda", "mps")
PRESETS = ("tiny", "ddpm-cifar10", "ddpm-256")
SPACINGS = ("trailing", "linspace", "karras")
BETA_SCHEDULES = ("linear", "cosine")
PREDICTION_TYPES = ("epsilon", "v_prediction")  # diffusers' names for what the network outputs
LOSS_WEIGHTINGS = ("uniform", "min_snr")  # L_simple, or min-SNR-γ
PRECISIONS = ("auto", "float32", "bfloat16")
LR_SCHEDULES = ("auto", "constant", "cosine")
TIMESTEP_SAMPLINGS = ("uniform", "logit_normal")
CROPS = ("center", "random")
# where the decoded images live while training: "auto" picks the disk cache for folders larger than
# train_config.DISK_CACHE_ABOVE
DATA_CACHES = ("auto", "memory", "disk")
GUIDES = ("auto", "on", "off")  # a guide for autoguidance: auto keeps one for colour folders only
CLASS_MODES = ("auto", "off")  # subfolders as classes when there are two or more, or never
FEATURE_EXTRACTORS = ("random", "pixels", "inception")  # what `evaluate` measures samples on (core/metrics/features.py)
TOY_DATA = ("mixture", "mixture 1-D", "two moons", "spiral", "checkerboard", "ring")  # the playground's presets
