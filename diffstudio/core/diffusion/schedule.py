"""The DDPM forward process: variance schedule, q(x_t | x_0) and the posterior.

Equation numbers are those of Ho, Jain & Abbeel (2020). Timestep indices run
0 … T−1 as in diffusers: index i is the paper's t = i + 1. All coefficients are
kept in float64 on the CPU, indexed there and cast to the data's dtype before
they move to its device (Apple's MPS has no float64).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import torch

from diffstudio.core.choices import BETA_SCHEDULES, PREDICTION_TYPES
from diffstudio.core.settings import MAX_TIMESTEPS, setting

BetaSchedule = Literal["linear", "cosine"]
PredictionType = Literal["epsilon", "v_prediction"]  # what the network outputs; diffusers' names


@dataclass(frozen=True)
class ScheduleConfig:
    """The noise schedule, as config.json's "schedule" section stores it."""

    num_timesteps: int = setting(1000, "T, the diffusion steps", minimum=1, maximum=MAX_TIMESTEPS)
    beta_schedule: BetaSchedule = setting("linear", "the shape of β_t", choices=BETA_SCHEDULES)
    beta_start: float = setting(1e-4, "linear only: the paper's β_1", minimum=1e-8, maximum=0.999)
    beta_end: float = setting(0.02, "linear only: β_T", minimum=1e-8, maximum=0.999)
    prediction_type: PredictionType = setting("epsilon", "what the network outputs", choices=PREDICTION_TYPES)
    # ᾱ_T = 0 exactly (Lin et al. 2023); needs v_prediction
    rescale_betas_zero_snr: bool = setting(False, "β rescaled so that x_T is pure noise")
    # SNR × this at every t (Hoogeboom et al. 2023, "shifted" schedules): images of more pixels keep their layout
    # under more noise, so 64 px wants (32/64)² = 1/4 of the SNR that suits 32 px
    snr_shift: float = setting(1.0, "the signal-to-noise ratio × this at every t", minimum=1e-4, maximum=1e4)

    def problems(self) -> list[str]:
        """What does not fit together (each field on its own is checked by its declaration)."""
        if self.beta_schedule == "linear" and self.beta_start > self.beta_end:
            return [f"beta_start {self.beta_start:g} is above beta_end {self.beta_end:g}"]
        return []

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ScheduleConfig:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def linear_betas(num_timesteps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    return torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)


def cosine_betas(num_timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal (2021) eq. 17: ᾱ(t) = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2)."""

    def f(t: float) -> float:
        return math.cos((t / num_timesteps + s) / (1 + s) * math.pi / 2) ** 2

    betas = [min(1 - f(i + 1) / f(i), max_beta) for i in range(num_timesteps)]
    return torch.tensor(betas, dtype=torch.float64)


def shifted_betas(config: ScheduleConfig) -> torch.Tensor:
    """The config's β schedule with its SNR shift, before any zero-terminal-SNR rescale (diffusers' trained_betas)."""
    if config.beta_schedule == "linear":
        betas = linear_betas(config.num_timesteps, config.beta_start, config.beta_end)
    elif config.beta_schedule == "cosine":
        betas = cosine_betas(config.num_timesteps)
    else:
        raise ValueError(f"unknown beta schedule {config.beta_schedule!r}: use 'linear' or 'cosine'")
    if not config.snr_shift > 0:
        raise ValueError(f"the SNR shift must be more than 0, got {config.snr_shift}")
    return betas if config.snr_shift == 1.0 else shift_snr(betas, config.snr_shift)


def shift_snr(betas: torch.Tensor, shift: float) -> torch.Tensor:
    """The β whose SNR(t) = ᾱ_t / (1 − ᾱ_t) is `shift` times that of `betas` at every t:
    ᾱ' = s ᾱ / (1 − ᾱ + s ᾱ), then β'_t = 1 − ᾱ'_t / ᾱ'_{t−1}."""
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    shifted = shift * alphas_cumprod / (1.0 - alphas_cumprod + shift * alphas_cumprod)
    return 1.0 - shifted / torch.cat([torch.ones(1, dtype=shifted.dtype), shifted[:-1]])


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Lin et al. (2023), Algorithm 1: shift and scale √ᾱ so that √ᾱ_T = 0 while √ᾱ_1 is unchanged."""
    sqrt_alphas_cumprod = torch.cumprod(1.0 - betas, dim=0).sqrt()
    first, last = sqrt_alphas_cumprod[0].clone(), sqrt_alphas_cumprod[-1].clone()
    sqrt_alphas_cumprod = (sqrt_alphas_cumprod - last) * first / (first - last)
    alphas_cumprod = sqrt_alphas_cumprod**2
    alphas = torch.cat([alphas_cumprod[:1], alphas_cumprod[1:] / alphas_cumprod[:-1]])
    return 1.0 - alphas


