"""Which timestep indices a sampler visits, from start_t down; after the last one every sampler steps to the clean
image (ᾱ = 1, index −1). Torch-free: the GUI counts model calls with it.

The solvers' spacings are diffusers' (Lin et al. 2023, Table 2, name them): "trailing" starts exactly at start_t
and spaces the rest evenly, the choice Lin et al. argue for; "linspace" is DPMSolverMultistepScheduler's default;
"karras" spaces σ = √((1 − ᾱ)/ᾱ) as Karras et al. (2022, eq. 5) do, ρ = 7, rounded to the nearest trained
timestep (diffusers keeps the fractional ones, which our models are not trained on). diffusers' "leading" is left
out: it never starts at T − 1, the flaw Lin et al. point at. DDIM keeps its own spacing (both ends included);
the multistep solvers were much worse with it (benchmarks/README.md), as λ's steps grow without bound near t = 0.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Literal

from diffstudio.core.choices import SPACINGS

Spacing = Literal["trailing", "linspace", "karras"]  # choices.SPACINGS
KARRAS_RHO = 7.0


def ddim_timesteps(start_t: int, num_steps: int) -> list[int]:
    """`num_steps` timestep indices evenly spaced from start_t down to 0, both included (DDIM's, as before)."""
    num_steps = usable_steps(start_t, num_steps)
    if num_steps == 1:
        return [start_t]
    return [round(start_t - i * start_t / (num_steps - 1)) for i in range(num_steps)]


def usable_steps(start_t: int, num_steps: int) -> int:
    """At least one step and at most one per timestep."""
    return max(1, min(num_steps, start_t + 1))


def solver_timesteps(start_t: int, num_steps: int, spacing: Spacing, alphas_cumprod: Sequence[float]) -> list[int]:
    """`num_steps` strictly decreasing indices, the first at (or, for "linspace", near) start_t."""
    n = usable_steps(start_t, num_steps)
    length = start_t + 1  # the part of the schedule in use; diffusers' num_train_timesteps from T − 1
    if spacing == "trailing":  # np.arange(T, 0, −T/n).round() − 1
        raw = [round(length - k * (length / n)) - 1 for k in range(n)]
    elif spacing == "linspace":  # np.linspace(0, T − 1, n + 1).round()[::-1][:-1]
        raw = [start_t if k == n else round(k * (start_t / n)) for k in range(n, 0, -1)]
    elif spacing == "karras":
        raw = karras_timesteps(start_t, n, alphas_cumprod)
    else:
        raise ValueError(f"unknown timestep spacing {spacing!r}: use one of {', '.join(SPACINGS)}")
    return strictly_decreasing(raw, start_t)


def taught_timesteps(start_t: int, num_steps: int, num_timesteps: int) -> list[int]:
    """A distilled student's timesteps from start_t: start_t, then those it was taught at (trailing from T − 1,
    `num_steps` of them) below it. Off its grid a student decodes badly (shapes, 4-step student, from t = 400: 0 %
    pass on trailing steps of [0, t] against 73 % on its own; benchmarks/README.md, "A student from partial noise").
    A taught timestep less than half a step below start_t is passed over: so short a step would waste a call."""
    taught = solver_timesteps(num_timesteps - 1, num_steps, "trailing", ())
    half_step = num_timesteps / usable_steps(num_timesteps - 1, num_steps) / 2
    return [start_t, *(t for t in taught if t < start_t - half_step)]


def karras_timesteps(start_t: int, n: int, alphas_cumprod: Sequence[float]) -> list[int]:
    """σ_i = (σ_max^{1/ρ} + i/(n−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ (Karras et al. eq. 5), σ_max = σ(start_t),
    σ_min = σ(0), each mapped to the timestep whose log σ is nearest."""
    log_sigmas = [0.5 * (math.log1p(-a) - math.log(a)) if a > 0 else math.inf for a in alphas_cumprod[: start_t + 1]]
    if n == 1 or not math.isfinite(log_sigmas[-1]):  # ᾱ = 0 (zero terminal SNR): start there, Karras below it
        rest = karras_timesteps(start_t - 1, n - 1, alphas_cumprod) if n > 1 else []
        return [start_t, *rest]
    top, bottom = math.exp(log_sigmas[-1] / KARRAS_RHO), math.exp(log_sigmas[0] / KARRAS_RHO)
    sigmas = [(top + i / (n - 1) * (bottom - top)) ** KARRAS_RHO for i in range(n)]
    return [nearest_index(log_sigmas, math.log(sigma)) for sigma in sigmas]


def nearest_index(ascending: Sequence[float], value: float) -> int:
    i = bisect.bisect_left(ascending, value)
    if i == 0 or i == len(ascending):
        return min(i, len(ascending) - 1)
    return i if ascending[i] - value < value - ascending[i - 1] else i - 1


def strictly_decreasing(timesteps: list[int], top: int) -> list[int]:
    """Rounding can repeat a timestep; move repeats up so each model call denoises a new level, then down where that
    passed `top` (one step per timestep leaves no room above)."""
    out = list(timesteps)
    out[-1] = max(out[-1], 0)
    for i in range(len(out) - 2, -1, -1):
        out[i] = max(out[i], out[i + 1] + 1)
    out[0] = min(out[0], top)
    for i in range(1, len(out)):
        out[i] = min(out[i], out[i - 1] - 1)
    return out
