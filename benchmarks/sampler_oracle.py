"""Samplers against the exact answer: each sampler driven by the exact ε* of a 2-D Gaussian mixture
(`core/gaussian_mixture.py`), so every error is the sampler's. Prints, per sampler and spacing, the sliced
1-Wasserstein distance between 20,000 samples and the mixture (a reference of 80,000 draws) at 5, 10, 20 and 50
model calls, with the floor: 20,000 true draws against the same reference.

    python benchmarks/sampler_oracle.py
"""

from __future__ import annotations

import torch

from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.samplers import final_sample, run_sampler
from diffstudio.core.diffusion.schedule import NoiseSchedule
from diffstudio.core.gaussian_mixture import TWO_BLOBS, MixtureDenoiser, sliced_wasserstein

N = 20_000
CALLS = (5, 10, 20, 50)
SAMPLERS = [
    ("ddim η=0", SamplerSettings("ddim", eta=0.0)),
    ("ddim η=1", SamplerSettings("ddim", eta=1.0)),
    *[(f"{kind} {spacing}", SamplerSettings(kind, spacing=spacing))
      for kind in ("dpm++2m", "dpm++3m", "unipc", "euler_a", "heun") for spacing in ("trailing", "linspace", "karras")],
]


def steps_for_calls(settings: SamplerSettings, calls: int) -> int:
    """The most steps within `calls` model calls (Heun: 2n − 1)."""
    return (calls + 1) // 2 if settings.kind == "heun" else calls


def distances(schedule: NoiseSchedule, reference: torch.Tensor) -> dict[str, list[float]]:
    oracle = MixtureDenoiser(TWO_BLOBS, schedule)
    x = torch.randn(N, 2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    table = {}
    for name, settings in SAMPLERS:
        row = []
        for calls in CALLS:
            s = SamplerSettings(settings.kind, steps_for_calls(settings, calls), settings.eta, clip=False,
                                spacing=settings.spacing)
            out = final_sample(run_sampler(oracle, schedule, x.clone(), torch.Generator().manual_seed(6), s))
            row.append(sliced_wasserstein(out, reference))
        table[name] = row
    return table


def main() -> None:
    schedule = NoiseSchedule()
    reference = TWO_BLOBS.sample(4 * N, torch.Generator().manual_seed(100))
    floor = sliced_wasserstein(TWO_BLOBS.sample(N, torch.Generator().manual_seed(101)), reference)
    print(f"sliced W1 to the mixture, ×100 (lower is better; floor, {N:,} true draws: {100 * floor:.2f})")
    print(f"{'sampler':<18}" + "".join(f"{c:>8} calls" for c in CALLS))
    for name, row in distances(schedule, reference).items():
        print(f"{name:<18}" + "".join(f"{100 * d:>14.2f}" for d in row))


if __name__ == "__main__":
    main()
