"""Distillation on a trained model (issue 34): progressive (or, --method consistency, consistency) distillation of a
run the quality study saved (benchmarks/train_quality.py), each student scored at its own steps (a progressive one
deterministic, η = 0 as distilled, and with fresh noise between its steps, η = 1) beside its teacher's DDIM-50
(η = 1 and 0) and the app's default sampler; scored as the study scores (shapes: the share of samples that pass for
training images; fashion and the RGB sets: the Fréchet distance of a classifier's features). The run is copied
first, so its students stay apart from the study's folder; its teacher rows are scored once per machine. Rows go to
benchmarks/results/distill-DATA.jsonl.

    python benchmarks/distill_quality.py --data shapes --run shapes-defaults-30m --teacher-steps 32 --steps 2
    python benchmarks/distill_quality.py --data shapes --table
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch  # noqa: E402
from train_quality import (  # noqa: E402
    OUT,
    RESULTS,
    RGB_SETS,
    SAMPLES,
    cpu_name,
    draw_samples,
    read_rows,
    sampler_name,
    score_samples,
    score_text,
)

from diffstudio.core.diffusion.sampler_settings import SamplerSettings  # noqa: E402
from diffstudio.core.distill_settings import LOSSES, METHODS, DistillSettings  # noqa: E402
from diffstudio.core.distillation import Distiller  # noqa: E402
from diffstudio.core.images import image_grid, save_png  # noqa: E402
from diffstudio.core.storage.checkpoint import load_denoiser  # noqa: E402
from diffstudio.core.storage.students import student_path, student_sampler  # noqa: E402

TEACHER_SAMPLERS = [SamplerSettings("ddim", 50, eta=1.0), SamplerSettings("ddim", 50, eta=1.0, autoguidance=1.0),
                    SamplerSettings("ddim", 50, eta=0.0), SamplerSettings()]


def score(data: str, checkpoint: Path, settings: SamplerSettings, count: int, grid: Path) -> dict:
    denoiser = load_denoiser(checkpoint)
    start = time.monotonic()
    samples = draw_samples(denoiser, settings, count)
    save_png(image_grid(samples[:64]), grid)
    return {**score_samples(data, samples), "sample_seconds": time.monotonic() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="shapes", choices=("shapes", "fashion", *RGB_SETS))
    parser.add_argument("--run", help="a run folder under benchmarks/out/runs (default DATA-defaults-30m)")
    parser.add_argument("--steps", type=int, default=2, help="the last round's student steps")
    parser.add_argument("--teacher-steps", type=int, default=32)
    parser.add_argument("--updates", type=int, default=200, help="student updates per round")
    parser.add_argument("--minutes", type=float, help="a time budget instead of --updates (the whole distillation's)")
    parser.add_argument("--factor", type=int, default=DistillSettings.factor, help="each round divides the steps by it")
    parser.add_argument("--lr", type=float, default=DistillSettings.lr)
    parser.add_argument("--batch", type=int, default=DistillSettings.batch)
    parser.add_argument("--method", default=DistillSettings.method, choices=METHODS)
    parser.add_argument("--loss", default=DistillSettings.loss, choices=LOSSES)
    parser.add_argument("--autoguidance", type=float, default=DistillSettings.autoguidance,
                        help="the first teacher's w (1: the run's model unguided)")
    parser.add_argument("--samples", type=int, help="samples per score (default: the study's)")
    parser.add_argument("--table", action="store_true", help="print the results file's table and exit")
    parser.add_argument("--results", type=Path, help="JSON-lines file (default benchmarks/results/distill-DATA.jsonl)")
    args = parser.parse_args()
    results = args.results or RESULTS / f"distill-{args.data}.jsonl"
    if not args.table:
        distil(args, results)
    print("| run | distillation | model | sampler | calls | score | distil min |\n|---|---|---|---|---:|---|---:|")
    for r in read_rows(results):
        print(f"| {r['run']} | {r['distillation']} | {r['model']} | {r['sampler']} | {r['model_calls']} | "
              f"{score_text(r['score'], r['samples'])} | {r.get('distil_minutes', 0):.1f} |")


def distil(args: argparse.Namespace, results: Path) -> None:
    run = args.run or f"{args.data}-defaults-30m"
    settings = DistillSettings(steps=args.steps, teacher_steps=args.teacher_steps, updates=args.updates, lr=args.lr,
                               method=args.method, autoguidance=args.autoguidance, factor=args.factor,
                               minutes=args.minutes, batch=args.batch, loss=args.loss)
    length = f"u{settings.updates}" if settings.minutes is None else f"m{settings.minutes:g}"
    # factor 2, batch 32 and the loss mse unsaid: the folders named before they were settings here
    tag = f"{settings.method[:4]}-t{settings.teacher_steps}-{length}-lr{settings.lr:g}" + (
        f"-ag{settings.autoguidance:g}" if settings.autoguidance != DistillSettings.autoguidance else "") + (
        f"-f{settings.factor}" if settings.factor != 2 else "") + (
        f"-b{settings.batch}" if settings.batch != 32 else "") + (
        f"-{settings.loss}loss" if settings.loss != "mse" else "")
    folder = OUT / "runs" / f"{run}-distil-{tag}"
    if not folder.is_dir():
        shutil.copytree(OUT / "runs" / run, folder, ignore=shutil.ignore_patterns("samples-*.png", "students"))
    count = args.samples or SAMPLES[args.data]
    common = {"run": run, "distillation": tag, "samples": count, "cpu": cpu_name(), "torch": torch.__version__,
              "threads": torch.get_num_threads()}

    def write(row: dict) -> None:
        row = {**common, **row, "finished": time.strftime("%Y-%m-%d %H:%M")}
        with open(results, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{row['model']:<14} {row['sampler']:<34} {row['model_calls']:>4} calls  "
              f"{score_text(row['score'], count)}", flush=True)

    earlier = read_rows(results) if results.is_file() else []
    scored = {r["sampler"] for r in earlier if r["run"] == run and r["model"] == "teacher"
              and r["samples"] == count and r["cpu"] == common["cpu"]}
    unguided = load_denoiser(folder).guide is None
    teacher_samplers = {sampler_name(s): s for s in (replace(s, autoguidance=1.0) if unguided else s
                                                     for s in TEACHER_SAMPLERS)}  # a run without a guide: once
    for name, s in teacher_samplers.items():
        if name in scored:  # by an earlier distillation of the same run on this machine
            continue
        grid = folder / f"samples-teacher-{sampler_name(s)}.png"
        write({"model": "teacher", "sampler": sampler_name(s), "model_calls": s.num_model_calls(999),
               "score": score(args.data, folder, s, count, grid)})
    started, minutes, updates = time.monotonic(), {}, {}
    for event in Distiller(folder, settings, torch.device("cpu")).run():
        if event.saved:
            minutes[event.student_steps] = (time.monotonic() - started) / 60
            updates[event.student_steps] = event.update
            print(f"round {event.round}: student of {event.student_steps} steps after "
                  f"{minutes[event.student_steps]:.1f} min, loss {event.loss:.4f}", flush=True)
    students = settings.rounds() if settings.method == "progressive" else [settings.steps]
    for steps in students:
        path = student_path(folder, steps, settings.method)
        kind = student_sampler(path)
        for eta in (0.0, 1.0) if kind == "distilled" else (None,):
            s = SamplerSettings(kind, steps, eta=1.0 if eta is None else eta)
            name = f"{kind}{steps}" + ("" if eta is None else f"-eta{eta:g}")
            write({"model": f"student {steps}", "sampler": name, "model_calls": steps,
                   "distil_minutes": minutes[steps], "updates": updates[steps], "settings": asdict(settings),
                   "score": score(args.data, path, s, count,
                                  folder / f"samples-student-{name}.png")})


if __name__ == "__main__":
    main()
