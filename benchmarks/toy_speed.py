"""The playground's first training on each preset (issue 15: under 30 s on a 2-core CPU): the default
ToyTrainSettings, measured against the data as it learns, and the sliced Wasserstein distance it reaches beside
the exact model's (mixtures) — a table.

    python benchmarks/toy_speed.py
"""

from __future__ import annotations

import time

from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.toy import PRESETS, train_and_compare
from diffstudio.core.toy_settings import ToyTrainSettings


def main() -> None:
    sampler = SamplerSettings("ddim", 20, eta=1.0, clip=False)
    print("| data | points | steps | seconds | SW learned | SW exact |\n|---|---:|---:|---:|---:|---:|")
    for name in PRESETS:
        started = time.perf_counter()
        *_, last = train_and_compare(name, 2000, ToyTrainSettings(), sampler)
        seconds = time.perf_counter() - started
        exact = "-" if last.exact_distance is None else f"{last.exact_distance:.4f}"
        print(f"| {name} | 2000 | {last.total} | {seconds:.1f} | {last.distances[-1]:.4f} | {exact} |", flush=True)


if __name__ == "__main__":
    main()
