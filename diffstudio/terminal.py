"""A progress line on the terminal: done/total, rate and ETA."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from diffstudio.core.progress import format_duration


class ProgressLine:
    """Rewrites one line on a terminal; on a pipe or file, prints a line every 10 % or every minute.

    On a terminal the cursor stays at the end of the line (the carriage return comes before the next draw), so a
    Ctrl-C echoed there, or a message that starts with a newline, never overwrites it."""

    PIPE_INTERVAL_S = 60.0

    def __init__(self, label: str, total: int, unit: str = "it", stream: TextIO | None = None, initial: int = 0):
        self.label, self.total, self.unit, self.initial = label, total, unit, initial
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.start = time.monotonic()
        self.last_draw = self.start
        self.last_decile = -1
        self.width = 0
        self.done = initial

    def update(self, done: int, extra: str = "", total: int | None = None) -> None:
        self.done = done
        self.total = total or self.total
        now = time.monotonic()
        decile = done * 10 // max(self.total, 1)
        if self.interactive and (now - self.last_draw < 0.1 and done < self.total):
            return
        quiet = decile == self.last_decile and now - self.last_draw < self.PIPE_INTERVAL_S
        if not self.interactive and quiet and done < self.total:
            return
        self.last_draw, self.last_decile = now, decile
        text = self.describe(now, extra)
        if self.interactive:
            padding = " " * max(0, self.width - len(text))
            self.width = len(text)
            print(f"\r{text}{padding}", end="\n" if done >= self.total else "", file=self.stream, flush=True)
        else:
            print(text, file=self.stream, flush=True)

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
