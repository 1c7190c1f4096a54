"""What our studies reached in a training budget: one table, measured in benchmarks/ (benchmarks/README.md), that
the Train panel reads to say what to expect on a folder like the user's, scaled to the speed measured on the user's
machine. Torch-free, for the GUI thread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from diffstudio.core.batch_choice import AUTO, FULL_BATCH, SMALLER_BATCH, auto_batch, buys_few_images
from diffstudio.core.progress import format_duration
from diffstudio.core.train_config import clean_sample_steps

FAST_CPU = "a 2-core Intel Xeon CPU with AMX"  # 150 img/s at batch 32 (benchmarks/README.md)
SLOW_CPU = "a 2-core AMD EPYC CPU without AVX-512"  # 28 img/s
MIDDLE_CPU = "a 2-core AMD EPYC CPU without AVX-512, on a faster day (52 img/s)"
BF16_CPU = "a 2-core AMD EPYC CPU with AVX512-BF16"  # 120 img/s in bfloat16, no AMX
ESTIMATE_TIP = ("Steps per minute measured here with these settings, and the steps that gave\n"
                "clean samples of simple images in benchmarks/train_quality.py")


@dataclass(frozen=True)
class StudyResult:
    folder: str  # the kind of folder, as a user would say it
    detail: str  # which set it was
    channels: int  # 3 for colour, 1 for grayscale: how a folder is matched to a row
    resolution: int
    machine: str  # the study's CPU …
    minutes: float  # … trained this long …
    images: int  # … and saw this many training images (steps × batch) …
    batch: int  # … in steps of this many
    reached: str  # what the samples were like then, with the default sampler, in a few words
    patch_size: int = 1  # the U-Net's patches (UNetConfig.patch_size)

    def summary(self, images_per_s: float | None = None) -> str:
        """One short sentence for the Train panel; with this machine's training speed, how long the same takes
        here."""
        here = f"; as many images take ≈ {format_duration(self.images / images_per_s)} here" if images_per_s else ""
        return (f"Our {self.folder} study ({self.resolution} px{self.patches()}, batch {self.batch}, {self.minutes:g} "
                f"min on {self.machine}): {self.reached}{here}.")

    def patches(self) -> str:
        return f", patch {self.patch_size}" if self.patch_size > 1 else ""

    def text(self) -> str:
        """The whole story, for a tooltip."""
        return (f"On {self.folder} ({self.detail}) at {self.resolution} px{self.patches()}, {self.minutes:g} minutes "
                f"of training with the defaults at batch {self.batch} on {self.machine} ({self.images:,} images seen) "
                f"gave {self.reached}.\nThe time here is for as many images at the speed measured on this machine "
                "(benchmarks/README.md).")


# The default recipe (`tiny`) and the default sampler; benchmarks/README.md, "Colourful images", "The guide" (32 px:
# with the guide's cool-down and w = 2; the AMX machine's 64-px rows were measured before the cool-down) and "Batch 16
# where a budget buys few steps"; the Noto row: "On a faster day" (the held-out kind, with `--minutes 30` as it is
# now); the AMD EPYC's 64-px rows: "64 px at `--minutes 120` on the AMD EPYC", "Patches at 64 px", "Batch 16 under
# patches", "The held-out kind at 64 px" and "On a CPU with AVX512-BF16".
TWEMOJI = "Twemoji, 2,952 colourful images on white"
NOTO = "Google's Noto emoji, 2,952 colourful images on white"
RESULTS = (
    StudyResult("emoji", TWEMOJI, 3, 32, FAST_CPU, 30, 8484 * 32, 32,
                "FD 1.6× real images' with autoguidance, all 9 categories, about half clearly emoji"),
    StudyResult("emoji", TWEMOJI, 3, 32, SLOW_CPU, 25, 2600 * 16, 16,
                "FD 3.3× real images' with autoguidance, all 9 categories, faces and people recognisable in about a "
                "quarter of the grid, the rest blobs of the right colours on light grey"),
    StudyResult("emoji", NOTO, 3, 32, MIDDLE_CPU, 30, 2947 * 32, 32,
                "FD 2.4× real images' with autoguidance, all 9 categories, white backgrounds (0.42 of the pixels "
                "against the data's 0.44), faces, people and couples recognisable in about 45 % of the grid"),
    StudyResult("emoji", TWEMOJI, 3, 64, FAST_CPU, 30, 2755 * 32, 32,
                "FD 6.8× real images' with autoguidance at w = 1.5, all 9 categories, mostly blobs of the right "
                "colours with a few faces (64 px needs longer: about three times the compute of 32 px per image)"),
    StudyResult("emoji", TWEMOJI, 3, 64, FAST_CPU, 120, 10742 * 32, 32,
                "FD 3.8× real images' with autoguidance, 9 of 9 categories, faces, people and blue symbol tiles "
                "recognisable in about a third of the grid, the rest smeared"),
    StudyResult("emoji", TWEMOJI, 3, 64, MIDDLE_CPU, 120, 2538 * 32, 32,
                "FD 8.9× real images' with autoguidance, all 9 categories, white backgrounds (0.32 of the pixels "
                "against the data's 0.40), about 4 in 64 recognisable (faces), the rest blobs of the right colours: "
                "at the full resolution 64 px needs a faster machine or longer"),
    StudyResult("emoji", TWEMOJI, 3, 64, MIDDLE_CPU, 120, 9951 * 32, 32,
                "FD 3.9× real images' with autoguidance, all 9 categories, white backgrounds (0.36 of the pixels "
                "against the data's 0.40), about 28 in 64 recognisable (people, couples, faces, blue symbol tiles), "
                "the rest blobs of the right colours", patch_size=2),
    StudyResult("emoji", TWEMOJI, 3, 64, MIDDLE_CPU, 120, 23775 * 16, 16,
                "FD 3.4× real images' with autoguidance, all 9 categories, white backgrounds (0.38 of the pixels "
                "against the data's 0.40), about 36 in 64 recognisable (people, couples, faces, blue symbol tiles), "
                "the rest blobs of the right colours", patch_size=2),
    StudyResult("emoji", NOTO, 3, 64, MIDDLE_CPU, 120, 22472 * 16, 16,
                "FD 3.6× real images' with autoguidance, all 9 categories, white backgrounds (0.47 of the pixels, as "
                "in the data), about 23 in 64 recognisable (faces, couples, people walking, flags), the rest smears "
                "of the right colours", patch_size=2),
    StudyResult("emoji", NOTO, 3, 64, BF16_CPU, 120, 49602 * 16, 16,
                "FD 3.0× real images' with autoguidance, all 9 categories, white backgrounds (0.46 of the pixels "
                "against the data's 0.47), about 30 in 64 recognisable (faces, people, couples, flags, symbol "
                "tiles), the rest smears of the right colours", patch_size=2),
)


def expectation(channels: int, resolution: int, images: float | None = None,
                batch: int | None = None, patch_size: int = 1) -> StudyResult | None:
    """The study row for a folder of this many channels at this resolution, where there is one; of several, those
    with `patch_size` where there are any, of them those at `batch` where there are any, and of them the one that saw
    nearest `images` (by ratio), or the first."""
    rows = [r for r in RESULTS if r.channels == channels and r.resolution == resolution]
    rows = [r for r in rows if r.patch_size == patch_size] or rows
    rows = [r for r in rows if r.batch == batch] or rows
    if not rows or not images or images <= 0:
        return rows[0] if rows else None
    return min(rows, key=lambda r: abs(math.log(r.images / images)))


@dataclass(frozen=True)
class Plan:
    """A run about to start, as the Train panel knows it."""

    preset: str
    resolution: int
    batch: int  # AUTO: chosen by batch_choice.auto_batch
    channels: int | None  # of the folder, once read
    images_per_s: Mapping[int, float]  # measured here, by batch size; empty until measured
    steps: int
    minutes: float | None  # a time budget instead of `steps`
    patch_size: int = 1  # the U-Net's patches, as measured (auto's choice on the device)

    def batch_used(self) -> int:
        """The batch the run will train with: set, or what auto chooses with the speeds measured so far."""
        if self.batch != AUTO:
            return self.batch
        return auto_batch(self.minutes, self.preset, self.channels, self.resolution, self.patch_size,
                          self.images_per_s)

    def steps_per_minute(self) -> float | None:
        batch = self.batch_used()
        return self.images_per_s[batch] * 60 / batch if batch in self.images_per_s else None

    def planned_steps(self) -> float | None:
        """The steps this run will train: set, or what the time budget buys at the speed measured here."""
        if self.minutes is None:
            return self.steps
        speed = self.steps_per_minute()
        return self.minutes * speed if speed else None


AUTO_SMALLER_TIP = (f"Auto chose batch {SMALLER_BATCH}: where a budget buys few steps of {FULL_BATCH}, the same "
                    "images in twice the steps did better in our study.")
FEW_STEPS_TIP = (f"<span style='color:#b9770e'>On a machine this speed, batch {SMALLER_BATCH} (the same images in "
                 "twice the steps) gave clearly better samples in our study: batch auto chooses it.</span>")


def wants_smaller_batch(plan: Plan) -> bool:
    """Whether a batch set by hand is larger than the one auto would choose here: a time budget buys so few steps of
    it that the study's smaller batch did better (batch_choice.FEW_IMAGES: the kinds of run measured)."""
    speed = plan.images_per_s.get(plan.batch)
    return (plan.batch > SMALLER_BATCH and speed is not None
            and buys_few_images(plan.minutes, plan.preset, plan.channels, plan.resolution, plan.patch_size, speed))


