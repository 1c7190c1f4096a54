"""Classifier-free guidance (Ho & Salimans 2022): a class-conditional network's two answers, with its class and
with "no class", pushed apart by a scale s,
    ε̃(x_t, c) = ε(x_t, ∅) + s · (ε(x_t, c) − ε(x_t, ∅))   (their eq. 6),
as one network call for every sampler: s = 1 is the plain conditional model, s = 0 the unconditional one. Both
halves go through one batched forward pass. For a v-predicting network the same mix of v is the same mix of ε
(both are affine in the output with the same x_t), so guidance applies to the output as it is.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from diffstudio.core.diffusion.schedule import EpsModel

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
