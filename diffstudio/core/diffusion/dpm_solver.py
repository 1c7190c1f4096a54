"""One step of DPM-Solver++ (Lu et al. 2022), multistep, data prediction: the exact solution of the diffusion
ODE's linear part, with x̂_0 over the step extrapolated from the last one, two or three model calls. The loop is
`dpm_solver_sample`; the coefficients follow diffusers' DPMSolverMultistepScheduler (midpoint for 2M).

In λ_t = ½ log(ᾱ_t / (1 − ᾱ_t)), half the log-SNR, with α_t = √ᾱ_t and σ_t = √(1 − ᾱ_t), and h = λ_t − λ_s:
    x_t = (σ_t/σ_s) x_s − α_t (e^{−h} − 1) D_0 + (higher-order terms in D_1, D_2)  (Lu et al. 2022, eq. 9)
At the clean image (index −1) λ = +∞, e^{−h} = 0 and a first-order step lands on x̂_0 itself.

The SDE variant (Lu et al. 2022, SDE-DPM-Solver++(2M); diffusers' "sde-dpmsolver++") solves the reverse SDE
instead, adding fresh noise z at each step as DDPM and DDIM with η = 1 do:
    x_t = (σ_t/σ_s) e^{−h} x_s + α_t (1 − e^{−2h}) (D_0 + ½ D_1) + σ_t √(1 − e^{−2h}) z
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch

from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.sampling import Generators, SamplerStep, draw_noise, solver_path
from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule, timestep_batch
from diffstudio.core.diffusion.timesteps import Spacing

MAX_ORDER = 3


def half_log_snr(schedule: NoiseSchedule, t: int) -> float:
    """λ_t, +∞ at the clean image (t = −1) and −∞ where ᾱ = 0 (a zero terminal SNR)."""
    a = schedule.alpha_cumprod_at(t)
    if a >= 1:
        return math.inf
    return 0.5 * (math.log(a) - math.log1p(-a)) if a > 0 else -math.inf


def solver_order(step: int, num_steps: int, order: int) -> int:
    """diffusers' rule: build up from first order (no history yet); the last step first order (it lands on x̂_0);
    below 15 steps, the one before at most second order, which keeps few-step runs stable."""
    if step == num_steps - 1:
        return 1
    order = min(order, step + 1)
    return min(order, 2) if num_steps < 15 and step == num_steps - 2 else order


def step_geometry(schedule: NoiseSchedule, timesteps: Sequence[int], order: int, t_next: int
                  ) -> tuple[list[float], float, float, float, float]:
    """λ at the last `order` timesteps visited, h = λ_t − λ_s, and α_t, σ_t, σ_s: what every step needs."""
    lam = [half_log_snr(schedule, t) for t in timesteps[-order:]]
    h = half_log_snr(schedule, t_next) - lam[-1]
    alpha_t, sigma_t = math.sqrt(schedule.alpha_cumprod_at(t_next)), math.sqrt(1 - schedule.alpha_cumprod_at(t_next))
    return lam, h, alpha_t, sigma_t, math.sqrt(1 - schedule.alpha_cumprod_at(timesteps[-1]))


def first_difference(x0_preds: Sequence[torch.Tensor], lam: Sequence[float], h: float) -> torch.Tensor:
    """D_1 of the last two data predictions, scaled to the step: (m_0 − m_1) / r_0 with r_0 = h_0 / h."""
    return (x0_preds[-1] - x0_preds[-2]) / ((lam[-1] - lam[-2]) / h)


def dpm_solver_pp_step(
    schedule: NoiseSchedule, x: torch.Tensor, x0_preds: Sequence[torch.Tensor], timesteps: Sequence[int], t_next: int
) -> torch.Tensor:
    """x at timesteps[−1] → x at t_next, from the data predictions x0_preds made at `timesteps` (oldest first);
    the order is how many are given (1, 2 or 3)."""
    order = len(x0_preds)
    lam, h, alpha_t, sigma_t, sigma_s = step_geometry(schedule, timesteps, order, t_next)
    phi_1 = math.expm1(-h)  # e^{−h} − 1
    x_next = (sigma_t / sigma_s) * x - alpha_t * phi_1 * x0_preds[-1]
    if order == 1:  # DDIM (η = 0) in these variables
        return x_next
    r0 = (lam[-1] - lam[-2]) / h
    d1_0 = first_difference(x0_preds, lam, h)
    if order == 2:  # midpoint: x̂_0 at the step's middle
        return x_next - 0.5 * alpha_t * phi_1 * d1_0
    r1 = (lam[-2] - lam[-3]) / h  # third order
    d1_1 = (x0_preds[-2] - x0_preds[-3]) / r1
    d1 = d1_0 + r0 / (r0 + r1) * (d1_0 - d1_1)
    d2 = (d1_0 - d1_1) / (r0 + r1)
    phi_2 = phi_1 / h + 1.0
    phi_3 = (phi_1 + h) / h**2 - 0.5
    return x_next + alpha_t * phi_2 * d1 - alpha_t * phi_3 * d2


def dpm_solver_pp_sde_step(
    schedule: NoiseSchedule, x: torch.Tensor, x0_preds: Sequence[torch.Tensor], timesteps: Sequence[int], t_next: int,
    noise: torch.Tensor | None,
) -> torch.Tensor:
    """SDE-DPM-Solver++, first or second order (midpoint) as len(x0_preds) says: x at timesteps[−1] → x at t_next
    with `noise` (None on the last step, where σ_t = 0)."""
    lam, h, alpha_t, sigma_t, sigma_s = step_geometry(schedule, timesteps, len(x0_preds), t_next)
    fresh = -math.expm1(-2 * h)  # 1 − e^{−2h}: the share of the step's variance that is new noise
    x0_term = x0_preds[-1]
    if len(x0_preds) == 2:
        x0_term = x0_term + 0.5 * first_difference(x0_preds, lam, h)  # D_0 + ½ D_1
    x_next = (sigma_t / sigma_s) * math.exp(-h) * x + alpha_t * fresh * x0_term
    return x_next if noise is None or sigma_t == 0 else x_next + sigma_t * math.sqrt(fresh) * noise


def dpm_solver_sample(
    model: EpsModel,
    schedule: NoiseSchedule,
    x: torch.Tensor,
    num_steps: int = 20,
    order: int = 2,
    spacing: Spacing = "trailing",
    start_t: int | None = None,
    clip: bool = True,
    generator: Generators | None = None,
    shared_noise: bool = False,
) -> Iterator[SamplerStep]:
    """DPM-Solver++(2M or 3M) from x at index start_t (default T−1) to x_0 in num_steps model calls; deterministic,
    or with a generator the SDE variant (second order at most), which draws fresh noise at every step but the
    last."""
    path = solver_path(schedule, start_t, num_steps, spacing)
    visited, x0_preds = [t for t, _ in path], []
    for i, (t, t_next) in enumerate(path):
        x0_pred, _ = schedule.denoise(x, t, model(x, timestep_batch(t, x)), clip)
        x0_preds = [*x0_preds, x0_pred][-order:]
        step_order = solver_order(i, len(path), order)
        if generator is None:
            x = dpm_solver_pp_step(schedule, x, x0_preds[-step_order:], visited[: i + 1], t_next)
        else:
            noise = draw_noise(x, generator, shared_noise) if t_next >= 0 else None
            x = dpm_solver_pp_sde_step(schedule, x, x0_preds[-step_order:], visited[: i + 1], t_next, noise)
        yield SamplerStep(t, x, x0_pred)



def sample(
    model: EpsModel, schedule: NoiseSchedule, x: torch.Tensor, generator: Generators, settings: SamplerSettings,
    start_t: int | None, shared_noise: bool,
) -> Iterator[SamplerStep]:
    """`run_sampler`'s entry: the loop with the settings' parameters."""
    stochastic = settings.spec.noise == "always"  # the SDE variant
    return dpm_solver_sample(model, schedule, x, settings.steps, settings.spec.order, settings.spacing, start_t,
                             settings.clip, generator if stochastic else None, shared_noise)
