"""Progress on the terminal: done/total, rate and ETA, drawn by tqdm."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

PIPE_FORMAT = "{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]{postfix}"


class ProgressLine:
    """A tqdm bar on a terminal; on a pipe or a file, a line of the same facts every 10 % or every minute (tqdm
    there would write one ever-growing line of carriage returns, and a log would show nothing until the end).

    On a terminal tqdm keeps the cursor at the end of the line (its carriage return comes before the next draw),
    so a Ctrl-C echoed there, or a message that starts with a newline, never overwrites it."""

    PIPE_INTERVAL_S = 60.0

    def __init__(self, label: str, total: int, unit: str = "it", stream: TextIO | None = None, initial: int = 0,
                 quiet: bool = False):
        """`quiet` draws nothing: the processes of a distributed run other than rank 0."""
        self.label, self.total, self.unit, self.initial, self.quiet = label, total, unit, initial, quiet
        self.stream = stream or sys.stderr
        self.bar = (tqdm(total=total, initial=initial, desc=label, unit=unit, file=self.stream, dynamic_ncols=True)
                    if self.stream.isatty() and not quiet else None)
        self.start = self.last_line = time.monotonic()
        self.last_decile = -1

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """End the bar's line (it stays, as drawn last), before a message or an error is printed."""
        if self.bar is not None:
            self.bar.close()

    def update(self, done: int, extra: str = "", total: int | None = None) -> None:
        self.total = total or self.total
        if self.quiet:
            return
        if self.bar is not None:
            self.draw_bar(done, extra)
        else:
            self.print_line(done, extra)

    def draw_bar(self, done: int, extra: str) -> None:
        self.bar.total = self.total
        if extra:
            self.bar.set_postfix_str(extra, refresh=False)
        self.bar.update(done - self.bar.n)
        if done >= self.total:
            self.bar.close()

    def print_line(self, done: int, extra: str) -> None:
        now = time.monotonic()
        decile = done * 10 // max(self.total, 1)
        if decile == self.last_decile and now - self.last_line < self.PIPE_INTERVAL_S and done < self.total:
            return
        self.last_line, self.last_decile = now, decile
        text = tqdm.format_meter(done, self.total, now - self.start, prefix=self.label, unit=self.unit,
                                 initial=self.initial, bar_format=PIPE_FORMAT, postfix=extra or None)
        print(text, file=self.stream, flush=True)
