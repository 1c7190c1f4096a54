"""Every sampler the app offers, declared once (torch-free): its name on the command line and in the GUI, what it
is, its default steps and which settings apply to it. `run_sampler`, `SamplerSettings`, the CLI's flags and help,
and the GUI's sampler controls all read this table.

Adding a sampler is two steps: a step file beside this one (its step math, and a `sample` loop taking
`SamplerSettings`, as heun.py's), and its entry here naming that module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Noise = Literal["never", "always", "eta"]  # whether a run draws noise along the way; "eta": DDIM's, when η > 0


@dataclass(frozen=True)
class SamplerSpec:
    kind: str  # the name on the command line and in stored settings
    label: str  # the name in the GUI
    help: str  # what it is, in a sentence: the CLI's help and the GUI's tooltip
    module: str  # the step file under core/diffusion/ whose `sample` runs it
    default_steps: int
    noise: Noise
    order: int = 1  # of the solver (DPM-Solver++'s multistep history)
    calls_per_step: int = 1  # network evaluations per step (Heun: two, but one on its last step)
    uses_steps: bool = True  # False: one step per timestep (DDPM)
    uses_spacing: bool = True  # the solvers' timestep spacing (timesteps.py); False: DDIM's own, evenly from T
    taught_spacing: bool = False  # always the spacing distilled students are taught at (trailing), whatever is set
    uses_eta: bool = False  # DDIM's η
    default_eta: float | None = None  # the η it takes unless one is set; None: the setting's (SamplerSettings.eta)
    uses_variance: bool = False  # DDPM's σ_t²


SAMPLER_SPECS = (
    SamplerSpec("dpm++2m", "DPM-Solver++(2M)", "DPM-Solver++ (Lu et al. 2022), an ODE solver that reuses the last "
                "two model calls: as good in 10–20 calls as DDIM in 25–50. Deterministic", "dpm_solver", 20,
                "never", order=2),
    SamplerSpec("dpm++3m", "DPM-Solver++(3M)", "the same, third order: reuses the last three model calls",
                "dpm_solver", 20, "never", order=3),
    SamplerSpec("unipc", "UniPC", "UniPC (Zhao et al. 2023), a predictor-corrector ODE solver: DPM-Solver++'s "
                "step, corrected with each new model call at no extra call (bh2, second order). Deterministic",
                "unipc", 20, "never", order=2),
    SamplerSpec("dpm++2m_sde", "DPM-Solver++(2M) SDE", "DPM-Solver++(2M) on the reverse SDE, with fresh noise at "
                "each step (stochastic)", "dpm_solver", 20, "always", order=2),
    SamplerSpec("ddim", "DDIM", "a shortcut through fewer timesteps (Song et al. 2021); η sets its noise "
                "(0: deterministic)", "ddim", 20, "eta", uses_spacing=False, uses_eta=True),
    SamplerSpec("euler_a", "Euler ancestral", "Euler steps with fresh noise at each (stochastic)", "euler_ancestral",
                30, "always"),
    SamplerSpec("heun", "Heun (2nd order)", "second order, two model calls per step but the last; pays off at "
                "25+ steps. Deterministic", "heun", 10, "never", order=2, calls_per_step=2),
    # η = 0 unless set: a 4-step student's FD half η = 1's on Fashion-MNIST (14.6 against 28.5) and on colourful
    # emoji (12.4 against 24.4, all categories against 7 of 9), 1.5–7 points behind on flat shapes at 4 steps
    # (benchmarks/README.md, "A student of colourful images, and its η")
    SamplerSpec("distilled", "Distilled student", "DDIM through the timesteps a distilled student was taught at "
                "(`diffstudio distill`): for students, at their own steps; η 0 (its default) follows what it "
                "learned", "distilled", 4, "eta", uses_spacing=False, uses_eta=True, taught_spacing=True,
                default_eta=0.0),
    SamplerSpec("consistency", "Consistency student", "a consistency-distilled student's multistep sampling (Song "
                "et al. 2023): x̂₀, fresh noise to the next timestep it was taught on, x̂₀ again",
                "consistency", 2, "always", uses_spacing=False, taught_spacing=True),
    SamplerSpec("ddpm", "DDPM", "Algorithm 2 of Ho et al. (2020), one model call per timestep (1000)", "ddpm", 1000,
                "always", uses_steps=False, uses_spacing=False, uses_variance=True),
)
SAMPLERS: dict[str, SamplerSpec] = {spec.kind: spec for spec in SAMPLER_SPECS}

# The default, SDE-DPM-Solver++(2M) at 20 steps: stochastic, which models trained for minutes need on flat shapes on
# black (30 minutes: 97.7 % good, DDIM η = 1 94.9 %, deterministic DPM-Solver++ 87.5 %), and second order, which
# colourful images need (emoji: FD 11.1 against DDIM η = 1's 20.9; benchmarks/README.md, issue 33)
DEFAULT_KIND = "dpm++2m_sde"
