"""Progress of reading an image folder, shared by the data loader, the jobs, the CLI and the GUI (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ReadProgress:
    """Files read so far while a folder is decoded; the last one carries the result (data set and report)."""

    done: int
    total: int
    elapsed_s: float
    result: object | None = None

    def text(self) -> str:
        rate = self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0
        left = f", {format_duration((self.total - self.done) / rate)} left" if rate > 0 else ""
        return f"reading the images… {self.done:,} of {self.total:,}{left}"


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def count_of(n: int, noun: str) -> str:
    """"1 file", "3 files"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
