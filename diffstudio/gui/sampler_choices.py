"""The samplers the panels offer, by label: the SamplerSettings fields each sets (steps, η and the spacing come from
their own controls), from the sampler registry; DDPM once per variance."""

from diffstudio.core.diffusion.sampler_registry import SAMPLER_SPECS
from diffstudio.core.diffusion.sampler_registry import SAMPLERS as SPECS
from diffstudio.core.diffusion.sampler_settings import VARIANCE_LABELS

SAMPLERS = {
    label: fields
    for spec in SAMPLER_SPECS
    for label, fields in (
        [(f"{spec.label}, {text}", {"kind": spec.kind, "variance": v}) for v, text in VARIANCE_LABELS.items()]
        if spec.uses_variance else [(spec.label, {"kind": spec.kind})])
}
SAMPLER_TIP = "\n".join(f"{spec.label}: {spec.help}." for spec in SAMPLER_SPECS)
SPACINGS = {
    "trailing": "trailing",
    "linspace": "linspace",
    "Karras σ (ρ = 7)": "karras",
}
SPACING_TIP = ("Which timesteps the solvers visit. trailing: the first at T, the rest evenly spaced (Lin et al.\n"
               "2023); linspace: diffusers' DPM-Solver default; Karras σ: dense at low noise (Karras et al. 2022),\n"
               "best at 20+ steps, poor below 10. DDIM keeps its own, evenly spaced from T to 0.")
def sampler_caption(fields: dict) -> str:
    """E.g. "DPM-Solver++(2M), 20 steps, trailing" or "DDIM, 50 steps, η = 1"."""
    label = next(label for label, choice in SAMPLERS.items()
                 if all(fields.get(key, "beta_tilde") == value for key, value in choice.items()))
    spec = SPECS[fields["kind"]]
    if not spec.uses_steps:
        return label
    details = f"η = {fields.get('eta', 1.0):g}" if spec.uses_eta else fields.get("spacing", "trailing")
    return f"{label}, {fields['steps']} steps, {details}"