def gather(coef: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """coef[t] shaped to broadcast over a batch like `like` (B, ...)."""
    out = coef[t.cpu()].to(like.dtype).to(like.device)  # indexed and cast on the CPU: MPS has no float64
    return out.reshape(-1, *([1] * (like.ndim - 1)))


EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""The network: its prediction (ε̂ or v̂, as the schedule says) for a batch x_t at timestep indices t (shape (B,))."""


def timestep_batch(t: int, x: torch.Tensor) -> torch.Tensor:
    """The timestep index t for every image of the batch x, as the network takes it."""
    return torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)


class NoiseSchedule:
    """Every DDPM coefficient for one β schedule, and the closed-form Gaussians built from them."""

    def __init__(self, config: ScheduleConfig = ScheduleConfig()):
        self.config = config
        T = config.num_timesteps
        if config.prediction_type not in ("epsilon", "v_prediction"):
            raise ValueError(f"unknown prediction type {config.prediction_type!r}: use 'epsilon' or 'v_prediction'")
        betas = shifted_betas(config)
        if config.rescale_betas_zero_snr:
            if config.prediction_type != "v_prediction":
                raise ValueError("a zero terminal SNR needs v_prediction: ε alone cannot give x̂_0 where ᾱ_T = 0")
            betas = rescale_zero_terminal_snr(betas)
        self.num_timesteps = T
        self.betas = betas
        self.alphas = 1.0 - betas  # α_t := 1 − β_t
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)  # ᾱ_t := ∏_{s≤t} α_s
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])
        self.sqrt_alphas_cumprod = self.alphas_cumprod.sqrt()
        self.sqrt_one_minus_alphas_cumprod = (1.0 - self.alphas_cumprod).sqrt()
        self.sqrt_recip_alphas_cumprod = (1.0 / self.alphas_cumprod).sqrt()
        self.sqrt_recipm1_alphas_cumprod = (1.0 / self.alphas_cumprod - 1.0).sqrt()
        # β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t  (eq. 7)
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        # β̃_1 = 0, so its log is clipped to β̃_2 (as the paper's code does)
        self.posterior_log_variance_clipped = torch.log(
            torch.cat([self.posterior_variance[1:2], self.posterior_variance[1:]])
        )
        # μ̃_t(x_t, x_0) = coef1 · x_0 + coef2 · x_t  (eq. 7)
        self.posterior_mean_coef1 = betas * self.alphas_cumprod_prev.sqrt() / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * self.alphas.sqrt() / (1.0 - self.alphas_cumprod)
        self.snr = self.alphas_cumprod / (1.0 - self.alphas_cumprod)

    def q_step(self, x_prev: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """One forward step x_t ~ q(x_t | x_{t−1}) = N(√(1−β_t) x_{t−1}, β_t I)  (eq. 2)."""
        return gather(self.alphas, t, x_prev).sqrt() * x_prev + gather(self.betas, t, x_prev).sqrt() * noise

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t ~ q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I)  (eq. 4)."""
        return gather(self.sqrt_alphas_cumprod, t, x0) * x0 + gather(self.sqrt_one_minus_alphas_cumprod, t, x0) * noise

    def predict_x0_from_eps(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x̂_0 = (x_t − √(1−ᾱ_t) ε) / √ᾱ_t, eq. 4 solved for x_0."""
        return (gather(self.sqrt_recip_alphas_cumprod, t, x_t) * x_t
                - gather(self.sqrt_recipm1_alphas_cumprod, t, x_t) * eps)

    def predict_eps_from_x0(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """ε = (x_t − √ᾱ_t x_0) / √(1−ᾱ_t), eq. 4 solved for ε: the noise x_t implies for x0; finite where ᾱ = 0."""
        a, b = gather(self.sqrt_alphas_cumprod, t, x_t), gather(self.sqrt_one_minus_alphas_cumprod, t, x_t)
        return (x_t - a * x0) / b

    def velocity(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """v := √ᾱ_t ε − √(1−ᾱ_t) x_0  (Salimans & Ho 2022, §4)."""
        return gather(self.sqrt_alphas_cumprod, t, x0) * noise - gather(self.sqrt_one_minus_alphas_cumprod, t, x0) * x0

    def training_target(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """What the network learns to output: ε (L_simple, eq. 14) or v."""
        return noise if self.config.prediction_type == "epsilon" else self.velocity(x0, t, noise)

    def split_prediction(
        self, x_t: torch.Tensor, t: torch.Tensor, model_output: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(x̂_0, ε̂) from the network's output, whichever it predicts.

        From v, with x_t = √ᾱ x_0 + √(1−ᾱ) ε: x̂_0 = √ᾱ x_t − √(1−ᾱ) v and ε̂ = √(1−ᾱ) x_t + √ᾱ v, which stay
        finite at ᾱ_T = 0, where x̂_0 from ε divides by zero.
        """
        if self.config.prediction_type == "epsilon":
            return self.predict_x0_from_eps(x_t, t, model_output), model_output
        a, b = gather(self.sqrt_alphas_cumprod, t, x_t), gather(self.sqrt_one_minus_alphas_cumprod, t, x_t)
        return a * x_t - b * model_output, b * x_t + a * model_output

    def prediction_for(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """The network output (ε or v) whose x̂_0 at x_t is x0: split_prediction's inverse, for t ≥ 0 (ᾱ < 1)."""
        eps = self.predict_eps_from_x0(x_t, t, x0)
        if self.config.prediction_type == "epsilon":
            return eps
        return self.velocity(x0, t, eps)

    def x0_error_weight(self, t: torch.Tensor) -> torch.Tensor:
        """What the MSE of the network's target weighs an x̂_0 error with at each timestep: SNR for ε, SNR + 1 for v
        (float64, on the CPU)."""
        snr = self.snr[t.cpu()]
        return snr if self.config.prediction_type == "epsilon" else snr + 1

    def min_snr_weight(self, t: torch.Tensor, gamma: float) -> torch.Tensor:
        """Per-sample loss weight of min-SNR-γ (Hang et al. 2023): the x_0-error weight min(SNR, γ), divided by
        what the MSE of the network's target already weighs x_0 errors with."""
        snr = self.snr[t.cpu()]
        weight = snr.clamp(max=gamma) / self.x0_error_weight(t)
        # SNR = 0 (a zero terminal SNR's last step): the formula's limit is 0 for v, which would leave the step every
        # sampler starts from untrained; it gets the plain loss (weight 1) instead, and learns the mean image there
        weight = weight.where(snr > 0, torch.ones_like(weight))
        return weight.float().to(t.device)

    def q_posterior(
        self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance and clipped log-variance of q(x_{t−1} | x_t, x_0)  (eqs. 6, 7)."""
        mean = gather(self.posterior_mean_coef1, t, x_t) * x0 + gather(self.posterior_mean_coef2, t, x_t) * x_t
        return mean, gather(self.posterior_variance, t, x_t), gather(self.posterior_log_variance_clipped, t, x_t)

    def alpha_cumprod_at(self, t: int) -> float:
        """ᾱ at index t, with ᾱ = 1 before the first step (t = −1), as DDIM needs."""
        return 1.0 if t < 0 else float(self.alphas_cumprod[t])

    def sigma_at(self, t: int) -> float:
        """Karras et al.'s (2022) σ = √((1 − ᾱ)/ᾱ), the noise level of x_t/√ᾱ: 0 at the clean image (t = −1), ∞
        where ᾱ = 0."""
        a = self.alpha_cumprod_at(t)
        return math.sqrt((1 - a) / a) if a > 0 else math.inf

    def denoise(
        self, x_t: torch.Tensor, t: int | torch.Tensor, model_output: torch.Tensor, clip: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(x̂_0, ε̂) at index t (one for the batch, or each image's), x̂_0 clipped to [−1, 1] if asked and ε̂ the noise
        consistent with it: x_t = √ᾱ x̂_0 + √(1−ᾱ) ε̂, so a solver that steps along ε̂ follows the clipped
        prediction."""
        t_batch = t if isinstance(t, torch.Tensor) else timestep_batch(t, x_t)
        x0_pred, eps = self.split_prediction(x_t, t_batch, model_output)
        if not clip:
            return x0_pred, eps
        x0_pred = x0_pred.clamp(-1.0, 1.0)
        return x0_pred, self.predict_eps_from_x0(x_t, t_batch, x0_pred)
