"""The settings of a distillation (distillation.py), declared once for the CLI's flags and the Distil dialog.
Torch-free, for the GUI thread."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from diffstudio.core.diffusion.sampler_settings import DEFAULT_AUTOGUIDANCE
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.settings import check_declared, seed_setting, setting
from diffstudio.core.train_config import MAX_BATCH, MAX_MINUTES

STUDENT_STEPS = (1, 2, 4, 8, 16, 32, 64)
TEACHER_STEPS = (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
METHODS = ("progressive", "consistency")
FACTORS = (2, 4, 8, 16)
LOSSES = ("clip", "mse")


@dataclass(frozen=True)
class DistillSettings:
    steps: int = setting(4, "the student's sampler steps: each round divides the teacher's, down to this",
                         choices=STUDENT_STEPS)
    teacher_steps: int = setting(16, "the first teacher's steps: the run's model by DDIM (η = 0) at this many",
                                 choices=TEACHER_STEPS)
    updates: int = setting(300, "student updates per round (consistency: as many in all as progressive's rounds "
                                "would take)", minimum=1, maximum=1_000_000, step=50)
    # a time budget instead: a CPU twice as fast teaches twice the updates in the same minutes
    minutes: float | None = setting(None, "distil for this long instead of --updates: the whole distillation's time "
                                          "(paused time not counted), split evenly over its rounds, each round's "
                                          "rate decaying to 0 by the end of its share", minimum=0.01,
                                    maximum=MAX_MINUTES)
    # 4, not the paper's 2: at equal minutes on a CPU, 16 → 4 in one round beat 16 → 8 → 4 (shapes 18.8 % against
    # 2.3 %, Fashion-MNIST FD 20.0 against 21.7; benchmarks/README.md, "Fewer, longer rounds")
    factor: int = setting(4, "each round divides the steps by this (progressive): 2 halves them, as Salimans & Ho; "
                          "4 or more: fewer rounds, each student step learning as many of its teacher's",
                          choices=FACTORS)
    method: str = setting("progressive", "progressive: rounds that divide the steps (Salimans & Ho 2022); "
                          "consistency: one run to a consistency model (Song et al. 2023) on the teacher's steps",
                          choices=METHODS)
    # clip, not the paper's mse: shapes' 4-step student 57.4 / 65.6 % (η = 0 / 1) against 33.2 / 37.9 %, Fashion-MNIST's
    # FD 18.11 against 18.72 (benchmarks/README.md, "A loss through the sampler's clip")
    loss: str = setting("clip", "progressive: clip: the error of the student's x̂0 as its sampler clips it to [-1, 1] "
                        "(free past a bound its target sits on, as black or white ground does); mse: the network's "
                        "output against the teacher's (Salimans & Ho)", choices=LOSSES)
    # 16, not 32: in 15 minutes twice the updates of half the images did better on shapes (33.2 / 37.9 % against
    # 27.0 / 33.2) and no worse on Fashion-MNIST (FD 18.72 against 18.85); benchmarks/README.md, "A time budget"
    batch: int = setting(16, "images per update", minimum=1, maximum=MAX_BATCH)
    lr: float = setting(1e-4, "Adam's learning rate, decaying linearly to 0 over each round", minimum=1e-7,
                        maximum=0.1, step=1e-5, label="Learning rate")
    autoguidance: float = setting(DEFAULT_AUTOGUIDANCE, "the first teacher's autoguidance w, where the run has a "
                                  "guide (1: off); the students learn the guided model", minimum=1.0, maximum=4.0,
                                  step=0.1, label="Teacher's autoguidance w")
    seed: int = seed_setting()

    def validate(self) -> None:
        check_declared(self)
        if self.teacher_steps <= self.steps:
            raise DiffstudioError(f"the teacher's steps ({self.teacher_steps}) must be more than the student's "
                                  f"({self.steps}): each round divides them")

    def rounds(self) -> list[int]:
        """The student's steps in each round: teacher_steps / factor, / factor², … down to steps."""
        out, n = [], self.teacher_steps
        while n > self.steps:
            n = max(n // self.factor, self.steps)
            out.append(n)
        return out

    def teachers(self) -> list[int]:
        """The teacher's steps in each round: the first teacher's, then the previous round's student's."""
        return [self.teacher_steps, *self.rounds()[:-1]]

    def total_updates(self) -> int:
        return self.updates * len(self.rounds())

    def round_seconds(self) -> float | None:
        """A round's share of the time budget (consistency: its one round has it all), or None: by updates."""
        if self.minutes is None:
            return None
        return 60 * self.minutes / (1 if self.method == "consistency" else len(self.rounds()))

    def lineage(self) -> dict:
        """What a round's student depends on besides the round: students with the same lineage can continue."""
        unused = {"steps", "updates"} if self.minutes is not None else {"steps", "minutes"}  # as before budgets
        return {k: v for k, v in asdict(self).items() if k not in unused}
