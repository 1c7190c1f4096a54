"""What our studies reached in a training budget: one table, measured in benchmarks/ (benchmarks/README.md), that
the Train panel reads to say what to expect on a folder like the user's, scaled to the speed measured on the user's
machine. Torch-free, for the GUI thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from diffstudio.core.progress import format_duration
from diffstudio.core.train_config import clean_sample_steps

STUDY_MACHINE = "a 2-core Intel Xeon CPU"
ESTIMATE_TIP = ("Steps per minute measured here with these settings, and the steps that gave\n"
                "clean samples of simple images in benchmarks/train_quality.py")


@dataclass(frozen=True)
class StudyResult:
    folder: str  # the kind of folder, as a user would say it
    detail: str  # which set it was
    channels: int  # 3 for colour, 1 for grayscale: how a folder is matched to a row
    resolution: int
    minutes: float  # of training on STUDY_MACHINE …
    images: int  # … which saw this many training images (steps × batch)
    reached: str  # what the samples were like then, with the default sampler, in a few words

    def summary(self, images_per_s: float | None = None) -> str:
        """One short sentence for the Train panel; with this machine's training speed, how long the same takes
        here."""
        here = f"; as many images take ≈ {format_duration(self.images / images_per_s)} here" if images_per_s else ""
        return (f"Our {self.folder} study ({self.resolution} px, {self.minutes:g} min on a 2-core CPU): "
                f"{self.reached}{here}.")

    def text(self) -> str:
        """The whole story, for a tooltip."""
        return (f"On {self.folder} ({self.detail}) at {self.resolution} px, {self.minutes:g} minutes of training with "
                f"the defaults on {STUDY_MACHINE} ({self.images:,} images seen) gave {self.reached}.\n"
                "The time here is for as many images at the speed measured on this machine (benchmarks/README.md).")


# The default recipe (`tiny`, batch 32) and the default sampler; benchmarks/README.md, "Colourful images" and "The
# guide" (32 px: with the guide's cool-down and w = 2; the 64-px rows were measured before the cool-down).
RESULTS = (
    StudyResult("emoji", "Twemoji, 2,952 colourful images on white", 3, 32, 30, 8484 * 32,
                "FD 1.6× real images' with autoguidance, all 9 categories, about half clearly emoji"),
    StudyResult("emoji", "Twemoji, 2,952 colourful images on white", 3, 64, 30, 2755 * 32,
                "FD 6.8× real images' with autoguidance at w = 1.5, all 9 categories, mostly blobs of the right "
                "colours with a few faces (64 px needs longer: about three times the compute of 32 px per image)"),
    StudyResult("emoji", "Twemoji, 2,952 colourful images on white", 3, 64, 120, 10742 * 32,
                "FD 3.8× real images' with autoguidance, 9 of 9 categories, faces, people and blue symbol tiles "
                "recognisable in about a third of the grid, the rest smeared"),
)


def expectation(channels: int, resolution: int, minutes: float | None = None) -> StudyResult | None:
    """The study row for a folder of this many channels at this resolution, where there is one; of several, the one
    whose budget is nearest `minutes` (by ratio), or the first."""
    rows = [r for r in RESULTS if r.channels == channels and r.resolution == resolution]
    if not rows or minutes is None or minutes <= 0:
        return rows[0] if rows else None
    return min(rows, key=lambda r: abs(math.log(r.minutes / minutes)))


@dataclass(frozen=True)
class Plan:
    """A run about to start, as the Train panel knows it."""

    preset: str
    resolution: int
    batch: int
    channels: int | None  # of the folder, once read
    steps_per_minute: float | None  # measured here, once measured
    steps: int
    minutes: float | None  # a time budget instead of `steps`

    def planned_steps(self) -> float | None:
        """The steps this run will train: set, or what the time budget buys at the speed measured here."""
        if self.minutes is None:
            return self.steps
        return self.minutes * self.steps_per_minute if self.steps_per_minute else None


# Where a budget buys few steps, the same images in twice the steps did better: on a 2-core CPU without AVX-512 (28
# img/s at batch 32 and at 16), Twemoji after 1,300 steps of 32 gave 4.7× the floor, after 2,600 of 16 3.3×;
# Google's emoji 4.4× → 3.6× (benchmarks/README.md, "Batch 16 where a budget buys few steps"). Not measured where a
# budget buys more: the default stays 32 until it is.
# a budget's images (steps × batch): the regime measured (1,300 steps of 32) with room, below a fast CPU's 8,484 of 32
FEW_IMAGES = 3000 * 32
SMALLER_BATCH = 16
FEW_STEPS_TIP = (f"<span style='color:#b9770e'>On a machine this speed, batch {SMALLER_BATCH} (the same images in "
                 "twice the steps) gave clearly better samples in our study.</span>")


def wants_smaller_batch(plan: Plan) -> bool:
    """Whether a time budget buys so few steps of this batch that the study's smaller batch did better there (tiny,
    colour, 32 px: what was measured)."""
    planned = plan.planned_steps()
    measured = plan.preset == "tiny" and plan.channels == 3 and plan.resolution == 32
    return (measured and plan.minutes is not None and planned is not None and plan.batch > SMALLER_BATCH
            and planned * plan.batch < FEW_IMAGES)


def plan_estimate(plan: Plan) -> tuple[str, str]:
    """What to expect of a run (rich text) and its tooltip: how long it takes here, and what our study reached
    on a folder like this one, or the steps clean samples of simple images took."""
    speed, parts = plan.steps_per_minute, []
    if speed and plan.minutes is None:
        parts.append(f"≈ {speed:.0f} steps/min here: {plan.steps:,} steps take "
                     f"≈ {format_duration(plan.steps / speed * 60)}.")
    elif speed:
        parts.append(f"≈ {speed:.0f} steps/min here: {plan.minutes:g} min buy ≈ {plan.planned_steps():,.0f} steps.")
    studied = plan.channels and plan.preset == "tiny"  # the studies trained tiny
    minutes = plan.minutes or (plan.steps / speed if speed else None)  # the run's length here, as far as known
    study = expectation(plan.channels, plan.resolution, minutes) if studied else None
    needed = clean_sample_steps(plan.preset, plan.resolution, plan.batch)
    if study:
        parts.append(study.summary(speed * plan.batch / 60 if speed else None))
    elif needed:
        time_needed = f" (≈ {format_duration(needed / speed * 60)} here)" if speed else ""
        parts.append(f"Clean samples of simple images took ≈ {needed:,} steps{time_needed} in our tests.")
        planned = plan.planned_steps()
        if planned is not None and planned < needed / 2:
            parts.append("<span style='color:#c0392b'>With far fewer steps, expect noisy samples.</span>")
    else:
        parts.append("No measured budget for this model and size: watch the previews.")
    if wants_smaller_batch(plan):
        parts.append(FEW_STEPS_TIP)
    return " ".join(parts), study.text() if study else ESTIMATE_TIP
