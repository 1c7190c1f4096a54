"""A training run's loss curve, kept small: at most `max_points` averages of equal-width bins of steps.

When the points fill up, neighbours merge pairwise and the bin width doubles, so
the curve of a million-step run costs what a thousand-step one does to keep and
to draw, and the noisy per-step loss is smoothed as the run grows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffstudio.core.storage.run_folder import read_log


class LossHistory:
    def __init__(self, max_points: int = 1000):
        self.max_points = max_points
        self.width = 1  # steps per bin
        self.steps: list[float] = []  # the mean step of each full bin
        self.losses: list[float] = []
        self.open_steps: list[int] = []  # the bin being filled
        self.open_losses: list[float] = []

    @classmethod
    def from_log(cls, path: Path, max_points: int = 1000) -> LossHistory:
        """The curve so far of a run being resumed, from its log.jsonl (lines that do not parse are skipped)."""
        history = cls(max_points)
        for _, entry in read_log(path):
            if isinstance(entry.get("loss"), float | int):  # not an event ("resumed with changes")
                history.add(int(entry["step"]), float(entry["loss"]))
        return history

    def add(self, step: int, loss: float) -> None:
        self.open_steps.append(step)
        self.open_losses.append(loss)
        if len(self.open_steps) == self.width:
            self.steps.append(float(np.mean(self.open_steps)))
            self.losses.append(float(np.mean(self.open_losses)))
            self.open_steps, self.open_losses = [], []
            if len(self.steps) >= self.max_points:
                self.merge_pairs()

    def merge_pairs(self) -> None:
        even = len(self.steps) // 2 * 2
        self.steps = pair_means(self.steps[:even]) + self.steps[even:]
        self.losses = pair_means(self.losses[:even]) + self.losses[even:]
        self.width *= 2

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, losses) to plot, the partly filled last bin included."""
        steps, losses = list(self.steps), list(self.losses)
        if self.open_steps:
            steps.append(float(np.mean(self.open_steps)))
            losses.append(float(np.mean(self.open_losses)))
        return np.array(steps), np.array(losses)


def pair_means(values: list[float]) -> list[float]:
    """Means of consecutive pairs: [a, b, c, d] → [(a + b)/2, (c + d)/2]."""
    return [(a + b) / 2 for a, b in zip(values[::2], values[1::2], strict=True)]
