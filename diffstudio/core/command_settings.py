"""The settings of the commands that use a trained model, each declared once (core/settings.py) with its type,
range and help: the CLI builds these commands' flags from them (cli/parser.py) and the panels' spin boxes take
their ranges from them. Torch-free, for the GUI thread.

A range that depends on the model (sampler steps, a noise level t: at most its T) is declared as wide as any model
allows and checked again where the model is loaded. The sampler's own settings are SamplerSettings', the
evaluation's EvaluateSettings'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from diffstudio.core.choices import BETA_SCHEDULES
from diffstudio.core.settings import MAX_TIMESTEPS, seed_setting, setting
from diffstudio.core.train_config import MAX_BATCH, MAX_RESOLUTION

MAX_IMAGES = 10_000  # images one command draws
MAX_GUIDANCE = 10.0  # the Guidance slider's end; far beyond the useful 1 … 5
INTERPOLATION_MODES = ("noise", "shared-noise", "ddim")
MIX_MODES = ("lerp", "slerp")


def images_setting(default: int, help: str, maximum: int = MAX_IMAGES) -> Any:
    return setting(default, help, flag="--n", minimum=1, maximum=maximum, label="Images")


@dataclass(frozen=True)
class SampleSettings:
    n: int = images_setting(16, "number of images")
    seed: int = seed_setting()
    resolution: int | None = setting(None, "image size", minimum=8, maximum=MAX_RESOLUTION,
                                     default_text="the model's training size")
    batch: int = setting(64, "images per forward pass", minimum=1, maximum=MAX_BATCH)
    vary_from: int | None = setting(None, "instead: --n variations of one image of this command, finished with fresh "
                                          "noise from this sampler step (1 … steps − 1; the DDPM paper's Fig. 7)",
                                    minimum=1, maximum=MAX_TIMESTEPS)
    index: int | None = setting(None, "with --vary-from: the image to vary, as numbered by --out", minimum=0,
                                maximum=MAX_IMAGES - 1, default_text="0")


@dataclass(frozen=True)
class CompareSettings:
    n: int = images_setting(16, "images per sampler", maximum=256)
    seed: int = seed_setting()


@dataclass(frozen=True)
class ConditionSettings:
    class_name: str | None = None  # a class of the model's, "mixed" or None: checked against the model
    guidance: float = setting(1.0, "classifier-free guidance scale with --class: 0 unconditional, 1 the plain "
                                   "conditional model, above 1 more like the class", minimum=0.0,
                              maximum=MAX_GUIDANCE, step=0.1)


@dataclass(frozen=True)
class InterpolateSettings:
    t: int = setting(500, "diffusion steps of noise before mixing, 0 … the model's T", minimum=0,
                     maximum=MAX_TIMESTEPS)
    lambdas: int = setting(11, "number of λ values from 0 to 1", minimum=2, maximum=101)
    mode: str = setting("noise", "encode with q(x_t|x_0), a noise draw for each image (the paper's), or one draw "
                                 "shared by both (a lerp is then the noised pixel blend), or by deterministic DDIM "
                                 "inversion", choices=INTERPOLATION_MODES)
    mix: str = setting("lerp", "how the two encodings are mixed", choices=MIX_MODES)
    seed: int = seed_setting()


@dataclass(frozen=True)
class InpaintSettings:
    n: int = images_setting(1, "how many fillings", maximum=64)
    steps: int = setting(250, "RePaint's reverse steps, at most the model's T (more are taken as T)", minimum=1,
                         maximum=MAX_TIMESTEPS)
    jump_length: int = setting(10, "steps back up per jump", minimum=1, maximum=1000)
    resamples: int = setting(10, "passes over each jump (1: none)", minimum=1, maximum=100)
    seed: int = seed_setting()


@dataclass(frozen=True)
class SDEditSettings:
    strength: float = setting(0.5, "how much noise, as t/T: near 0 keeps the image, 1 draws a new one",
                              minimum=0.001, maximum=1.0, step=0.05)
    n: int = images_setting(4, "how many edits", maximum=64)
    seed: int = seed_setting()


@dataclass(frozen=True)
class ForwardSettings:
    t: int = setting(500, "the step whose ᾱ_t and SNR are printed", minimum=0, maximum=MAX_TIMESTEPS)
    schedule: str = setting("linear", "the β schedule", choices=BETA_SCHEDULES)
