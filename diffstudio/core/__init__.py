"""Pure PyTorch/numpy diffusion code. Never imports Qt."""