def plan_estimate(plan: Plan) -> tuple[str, str]:
    """What to expect of a run (rich text) and its tooltip: how long it takes here, and what our study reached
    on a folder like this one, or the steps clean samples of simple images took."""
    speed, batch, parts = plan.steps_per_minute(), plan.batch_used(), []
    at = f" at batch {batch}" if plan.batch == AUTO else ""  # which batch auto chose
    if speed and plan.minutes is None:
        parts.append(f"≈ {speed:.0f} steps/min here{at}: {plan.steps:,} steps take "
                     f"≈ {format_duration(plan.steps / speed * 60)}.")
    elif speed:
        parts.append(f"≈ {speed:.0f} steps/min here{at}: {plan.minutes:g} min buy ≈ {plan.planned_steps():,.0f} "
                     "steps.")
    if batch == SMALLER_BATCH and plan.batch == AUTO:
        parts.append(AUTO_SMALLER_TIP)
    studied = plan.channels and plan.preset == "tiny"  # the studies trained tiny
    planned = plan.planned_steps()
    study = (expectation(plan.channels, plan.resolution, planned and planned * batch, batch, plan.patch_size)
             if studied else None)
    needed = clean_sample_steps(plan.preset, plan.resolution, batch)
    if study:
        parts.append(study.summary(speed * batch / 60 if speed else None))
    elif needed:
        time_needed = f" (≈ {format_duration(needed / speed * 60)} here)" if speed else ""
        parts.append(f"Clean samples of simple images took ≈ {needed:,} steps{time_needed} in our tests.")
        if planned is not None and planned < needed / 2:
            parts.append("<span style='color:#c0392b'>With far fewer steps, expect noisy samples.</span>")
    else:
        parts.append("No measured budget for this model and size: watch the previews.")
    if wants_smaller_batch(plan):
        parts.append(FEW_STEPS_TIP)
    return " ".join(parts), study.text() if study else ESTIMATE_TIP
