"""What our studies reached in a training budget: one table, measured in benchmarks/ (benchmarks/README.md), that
the Train panel reads to say what to expect on a folder like the user's, scaled to the speed measured on the user's
machine. Torch-free, for the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffstudio.core.progress import format_duration

STUDY_MACHINE = "a 2-core Intel Xeon CPU"


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


# The default recipe (`tiny`, batch 32) and the default sampler; benchmarks/README.md, "Colourful images".
RESULTS = (
    StudyResult("emoji", "Twemoji, 2,952 colourful images on white", 3, 32, 30, 6111 * 32,
                "FD 4.3× real images', all 9 categories, about a third clearly emoji"),
)


def expectation(channels: int, resolution: int) -> StudyResult | None:
    """The study row for a folder of this many channels at this resolution, where there is one."""
    return next((r for r in RESULTS if r.channels == channels and r.resolution == resolution), None)
