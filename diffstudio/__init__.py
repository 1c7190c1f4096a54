"""diffstudio: train and explore denoising diffusion models (DDPM) on your own images."""

__version__ = "0.1.0"
