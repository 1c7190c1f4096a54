"""The diffusion itself: the noise schedule, the samplers (each a generator of steps), interpolation at a noise
level and the forward-process view. Torch, except sampler_settings and timesteps (read by the GUI thread)."""
