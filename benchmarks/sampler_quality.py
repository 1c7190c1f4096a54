"""Samplers on trained models: each sampler at about 10 and 20 model calls against DDIM-50 and DDPM-1000, on the
final EMA weights of a run the quality study saved (benchmarks/train_quality.py), scored as the study scores:
the share of samples that pass for training images (shapes, 256 samples), the Fréchet distance on a classifier's
features (fashion, 512). Autoguided at the app's w where the run has a guide, or at --autoguidance (1: none).
Rows go to benchmarks/results/samplers-DATA.jsonl as each finishes; a sampler already there for the run is skipped,
so the command resumes.

    python benchmarks/sampler_quality.py --data shapes --run shapes-defaults-30m
    python benchmarks/sampler_quality.py --data shapes --table
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from train_quality import OUT, RESULTS, RGB_SETS, SAMPLES, read_rows, sampler_name, score_run, score_text  # noqa: E402

from diffstudio.core.diffusion.sampler_settings import SamplerSettings  # noqa: E402

SAMPLERS = [  # DDPM-1000, the slowest by far, last
    SamplerSettings("ddim", 50, eta=1.0),
    SamplerSettings("ddim", 50, eta=0.0),
    *[SamplerSettings("ddim", n, eta=eta) for n in (5, 10, 20) for eta in (1.0, 0.0)],
    SamplerSettings("ddim", 20, eta=0.5),
    SamplerSettings("dpm++2m", 5),
    *[SamplerSettings(kind, n, spacing=spacing) for kind in ("dpm++2m", "dpm++3m") for n in (10, 20)
      for spacing in ("trailing", "karras")],
    *[SamplerSettings("dpm++2m_sde", n) for n in (5, 10, 20, 40)],
    SamplerSettings("dpm++2m_sde", 20, spacing="karras"),  # more of its steps at low noise
    *[SamplerSettings("unipc", n) for n in (5, 10, 20)],
    *[SamplerSettings("euler_a", n) for n in (10, 20)],
    *[SamplerSettings("heun", n) for n in (5, 10)],  # 9 and 19 model calls
    SamplerSettings("ddpm"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="shapes", choices=("shapes", "fashion", "demo", *RGB_SETS))
    parser.add_argument("--run", help="a run folder name under benchmarks/out/runs (default DATA-defaults-30m)")
    parser.add_argument("--samplers", help="comma-separated sampler names to run (default: all not yet run), "
                        "of the names --table prints")
    parser.add_argument("--samples", type=int, help="samples per sampler (default: the study's, 256 for shapes)")
    parser.add_argument("--autoguidance", type=float, help="w for every sampler (default: the app's)")
    parser.add_argument("--table", action="store_true", help="print the results file's table and exit")
    args = parser.parse_args()
    samplers = [s if args.autoguidance is None else replace(s, autoguidance=args.autoguidance) for s in SAMPLERS]
    wanted = args.samplers.split(",") if args.samplers else [sampler_name(s) for s in samplers]
    unknown = set(wanted) - {sampler_name(s) for s in samplers}
    if unknown:
        parser.error(f"unknown sampler {', '.join(sorted(unknown))}")
    results = RESULTS / f"samplers-{args.data}.jsonl"
    run = args.run or f"{args.data}-defaults-30m"
    if not args.table:
        done = {(r["run"], r["sampler"]) for r in read_rows(results)} if results.is_file() else set()
        for settings in samplers:
            name = sampler_name(settings)
            if (run, name) in done or name not in wanted:
                continue
            score = score_run(args.data, OUT / "runs" / run, {name: settings}, args.samples)[name]
            row = {"run": run, "sampler": name, "model_calls": settings.num_model_calls(999), "score": score,
                   "samples": args.samples or SAMPLES[args.data],
                   "finished": time.strftime("%Y-%m-%d %H:%M")}
            with open(results, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{name:<28} {row['model_calls']:>5} calls  {score_text(score, row['samples'])}", flush=True)
    print("| run | sampler | model calls | samples | score | seconds |\n|---|---|---:|---:|---|---:|")
    for r in sorted(read_rows(results), key=lambda r: (r["run"], r["model_calls"], r["sampler"])):
        samples = r.get("samples", SAMPLES[args.data])
        print(f"| {r['run']} | {r['sampler']} | {r['model_calls']} | {samples} | {score_text(r['score'], samples)} | "
              f"{r['score']['sample_seconds']:.0f} |")


if __name__ == "__main__":
    main()
