"""How to sample: the settings the CLI and the GUI offer, with the app's defaults (torch-free, for the GUI)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from diffstudio.core.errors import DiffstudioError

Variance = Literal["beta", "beta_tilde"]  # σ_t² = β_t, or σ_t² = β̃_t (eq. 7); the paper found both similar
SamplerKind = Literal["ddpm", "ddim"]


@dataclass(frozen=True)
class SamplerSettings:
    kind: SamplerKind = "ddim"
    steps: int = 50  # DDIM's model calls; DDPM always takes one step per timestep
    # DDIM's noise: 0 deterministic, 1 as much as DDPM's β̃. 1 by default: with a model trained for minutes, the
    # noise corrects what earlier steps got wrong, while η = 0 keeps it (a grey haze on black; benchmarks/README.md)
    eta: float = 1.0
    variance: Variance = "beta_tilde"  # DDPM's σ_t²
    clip: bool = True  # clip x̂_0 to [−1, 1] inside each step

    def validate(self) -> None:
        if self.kind not in ("ddpm", "ddim"):
            raise DiffstudioError(f"unknown sampler {self.kind!r}: use ddpm or ddim")
        if self.steps < 1:
            raise DiffstudioError(f"the number of DDIM steps must be at least 1, got {self.steps}")
        if not 0.0 <= self.eta <= 1.0:
            raise DiffstudioError(f"η must be between 0 and 1, got {self.eta}")
        if self.variance not in ("beta", "beta_tilde"):
            raise DiffstudioError(f"unknown DDPM variance {self.variance!r}: use beta or beta_tilde")

    def timesteps(self, start_t: int) -> list[int]:
        """The timestep indices denoised, in order, from start_t."""
        return list(range(start_t, -1, -1)) if self.kind == "ddpm" else ddim_timesteps(start_t, self.steps)

    def num_model_calls(self, start_t: int) -> int:
        return len(self.timesteps(start_t))

    def variation(self, from_index: int, num_timesteps: int) -> tuple[SamplerSettings, int]:
        """How "vary from here" (Fig. 7) finishes a run of these settings from its step `from_index`: the
        finishing settings and the timestep index they start at. The rest of a DDIM run's steps, with η = 1
        where the run was deterministic (η = 0 would finish every copy alike)."""
        timesteps = self.timesteps(num_timesteps - 1)
        if not 1 <= from_index < len(timesteps):
            raise DiffstudioError(f"vary from a step between 1 and {len(timesteps) - 1}: at step {len(timesteps)} "
                                  "the images are final")
        finish = self if self.kind == "ddpm" else replace(self, steps=len(timesteps) - from_index,
                                                           eta=self.eta or 1.0)
        return finish, timesteps[from_index]  # x stands at timesteps[from_index] after from_index steps


def ddim_timesteps(start_t: int, num_steps: int) -> list[int]:
    """`num_steps` timestep indices evenly spaced from start_t down to 0, both included."""
    num_steps = max(1, min(num_steps, start_t + 1))
    if num_steps == 1:
        return [start_t]
    return [round(start_t - i * start_t / (num_steps - 1)) for i in range(num_steps)]
