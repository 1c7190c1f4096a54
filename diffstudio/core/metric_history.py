"""A training run's measured curves (KID with its spread, the copied share), from the eval entries of log.jsonl:
few points (one per eval_every steps), kept whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffstudio.core.storage.run_folder import read_log

FIELDS = ("kid", "kid_std", "memorised")


class MetricHistory:
    def __init__(self):
        self.steps: list[int] = []
        self.values: dict[str, list[float]] = {name: [] for name in FIELDS}

    @classmethod
    def from_log(cls, path: Path) -> MetricHistory:
        history = cls()
        for _, entry in read_log(path):
            if all(isinstance(entry.get(name), float | int) for name in FIELDS):
                history.add(int(entry["step"]), entry)
        return history

    def add(self, step: int, metrics: dict[str, float]) -> None:
        self.steps.append(step)
        for name in FIELDS:
            self.values[name].append(float(metrics[name]))

    def arrays(self) -> tuple[np.ndarray, ...]:
        """steps, kid, kid_std, memorised."""
        return (np.array(self.steps, dtype=np.float64), *(np.array(self.values[n], dtype=np.float64) for n in FIELDS))
