"""The terminal progress line: on a pipe a line every 10 % or every minute; on a terminal a tqdm bar whose cursor
stays at the line's end, so a Ctrl-C echo or a message never overwrites it."""

import io

from diffstudio import terminal
from diffstudio.terminal import ProgressLine


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_on_a_pipe_a_line_every_ten_percent_or_every_minute(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(terminal.time, "monotonic", clock)
    out = io.StringIO()
    progress = ProgressLine("step", 100_000, unit="steps", stream=out)
    for step in range(1, 4001):  # 4 % of the run, one step every 0.3 s: 20 minutes
        clock.now += 0.3
        progress.update(step)
    lines = out.getvalue().splitlines()
    assert 19 <= len(lines) <= 21  # one a minute, though no 10 % mark was passed
    assert lines[0].startswith("step:   0% 1/100000 [00:00<") and "3.33steps/s" in lines[-1]


def test_on_a_terminal_the_cursor_stays_at_the_end_of_the_line(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(terminal.time, "monotonic", clock)
    out = Tty()
    progress = ProgressLine("decoding", 500, unit="steps", stream=out)
    for step in (1, 9):
        clock.now += 1
        progress.update(step)
    text = out.getvalue()
    assert text.startswith("\rdecoding") and not text.endswith("\r") and "\n" not in text
    clock.now += 1
    progress.update(500)
    assert out.getvalue().endswith("\n")
