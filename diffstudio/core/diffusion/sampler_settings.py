"""How to sample: the settings the CLI and the GUI offer, with the app's defaults (torch-free, for the GUI)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from diffstudio.core.choices import SAMPLERS, SPACINGS
from diffstudio.core.diffusion.timesteps import Spacing, ddim_timesteps, solver_timesteps, usable_steps
from diffstudio.core.errors import DiffstudioError

Variance = Literal["beta", "beta_tilde"]  # σ_t² = β_t, or σ_t² = β̃_t (eq. 7); the paper found both similar
SamplerKind = Literal["ddpm", "ddim", "dpm++2m", "dpm++3m", "dpm++2m_sde", "euler_a", "heun"]  # choices.SAMPLERS
SOLVER_ORDER = {"dpm++2m": 2, "dpm++3m": 3, "dpm++2m_sde": 2}
SDE_SOLVERS = ("dpm++2m_sde",)  # DPM-Solver++ on the reverse SDE: fresh noise at every step
# The default, SDE-DPM-Solver++(2M) at 20 steps: stochastic, which models trained for minutes need on flat shapes on
# black (30 minutes: 97.7 % good, DDIM η = 1 94.9 %, deterministic DPM-Solver++ 87.5 %), and second order, which
# colourful images need (emoji: FD 11.1 against DDIM η = 1's 20.9; benchmarks/README.md, issue 33)
DEFAULT_STEPS: dict[SamplerKind, int] = {"ddpm": 1000, "ddim": 20, "dpm++2m": 20, "dpm++3m": 20, "dpm++2m_sde": 20,
                                         "euler_a": 30, "heun": 10}
DEFAULT_KIND: SamplerKind = "dpm++2m_sde"


@dataclass(frozen=True)
class SamplerSettings:
    kind: SamplerKind = DEFAULT_KIND
    steps: int = DEFAULT_STEPS[DEFAULT_KIND]  # reverse steps; DDPM takes one per timestep, Heun calls the model twice
    # DDIM's noise: 0 deterministic, 1 as much as DDPM's β̃. 1 by default: with a model trained for minutes, the
    # noise corrects what earlier steps got wrong, while η = 0 keeps it (a grey haze on black; benchmarks/README.md)
    eta: float = 1.0
    variance: Variance = "beta_tilde"  # DDPM's σ_t²
    clip: bool = True  # clip x̂_0 to [−1, 1] inside each step
    spacing: Spacing = "trailing"  # the timesteps of DPM-Solver++, Euler ancestral and Heun (timesteps.py)

    def validate(self) -> None:
        if self.kind not in SAMPLERS:
            raise DiffstudioError(f"unknown sampler {self.kind!r}: use one of {', '.join(SAMPLERS)}")
        if self.steps < 1:
            raise DiffstudioError(f"the number of sampler steps must be at least 1, got {self.steps}")
        if not 0.0 <= self.eta <= 1.0:
            raise DiffstudioError(f"η must be between 0 and 1, got {self.eta}")
        if self.variance not in ("beta", "beta_tilde"):
            raise DiffstudioError(f"unknown DDPM variance {self.variance!r}: use beta or beta_tilde")
        if self.spacing not in SPACINGS:
            raise DiffstudioError(f"unknown timestep spacing {self.spacing!r}: use one of {', '.join(SPACINGS)}")

    @property
    def stochastic(self) -> bool:
        """Whether the sampler draws noise along the way (so one x_t has many outcomes)."""
        return self.kind in ("ddpm", "euler_a", *SDE_SOLVERS) or (self.kind == "ddim" and self.eta > 0)

    def timesteps(self, start_t: int, alphas_cumprod: Sequence[float]) -> list[int]:
        """The timestep indices denoised, in order, from start_t (the "karras" spacing needs the schedule's ᾱ)."""
        if self.kind == "ddpm":
            return list(range(start_t, -1, -1))
        if self.kind == "ddim":
            return ddim_timesteps(start_t, self.steps)
        return solver_timesteps(start_t, self.steps, self.spacing, alphas_cumprod)

    def num_steps(self, start_t: int) -> int:
        """How many steps a run from start_t yields (the length of `timesteps`)."""
        return start_t + 1 if self.kind == "ddpm" else usable_steps(start_t, self.steps)

    def num_model_calls(self, start_t: int, from_infinite_sigma: bool = False) -> int:
        """The network evaluations of a run from start_t: one per step, Heun two but on its last step, and on its
        first where that starts from σ = ∞ (ᾱ = 0 at start_t, a zero terminal SNR: an Euler step, heun.py)."""
        steps = self.num_steps(start_t)
        if self.kind != "heun":
            return steps
        return 2 * steps - 1 - (1 if from_infinite_sigma and steps > 1 else 0)

    def variation(self, from_index: int, alphas_cumprod: Sequence[float]) -> tuple[SamplerSettings, int]:
        """How "vary from here" (Fig. 7) finishes a run of these settings from its step `from_index`: the
        finishing settings and the timestep index they start at. The rest of the run's steps, by the same sampler
        if it draws noise, else by DDIM with η = 1 (a deterministic one would finish every copy alike)."""
        timesteps = self.timesteps(len(alphas_cumprod) - 1, alphas_cumprod)
        if not 1 <= from_index < len(timesteps):
            raise DiffstudioError(f"vary from a step between 1 and {len(timesteps) - 1}: at step {len(timesteps)} "
                                  "the images are final")
        remaining = len(timesteps) - from_index
        if self.kind == "ddpm":
            finish = self
        elif self.stochastic:
            finish = replace(self, steps=remaining)
        else:
            finish = replace(self, kind="ddim", steps=remaining, eta=1.0)
        return finish, timesteps[from_index]  # x stands at timesteps[from_index] after from_index steps
