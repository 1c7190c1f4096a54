"""The samplers the panels offer, by label: the SamplerSettings fields each sets (steps, η and the spacing come from
their own controls)."""

SAMPLERS = {
    "DPM-Solver++(2M)": {"kind": "dpm++2m"},
    "DPM-Solver++(3M)": {"kind": "dpm++3m"},
    "DPM-Solver++(2M) SDE": {"kind": "dpm++2m_sde"},
    "DDIM": {"kind": "ddim"},
    "Euler ancestral": {"kind": "euler_a"},
    "Heun (2nd order)": {"kind": "heun"},
    "DDPM, σ² = β̃ (posterior)": {"kind": "ddpm", "variance": "beta_tilde"},
    "DDPM, σ² = β": {"kind": "ddpm", "variance": "beta"},
}
SAMPLER_TIP = ("DPM-Solver++ (Lu et al. 2022): an ODE solver that reuses the last two (2M) or three (3M) model\n"
               "calls; as good in 10–20 calls as DDIM in 25–50. Deterministic.\n"
               "DPM-Solver++(2M) SDE: the same solver on the reverse SDE, with fresh noise at each step (stochastic).\n"
               "DDIM: a shortcut through fewer timesteps; η sets its noise (0: deterministic).\n"
               "Euler ancestral: Euler steps with fresh noise at each (stochastic).\n"
               "Heun: second order, two model calls per step; pays off at 25+ steps.\n"
               "DDPM: Algorithm 2, one model call per timestep (1000).")
SPACINGS = {
    "trailing": "trailing",
    "linspace": "linspace",
    "Karras σ (ρ = 7)": "karras",
}
SPACING_TIP = ("Which timesteps the solvers visit. trailing: the first at T, the rest evenly spaced (Lin et al.\n"
               "2023); linspace: diffusers' DPM-Solver default; Karras σ: dense at low noise (Karras et al. 2022),\n"
               "best at 20+ steps, poor below 10. DDIM keeps its own, evenly spaced from T to 0.")
# what "Compare samplers" sets beside the chosen sampler (the first three that differ from it)
COMPARED = [
    {"kind": "ddim", "steps": 50, "eta": 1.0},
    {"kind": "dpm++2m", "steps": 20, "spacing": "trailing"},
    {"kind": "dpm++2m", "steps": 10, "spacing": "trailing"},
    {"kind": "euler_a", "steps": 30, "spacing": "trailing"},
]


def sampler_caption(fields: dict) -> str:
    """E.g. "DPM-Solver++(2M), 20 steps, trailing" or "DDIM, 50 steps, η = 1"."""
    label = next(label for label, choice in SAMPLERS.items()
                 if all(fields.get(key, "beta_tilde") == value for key, value in choice.items()))
    if fields["kind"] == "ddpm":
        return label
    details = f"η = {fields.get('eta', 1.0):g}" if fields["kind"] == "ddim" else fields.get("spacing", "trailing")
    return f"{label}, {fields['steps']} steps, {details}"
