"""Interpolation at a noise level (Ho et al. 2020, section 4.3 and Fig. 8).

Encode two images to x_t, mix the latents at λ, decode the mix with the reverse
process. At t = 0 this is a pixel blend; at t = T the sources are forgotten and
the results are unrelated samples.

`noise_steps` counts diffusion steps as the paper's t does (0 … T): that many steps
of noise end at timestep index noise_steps − 1 (the 0 … T−1 index used everywhere else).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Literal

import torch

from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.samplers import ddim_invert, run_sampler
from diffstudio.core.diffusion.sampling import SamplerStep, draw_noise
from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule

# q(x_t | x_0) with an independent noise draw per image (the paper's), q(x_t | x_0) with one draw shared by both
# (so a lerp is q(x_t | the pixel blend)), or deterministic DDIM inversion
EncodeMode = Literal["noise", "shared-noise", "ddim"]
MixMode = Literal["lerp", "slerp"]
DEFAULT_SAMPLER = SamplerSettings()  # the app's; the paper decodes with DDPM, SamplerSettings("ddpm")
DDIM_INVERSION = SamplerSettings("ddim", 50, eta=0.0)


def encode(
    model: EpsModel,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    noise_steps: int,
    mode: EncodeMode,
    generator: torch.Generator,
    inverted_by: SamplerSettings = DDIM_INVERSION,
) -> torch.Tensor:
    """x_t, t = noise_steps, for each image of the batch x0 (see EncodeMode); DDIM inversion climbs the timesteps
    the sampler `inverted_by` decodes through."""
    if noise_steps == 0:
        return x0
    index = noise_steps - 1
    if mode == "ddim":
        return ddim_invert(model, schedule, x0, inverted_by.timesteps(index, schedule.alphas_cumprod.tolist()))
    noise = draw_noise(x0, generator, shared=mode == "shared-noise")
    return schedule.q_sample(x0, torch.full((x0.shape[0],), index, device=x0.device), noise)


def lerp(a: torch.Tensor, b: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    return (1 - lam) * a + lam * b


def slerp(a: torch.Tensor, b: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation, treating each image as one vector: keeps the norm of Gaussian latents."""
    a_flat, b_flat = a.flatten(1), b.flatten(1)
    cos = (a_flat * b_flat).sum(1) / (a_flat.norm(dim=1) * b_flat.norm(dim=1)).clamp_min(1e-12)
    theta = cos.clamp(-1.0, 1.0).acos().reshape(-1, *([1] * (a.ndim - 1)))
    if float(theta.abs().max()) < 1e-4:  # (nearly) parallel: slerp is lerp
        return lerp(a, b, lam)
    return (torch.sin((1 - lam) * theta) * a + torch.sin(lam * theta) * b) / torch.sin(theta)


def mix(a: torch.Tensor, b: torch.Tensor, lambdas: Sequence[float], mode: MixMode = "lerp") -> torch.Tensor:
    """One mixed latent per λ, from single latents a and b (shape (1, C, H, W))."""
    lam = torch.tensor(list(lambdas), dtype=a.dtype, device=a.device).reshape(-1, 1, 1, 1)
    a, b = a.expand(len(lambdas), *a.shape[1:]), b.expand(len(lambdas), *b.shape[1:])
    return lerp(a, b, lam) if mode == "lerp" else slerp(a, b, lam)


def decode(
    model: EpsModel,
    schedule: NoiseSchedule,
    x_t: torch.Tensor,
    noise_steps: int,
    generator: torch.Generator,
    sampler: SamplerSettings,
) -> Iterator[SamplerStep]:
    """The reverse process from noise_steps diffusion steps of noise; per-step noise is shared across the batch,
    so each latent decodes as it would alone with the same seed."""
    yield from denoise_from(model, schedule, x_t, noise_steps, generator, sampler, shared_noise=True)


