"""What our studies reached in a training budget: one table, measured in benchmarks/ (benchmarks/README.md), that
the Train panel reads to say what to expect on a folder like the user's, scaled to the speed measured on the user's
machine. Torch-free, for the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffstudio.core.progress import format_duration

STUDY_MACHINE = "a 2-core AMD EPYC CPU"


@dataclass(frozen=True)
class StudyResult:
    folder: str  # the kind of folder, as a user would say it
    channels: int  # 3 for colour, 1 for grayscale: how a folder is matched to a row
    resolution: int
    minutes: float  # of training on STUDY_MACHINE …
    images: int  # … which saw this many training images (steps × batch)
    reached: str  # what the samples were like then, with the default sampler

    def text(self, images_per_s: float | None = None) -> str:
        """One sentence for the Train panel; with this machine's training speed, how long the same takes here."""
        sentence = (f"On {self.folder} at {self.resolution} px our study reached {self.reached} after "
                    f"{self.minutes:g} minutes on {STUDY_MACHINE} ({self.images:,} images seen)")
        if images_per_s:
            sentence += f"; that many images take ≈ {format_duration(self.images / images_per_s)} here"
        return sentence + "."


# The default recipe (`tiny`, batch 32) and the default sampler; benchmarks/README.md, "Colourful images" and
# "Quality per CPU-minute".
RESULTS = (
    StudyResult("colourful emoji (Twemoji, 2,952 images on white)", 3, 32, 30, 5994 * 32,
                "a Fréchet distance 5.2× that of real images, all 9 categories, about half the samples clearly emoji"),
)


def expectation(channels: int, resolution: int) -> StudyResult | None:
    """The study row for a folder of this many channels at this resolution, where there is one."""
    return next((r for r in RESULTS if r.channels == channels and r.resolution == resolution), None)
