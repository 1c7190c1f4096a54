"""Guidance, as one network for every sampler.

Classifier-free guidance (Ho & Salimans 2022): a class-conditional network's two answers, with its class and with
"no class", pushed apart by a scale s,
    ε̃(x_t, c) = ε(x_t, ∅) + s · (ε(x_t, c) − ε(x_t, ∅))   (their eq. 6):
s = 1 is the plain conditional model, s = 0 the unconditional one. Both halves go through one batched forward
pass. Autoguidance (Karras et al. 2024, `autoguided`): the same push away from a worse version of the network.
For a v-predicting network the same mix of v is the same mix of ε (both are affine in the output with the same
x_t), so guidance applies to the output as it is.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from diffstudio.core.diffusion.schedule import EpsModel, NoiseSchedule

ClassModel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""A class-conditional network: (x_t, t, class ids) → its prediction."""


def guided(model: ClassModel, class_labels: torch.Tensor, scale: float, null_class: int) -> EpsModel:
    """The sampler's network for images of classes `class_labels` (B,) or one class (1,), guided by `scale`."""

    def guided_model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        labels = class_labels.to(x.device).expand(x.shape[0])  # one label serves a whole batch
        if scale == 1:
            return model(x, t, labels)
        unconditional = torch.full_like(labels, null_class)
        if scale == 0:
            return model(x, t, unconditional)
        both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, unconditional]))
        conditional, plain = both.chunk(2)
        return plain + scale * (conditional - plain)

    return guided_model


# Below this noise level (Karras et al.'s σ, about t = 80 of the linear schedule's 1000) the picture is settled and
# autoguidance only greys a white background: without it there, Noto's white share 0.35 → 0.38 and Twemoji's 0.25 →
# 0.28 at the same Fréchet distance, shapes unchanged (benchmarks/README.md, "Autoguidance off at the last noise
# levels"). The bound is Kynkäänniemi et al.'s (2024) lower one; their upper one lost most of autoguidance's gain.
AUTOGUIDANCE_SIGMA_MIN = 0.28


def autoguided(model: EpsModel, guide: EpsModel, weight: float, schedule: NoiseSchedule) -> EpsModel:
    """Autoguidance (Karras et al. 2024): the network pushed away from a worse version of itself, here the same run's
    weights from early in its training,
        D_w(x; σ) = w · D_1(x; σ) + (1 − w) · D_0(x; σ)   (their eq. 2),
    with D_1 the model and D_0 the guide, at noise levels σ ≥ AUTOGUIDANCE_SIGMA_MIN, and D_1 alone below (the guide
    is not called there). Their difference points where training was taking the model, past the blurred average a
    briefly trained network draws. w = 1 is the model alone. Affine in the output, so it applies to ε or v alike, as
    classifier-free guidance does."""
    if weight == 1:
        return model
    snr_max = AUTOGUIDANCE_SIGMA_MIN**-2  # σ² = (1 − ᾱ)/ᾱ = 1/SNR

    def autoguided_model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        # compared in the schedule's float64 on the CPU, as `gather` indexes, before x's dtype could blur the bound
        guided = (schedule.snr[t.cpu()] <= snr_max).to(x.device).reshape(-1, *[1] * (x.ndim - 1))
        own = model(x, t)
        if not bool(guided.any()):
            return own
        worse = guide(x, t)
        return torch.where(guided, worse + weight * (own - worse), own)

    return autoguided_model