def denoise_from(model: EpsModel, schedule: NoiseSchedule, x_t: torch.Tensor, noise_steps: int,
                 generator: torch.Generator, sampler: SamplerSettings, shared_noise: bool) -> Iterator[SamplerStep]:
    if noise_steps == 0:
        yield SamplerStep(-1, x_t, x_t)
    else:
        yield from run_sampler(model, schedule, x_t, generator, sampler, start_t=noise_steps - 1,
                               shared_noise=shared_noise)


def sdedit(
    model: EpsModel,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    noise_steps: int,
    count: int,
    seed: int = 0,
    sampler: SamplerSettings = DEFAULT_SAMPLER,
) -> Iterator[SamplerStep]:
    """SDEdit (Meng et al. 2022): the image x0 (1, C, H, W) noised by noise_steps diffusion steps and denoised,
    `count` times, each with noise of its own: small t keeps the image and cleans it, large t keeps its layout."""
    generator = torch.Generator().manual_seed(seed)
    x_t = encode(model, schedule, x0.expand(count, *x0.shape[1:]), noise_steps, "noise", generator)
    yield from denoise_from(model, schedule, x_t, noise_steps, generator, sampler, shared_noise=False)


def decode_steps(sampler: SamplerSettings, noise_steps: int, num_timesteps: int) -> int:
    """The steps decode() yields from noise_steps diffusion steps of noise on a schedule of num_timesteps (one, the
    latent itself, at 0)."""
    return sampler.num_steps(noise_steps - 1, num_timesteps) if noise_steps else 1


def interpolate(
    model: EpsModel,
    schedule: NoiseSchedule,
    x0_a: torch.Tensor,
    x0_b: torch.Tensor,
    noise_steps: int,
    lambdas: Sequence[float],
    seed: int = 0,
    encode_mode: EncodeMode = "noise",
    mix_mode: MixMode = "lerp",
    sampler: SamplerSettings = DEFAULT_SAMPLER,
    inversion_steps: int = 50,
) -> Iterator[SamplerStep]:
    """A strip: one decoded image per λ, all in one batch, mixed at t = noise_steps. The last step's x is the
    strip."""
    yield from next(interpolations(model, schedule, x0_a, x0_b, noise_steps, [lambdas], seed, encode_mode, mix_mode,
                                   sampler, inversion_steps))


def interpolations(
    model: EpsModel,
    schedule: NoiseSchedule,
    x0_a: torch.Tensor,
    x0_b: torch.Tensor,
    noise_steps: int,
    groups: Sequence[Sequence[float]],
    seed: int = 0,
    encode_mode: EncodeMode = "noise",
    mix_mode: MixMode = "lerp",
    sampler: SamplerSettings = DEFAULT_SAMPLER,
    inversion_steps: int = 50,
) -> Iterator[Iterator[SamplerStep]]:
    """The decoding of each group of λ in turn (run each to its end before asking for the next), from one encoding
    and each with the noise it would have alone: the picture a slider asks for can come before the strip."""
    if not 0 <= noise_steps <= schedule.num_timesteps:
        raise ValueError(f"t must be between 0 and {schedule.num_timesteps}, got {noise_steps}")
    if encode_mode == "ddim" and sampler.spec.uses_eta:
        sampler = replace(sampler, eta=0.0)  # the inverse of DDIM inversion is deterministic DDIM
    generator = torch.Generator().manual_seed(seed)
    # a student inverts through the timesteps it was taught: those it decodes through
    inverted_by = sampler if sampler.spec.taught_spacing else replace(DDIM_INVERSION, steps=inversion_steps)
    latents = encode(model, schedule, torch.cat([x0_a, x0_b]), noise_steps, encode_mode, generator, inverted_by)
    after_encoding = generator.get_state()
    for lambdas in groups:
        generator.set_state(after_encoding)
        yield decode(model, schedule, mix(latents[:1], latents[1:], lambdas, mix_mode), noise_steps, generator,
                     sampler)
