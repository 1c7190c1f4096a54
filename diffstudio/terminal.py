"""A progress line on the terminal: done/total, rate and ETA."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressLine:
    """Rewrites one line on a terminal; on a pipe or file, prints a line every 10 %."""

    def __init__(self, label: str, total: int, unit: str = "it", stream: TextIO | None = None, initial: int = 0):
        self.label, self.total, self.unit, self.initial = label, total, unit, initial
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.start = time.monotonic()
        self.last_draw = 0.0
        self.last_decile = -1
        self.done = initial

    def update(self, done: int, extra: str = "", total: int | None = None) -> None:
        self.done = done
        self.total = total or self.total
        now = time.monotonic()
        decile = done * 10 // max(self.total, 1)
        if self.interactive and (now - self.last_draw < 0.1 and done < self.total):
            return
        if not self.interactive and decile == self.last_decile and done < self.total:
            return
        self.last_draw, self.last_decile = now, decile
        end = "\r" if self.interactive and done < self.total else "\n"
        print(self.describe(now, extra), end=end, file=self.stream, flush=True)

    def describe(self, now: float, extra: str = "") -> str:
        elapsed = now - self.start
        rate = (self.done - self.initial) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        width = len(str(self.total))
        parts = [f"{self.label} {self.done:>{width}}/{self.total}", f"{rate:.1f} {self.unit}/s",
                 f"ETA {format_duration(eta)}" if self.done < self.total else f"took {format_duration(elapsed)}"]
        if extra:
            parts.append(extra)
        return "  ".join(parts)
