"""How to sample: the settings the CLI and the GUI offer, with the app's defaults (torch-free, for the GUI)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from diffstudio.core.choices import SPACINGS
from diffstudio.core.diffusion.sampler_registry import DEFAULT_KIND, SAMPLERS, SamplerSpec
from diffstudio.core.diffusion.timesteps import (
    Spacing,
    ddim_timesteps,
    solver_timesteps,
    taught_timesteps,
    usable_steps,
)
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.settings import MAX_TIMESTEPS, check_declared, setting

Variance = Literal["beta", "beta_tilde"]  # σ_t² = β_t, or σ_t² = β̃_t (eq. 7); the paper found both similar
VARIANCE_LABELS = {"beta_tilde": "σ² = β̃ (posterior)", "beta": "σ² = β"}
# what "compare samplers" (the Sample panel's button, `diffstudio compare`) draws beside the chosen sampler
COMPARED = [
    {"kind": "ddim", "steps": 50, "eta": 1.0},
    {"kind": "dpm++2m", "steps": 20, "spacing": "trailing"},
    {"kind": "dpm++2m", "steps": 10, "spacing": "trailing"},
    {"kind": "euler_a", "steps": 30, "spacing": "trailing"},
]
MAX_COMPARED = 4
# Autoguidance's w where a run has a guide (colour folders: TrainConfig.guide): after 30 minutes on emoji at 32 px,
# with the guide's cool-down, it brought the Fréchet distance from 3.9× the real-vs-real floor to 2.4× at 1.5 and
# 1.6× at 2 (2.5: 1.7×); at 64 px after 120 minutes 5.2× at 1.5, 3.8× at 2 (benchmarks/README.md, "The guide")
DEFAULT_AUTOGUIDANCE = 2.0


def network_calls(has_guide: bool, autoguidance: float) -> int:
    """The network evaluations behind each model call: two where the run's guide is used (autoguidance w ≠ 1)."""
    return 2 if has_guide and autoguidance != 1 else 1


def default_steps_text() -> str:
    return "per sampler: " + ", ".join(f"{kind} {spec.default_steps}" for kind, spec in SAMPLERS.items()
                                       if spec.uses_steps)


@dataclass(frozen=True)
class SamplerSettings:
    kind: str = setting(DEFAULT_KIND, "; ".join(f"{kind}: {spec.help}" for kind, spec in SAMPLERS.items()),
                        flag="--sampler", choices=tuple(SAMPLERS), label="Sampler",
                        default_text=f"{DEFAULT_KIND}; for a distilled student, distilled at its steps")
    # reverse steps; DDPM takes one per timestep, Heun calls the model twice
    steps: int = setting(SAMPLERS[DEFAULT_KIND].default_steps, "sampler steps, at most the model's T (more are "
                         "taken as T); also the steps of DDIM inversion", flag="--sampler-steps", minimum=1,
                         maximum=MAX_TIMESTEPS, default_text=default_steps_text())
    # DDIM's noise: 0 deterministic, 1 as much as DDPM's β̃. 1 by default: with a model trained for minutes, the
    # noise corrects what earlier steps got wrong, while η = 0 keeps it (shapes after 30 minutes on a slow CPU, 20
    # steps: 97 % pass against 79 %; benchmarks/README.md, "The haze was DDIM's clip")
    eta: float = setting(1.0, "DDIM η: 0 deterministic … 1 DDPM-like noise (it cleans up what a briefly trained "
                              "model gets wrong)", minimum=0.0, maximum=1.0, step=0.1, label="η",
                         default_text="1; for a distilled student, 0")
    variance: Variance = setting("beta_tilde", "DDPM σ_t²: β_t or the posterior β̃_t", choices=tuple(VARIANCE_LABELS))
    clip: bool = setting(True, "clip x̂_0 to [−1, 1] inside each step")
    spacing: Spacing = setting("trailing", "the timesteps of dpm++/euler_a/heun: trailing (from T, evenly), "
                                           "linspace (diffusers' DPM-Solver default) or karras (Karras σ, ρ = 7; "
                                           "best at 20+ steps)", choices=SPACINGS)
    autoguidance: float = setting(DEFAULT_AUTOGUIDANCE, "autoguidance w (Karras et al. 2024): push each step but "
                                  "the last (σ < 0.28) away from the run's early weights, kept as its guide; 1: off. "
                                  "Sharper shapes from a briefly trained model, at twice the model calls; runs without "
                                  "a guide ignore it",
                                  minimum=1.0, maximum=4.0, step=0.1, label="Autoguidance")

    def validate(self) -> None:
        check_declared(self)

    @property
    def spec(self) -> SamplerSpec:
        return SAMPLERS[self.kind]

    @property
    def stochastic(self) -> bool:
        """Whether the sampler draws noise along the way (so one x_t has many outcomes)."""
        return self.spec.noise == "always" or (self.spec.noise == "eta" and self.eta > 0)

    def timesteps(self, start_t: int, alphas_cumprod: Sequence[float]) -> list[int]:
        """The timestep indices denoised, in order, from start_t (the "karras" spacing needs the schedule's ᾱ, a
        distilled student the schedule's length)."""
        if not self.spec.uses_steps:
            return list(range(start_t, -1, -1))
        if self.spec.taught_spacing:
            return taught_timesteps(start_t, self.steps, len(alphas_cumprod) or start_t + 1)
        if not self.spec.uses_spacing:
            return ddim_timesteps(start_t, self.steps)
        return solver_timesteps(start_t, self.steps, self.spacing, alphas_cumprod)

    def num_steps(self, start_t: int, num_timesteps: int | None = None) -> int:
        """How many steps a run from start_t yields (the length of `timesteps`) on a schedule of num_timesteps
        (None: start_t + 1, a run from the top)."""
        if self.spec.taught_spacing:
            return len(taught_timesteps(start_t, self.steps, num_timesteps or start_t + 1))
        return usable_steps(start_t, self.steps) if self.spec.uses_steps else start_t + 1

    def num_model_calls(self, start_t: int, from_infinite_sigma: bool = False, num_timesteps: int | None = None
                        ) -> int:
        """The network evaluations of a run from start_t: one per step; Heun two but on its last step, and on its
        first where that starts from σ = ∞ (ᾱ = 0 at start_t, a zero terminal SNR: an Euler step, heun.py)."""
        steps = self.num_steps(start_t, num_timesteps)
        if self.spec.calls_per_step == 1:
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
        if not self.spec.uses_steps:
            finish = self
        elif self.spec.taught_spacing:  # a student goes on through the timesteps it was taught
            finish = self if self.stochastic else replace(self, eta=1.0)
        elif self.stochastic:
            finish = replace(self, steps=remaining)
        else:
            finish = replace(self, kind="ddim", steps=remaining, eta=1.0)
        return finish, timesteps[from_index]  # x stands at timesteps[from_index] after from_index steps


def default_eta(kind: str) -> float:
    """The η a run of sampler `kind` takes unless one is set: the sampler's own (a distilled student's), else the
    setting's."""
    own = SAMPLERS[kind].default_eta
    return SamplerSettings.eta if own is None else own


def samplers_to_compare(chosen: dict) -> list[dict]:
    """The chosen sampler's fields first, then the usual references (COMPARED) that differ from it."""
    same = {key: chosen.get(key) for key in ("kind", "steps")}
    others = [fields for fields in COMPARED if {key: fields.get(key) for key in same} != same]
    return [chosen, *others][:MAX_COMPARED]
