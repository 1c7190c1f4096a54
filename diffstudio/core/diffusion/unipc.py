"""UniPC (Zhao et al. 2023), multistep, data prediction, B(h) = e^h − 1 ("bh2"): a predictor (UniP) of DPM-Solver++'s
form, and a corrector (UniC) that refines each new x with the model call made there, so it costs no call of its
own. The coefficients follow diffusers' UniPCMultistepScheduler; the loop is `unipc_sample`.

In λ = ½ log(ᾱ/(1 − ᾱ)) with α = √ᾱ, σ = √(1 − ᾱ), h = λ_t − λ_s and r_k = (λ_{s_k} − λ_s)/h for earlier
visited timesteps s_k, both steps are
    x_t = (σ_t/σ_s) x_s − α_t (e^{−h} − 1) m_0 − α_t B(h) Σ_k ρ_k D_k,    D_k = (m_k − m_0)/r_k
with the ρ_k solving Zhao et al.'s eq. 9 (R ρ = b, R_ik = r_k^{i−1}); UniC adds D = m_t − m_0, the data prediction
at the point just reached.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from diffstudio.core.diffusion.dpm_solver import step_geometry
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.sampling import Generators, SamplerStep, solver_path
from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule, timestep_batch
from diffstudio.core.diffusion.timesteps import Spacing


def bh2_system(h: float, ratios: Sequence[float], order: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """R (R_ik = r_k^{i−1}, the last r being 1), b (φ-functions of −h over B(h)), h φ_1(−h) = e^{−h} − 1, and B(h)."""
    hh = -h
    h_phi_1 = math.expm1(hh)
    b_h = h_phi_1  # bh2
    h_phi_k, factorial = h_phi_1 / hh - 1, 1
    rows, b = [], []
    for i in range(1, order + 1):
        rows.append([r ** (i - 1) for r in ratios])
        b.append(h_phi_k * factorial / b_h)
        factorial *= i + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    return np.array(rows, dtype=np.float64), np.array(b, dtype=np.float64), h_phi_1, b_h


def unipc_update(schedule: NoiseSchedule, x: torch.Tensor, x0_preds: Sequence[torch.Tensor], timesteps: Sequence[int],
                 t_next: int, new_x0: torch.Tensor | None = None) -> torch.Tensor:
    """x at timesteps[−1] → x at t_next from the data predictions x0_preds made at `timesteps` (oldest first; their
    count is the order). With `new_x0`, the prediction made at t_next itself, this is the corrector UniC: x is then
    the sample before the predictor's step, and the result the corrected sample at t_next."""
    order = len(x0_preds)
    lam, h, alpha_t, sigma_t, sigma_s = step_geometry(schedule, timesteps, order, t_next)
    m0 = x0_preds[-1]
    ratios = [(lam[-1 - k] - lam[-1]) / h for k in range(1, order)] + [1.0]
    differences = [(x0_preds[-1 - k] - m0) / ratios[k - 1] for k in range(1, order)]
    rows, b, h_phi_1, b_h = bh2_system(h, ratios, order)
    x_next = (sigma_t / sigma_s) * x - alpha_t * h_phi_1 * m0
    if new_x0 is None:  # UniP: second order takes ρ = ½
        if order == 1:
            return x_next
        rhos = [0.5] if order == 2 else np.linalg.solve(rows[:-1, :-1], b[:-1]).tolist()
        return x_next - alpha_t * b_h * sum(rho * d for rho, d in zip(rhos, differences, strict=True))
    rhos = [0.5] if order == 1 else np.linalg.solve(rows, b).tolist()  # UniC
    correction = sum((rho * d for rho, d in zip(rhos[:-1], differences, strict=True)), torch.zeros_like(m0))
    return x_next - alpha_t * b_h * (correction + rhos[-1] * (new_x0 - m0))


def unipc_sample(
    model: EpsModel,
    schedule: NoiseSchedule,
    x: torch.Tensor,
    num_steps: int = 20,
    order: int = 2,
    spacing: Spacing = "trailing",
    start_t: int | None = None,
    clip: bool = True,
) -> Iterator[SamplerStep]:
    """UniPC from x at index start_t (default T−1) to x_0 in num_steps model calls, deterministic. Each call first
    corrects the x it was made at (from the second step on), then predicts the next; the order builds up from one
    and falls back to one on the last step, as diffusers' lower_order_final."""
    path = solver_path(schedule, start_t, num_steps, spacing)
    visited, x0_preds = [t for t, _ in path], []
    before, before_order = x, 0  # the sample before the last predictor step, and that step's order
    for i, (t, t_next) in enumerate(path):
        x0_pred, _ = schedule.denoise(x, t, model(x, timestep_batch(t, x)), clip)
        if i > 0:
            x = unipc_update(schedule, before, x0_preds[-before_order:], visited[:i], t, new_x0=x0_pred)
        x0_preds = [*x0_preds, x0_pred][-order:]
        step_order = min(order, i + 1, len(path) - i)
        before, before_order = x, step_order
        x = unipc_update(schedule, x, x0_preds[-step_order:], visited[: i + 1], t_next)
        yield SamplerStep(t, x, x0_pred)


def sample(
    model: EpsModel, schedule: NoiseSchedule, x: torch.Tensor, generator: Generators, settings: SamplerSettings,
    start_t: int | None, shared_noise: bool,
) -> Iterator[SamplerStep]:
    """`run_sampler`'s entry: the loop with the settings' parameters."""
    return unipc_sample(model, schedule, x, settings.steps, settings.spec.order, settings.spacing, start_t,
                        settings.clip)
