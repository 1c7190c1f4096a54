"""How the playground's small model trains, with the defaults the GUI offers (torch-free, for the GUI)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ToyTrainSettings:
    steps: int = 2000
    batch: int = 256
    lr: float = 2e-3
    hidden: int = 128
    seed: int = 0
    beta_schedule: str = "linear"  # choices.BETA_SCHEDULES
    report_every: int = 50  # steps between progress items
