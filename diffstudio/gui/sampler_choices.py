"""The samplers the Sample and Interpolate panels offer, by label: the SamplerSettings fields each sets (steps
and η come from their own fields)."""

SAMPLERS = {
    "DDIM": {"kind": "ddim"},
    "DDPM, σ² = β̃ (posterior)": {"kind": "ddpm", "variance": "beta_tilde"},
    "DDPM, σ² = β": {"kind": "ddpm", "variance": "beta"},
}
SAMPLER_TIP = ("DDPM: Algorithm 2, one model call per timestep (1000).\n"
               "DDIM: a shortcut through fewer timesteps; η sets its noise (0: deterministic).")
