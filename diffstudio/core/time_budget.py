"""How long a run trains, a number of steps or a time budget by the trainer's clock, and the learning rate
that follows it: linear warm-up, then constant (the paper's) or a cosine decay to zero at the end, with a dip to zero
just before the run's guide is kept."""

from __future__ import annotations

import math

from diffstudio.core.errors import DiffstudioError
from diffstudio.core.train_config import TrainConfig

# after the guide's cool-down the learning rate climbs back over this share of the run (Adam's steps grow with it)
REWARM_SHARE = 0.02


def learning_rate(c: TrainConfig, step: int, train_seconds: float) -> float:
    """Linear warm-up to c.lr, then constant or a cosine decay to zero at c.steps, or for a time budget when the
    budget's minutes are spent (by the training clock); times the guide's dip."""
    if step < c.warmup:
        return c.lr * (step + 1) / c.warmup
    done = progress(c, step, train_seconds)
    dip = guide_cooldown_factor(c, done)
    if not c.lr_decays():
        return c.lr * dip
    # a time budget's cosine runs over the whole budget; a step count's over the steps after warm-up
    share = min(1.0, done if c.minutes is not None else (step - c.warmup) / max(1, c.steps - c.warmup))
    return c.lr * 0.5 * (1 + math.cos(math.pi * share)) * dip


def guide_point(c: TrainConfig) -> tuple[float, float]:
    """Where the guide is kept and its cool-down's length, as shares of the whole run: `guide_at` and
    `guide_cooldown` of the part at full resolution (a guide from a curriculum's half-resolution share would never
    have drawn the images it guides)."""
    full = 1 - c.low_res_share
    return c.low_res_share + c.guide_at * full, c.guide_cooldown * full


def guide_cooldown_factor(c: TrainConfig, progress: float) -> float:
    """1, except around the guide: falling linearly to 0 over the cool-down's share of the run before the guide is
    kept (the end of a shorter run, annealed, as autoguidance wants: a warm-up-stable-decay schedule's cool-down,
    Hägele et al. 2024), then back to 1 over REWARM_SHARE."""
    at, cooldown = guide_point(c)
    if not c.keeps_guide() or cooldown <= 0:
        return 1.0
    if progress <= at - cooldown or progress >= at + REWARM_SHARE:
        return 1.0
    if progress < at:
        return (at - progress) / cooldown
    return (progress - at) / REWARM_SHARE


def budget_spent(c: TrainConfig, step: int, train_seconds: float) -> bool:
    """Whether the run has trained its steps or, with a time budget, its minutes."""
    if c.minutes is not None:
        return train_seconds >= 60 * c.minutes
    return step >= c.steps


def progress(c: TrainConfig, step: int, train_seconds: float) -> float:
    """How far the run is, 0 … 1: of its minutes by the training clock, else of its steps."""
    if c.minutes is not None:
        return train_seconds / (60 * c.minutes)
    return step / c.steps


def in_low_res_phase(c: TrainConfig, step: int, train_seconds: float) -> bool:
    """Whether this step belongs to the curriculum's first, half-resolution share of the run."""
    return progress(c, step, train_seconds) < c.low_res_share


def check_budget_left(c: TrainConfig, train_seconds: float) -> None:
    if c.minutes is not None and budget_spent(c, 0, train_seconds):
        raise DiffstudioError(f"this run has trained for {train_seconds / 60:.1f} minutes already, its whole budget "
                              f"of {c.minutes:g}: give it a longer budget to continue")


def steps_at_this_speed(c: TrainConfig, step: int, train_seconds: float, done: int, seconds: float) -> int:
    """With a time budget, the step where the budget should end at this session's speed so far (`done` steps in
    `seconds`, previews and checkpoints included); with a step count, that count."""
    if c.minutes is None or seconds <= 0:
        return c.steps
    left = max(0.0, 60 * c.minutes - train_seconds)
    return max(step, step + round(done / seconds * left))


def warm_up_beyond_budget(c: TrainConfig, done: int, seconds: float) -> DiffstudioError:
    """The error for a time budget that buys fewer steps than the warm-up."""
    minimum = c.warmup * seconds / done / 60 * 2
    return DiffstudioError(f"{c.minutes:g} minutes buy about {c.steps} steps on this machine, fewer than the "
                           f"{c.warmup} steps the learning rate warms up over: give it at least {minimum:.1f} minutes "
                           "(resume the run with a longer budget; nothing is lost)")
