"""The demo's own measure: its model trained with the old demo recipe against one trained with the defaults, both by
`resources/make_demo.py` (3,000 steps of tiny on the 256 demo discs), scored as train_quality.py scores "demo": the
share of 256 samples that pass for demo images (disc, colours, navy gradient; core/demo_data.is_demo_like) and a
Fréchet distance on 8×8-pooled pixels against 256 fresh demo images.

    cp -r resources/demo/run benchmarks/out/runs/demo-old       # before the demo is remade
    python resources/make_demo.py && cp -r resources/demo/run benchmarks/out/runs/demo-new
    python benchmarks/demo_measure.py demo-old demo-new
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from train_quality import ETA0, OUT, RESULTS, STUDY_SAMPLER, sampler_name, score_run  # noqa: E402

from diffstudio.core.diffusion.sampler_settings import SamplerSettings  # noqa: E402

APP_DEFAULT = SamplerSettings()  # what the Sample panel draws with


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders under benchmarks/out/runs")
    args = parser.parse_args()
    samplers = {sampler_name(s): s for s in (APP_DEFAULT, STUDY_SAMPLER, ETA0)}
    rows = []
    for name in args.runs:
        run = OUT / "runs" / name
        config = json.loads((run / "config.json").read_text())["training"]
        rows.append({"run": name, "made_by": json.loads((run / "config.json").read_text()).get("made_by"),
                     "recipe": {k: config.get(k) for k in ("lr", "warmup", "ema_decay", "prediction_type",
                                                           "loss_weighting", "precision", "steps")},
                     "scores": score_run("demo", run, samplers)})
        with open(RESULTS / "demo.jsonl", "a", encoding="utf-8") as out:
            out.write(json.dumps(rows[-1]) + "\n")
    print("| run | sampler | demo-like | pixel FD |")
    print("|---|---|---:|---:|")
    for row in rows:
        for sampler, s in row["scores"].items():
            print(f"| {row['run']} | {sampler} | {s['demo_like_pct']:.1f} % | {s['pixel_fd']:.4f} |")


if __name__ == "__main__":
    main()
