"""Progress as text, shared by the data loader, the jobs, the CLI and the GUI (torch-free): rates and time left,
durations, counts, losses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SamplingProgress:
    """Samples drawn so far (evaluation)."""

    done: int
    total: int
    elapsed_s: float


@dataclass
class ReadProgress:
    """Files read so far while a folder is decoded; the last one carries the result (data set and report)."""

    done: int
    total: int
    elapsed_s: float
    result: object | None = None

    def text(self) -> str:
        _, left_s = rate_and_time_left(self.done, self.total, self.elapsed_s)
        left = f", {format_duration(left_s)} left" if left_s is not None else ""
        return f"reading the images… {self.done:,} of {self.total:,}{left}"


@dataclass(frozen=True)
class DownloadProgress:
    """Bytes of a download so far."""

    what: str
    done: int
    total: int
    elapsed_s: float

    def text(self) -> str:
        rate, left_s = rate_and_time_left(self.done, self.total, self.elapsed_s)
        speed = f", {rate / 1e6:.1f} MB/s, {format_duration(left_s)} left" if left_s is not None else ""
        return f"downloading {self.what}… {self.done / 1e6:,.1f} of {self.total / 1e6:,.1f} MB{speed}"


def rate_and_time_left(done: int, total: int, elapsed_s: float) -> tuple[float, float | None]:
    """Items per second so far, and the seconds left at that rate (None until there is a rate)."""
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    return rate, ((total - done) / rate if rate > 0 else None)


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def loss_text(loss: float | None, missing: str = "-") -> str:
    """A loss as the runs list shows it; `missing` for none (a run imported, or not trained yet) and NaN."""
    return f"{loss:.4f}" if isinstance(loss, float) and loss == loss else missing


def count_of(n: int, noun: str) -> str:
    """"1 file", "3 files"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def eta_text(elapsed_s: float, done: int, total: int, unit: str = "steps") -> str:
    """A running job's steps (or other units) per second and time left, or how long it took."""
    if done >= total:
        return f"done in {format_duration(elapsed_s)}"
    rate, left_s = rate_and_time_left(done, total, elapsed_s)
    return f"{rate:.1f} {unit}/s, {format_duration(left_s)} left" if left_s is not None else "starting…"
