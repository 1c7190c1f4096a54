"""GPU check: the CUDA path end to end, in one command, for whoever has a GPU (none has been lent to this project's
CPU machines yet).

    python benchmarks/gpu_check.py                # ddpm-cifar10 at 32 px, batch 128, 200 steps per precision
    python benchmarks/gpu_check.py --compile      # also time the step under torch.compile
    python benchmarks/gpu_check.py --device cpu --quick   # the script itself in seconds (the test suite runs it)

It trains through `Trainer`, as `diffstudio train` does, on seeded synthetic shapes (benchmarks/shapes_data.py):
1. float32, then bfloat16 autocast, from the same seed: their losses over the second half must agree in
   distribution (means within 4 standard errors, or 5 % — min-SNR losses are noisy);
2. resume: the float32 run reopened at its half-way checkpoint must reach the same weights: bit-identical on a
   CPU; on CUDA within 1e-4 of the largest weight (cuDNN's backward kernels add in no fixed order);
3. sampling: 64 images by every sampler from the EMA weights, finite and in range, and the default sampler's
   img/s (under bf16 autocast on CUDA);
4. speed: training img/s per precision, the model's TFLOP/s (FlopCounterMode on one step), and the share of the
   GPU's peak: of a bf16 matmul measured here, and of the datasheet's dense bf16 figure where the name is known;
5. with two or more GPUs, `diffstudio train --gpus N` for --steps steps, and its img/s.
One JSON line per run goes to benchmarks/results/gpu_check.jsonl (not with --quick). Exit status 1 when a check
fails. Expected on a GPU: every check "ok", bfloat16 faster than float32 (Ampere and later), the resumed run within
1e-4, and a share of the peak that says how far the small U-Net is from saturating the GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))

from shapes_data import make_shapes_images  # noqa: E402

from diffstudio.core.devices import describe_device, pick_device  # noqa: E402
from diffstudio.core.diffusion.sampler_registry import SAMPLERS
from diffstudio.core.diffusion.sampler_settings import SamplerSettings  # noqa: E402
from diffstudio.core.diffusion.samplers import final_sample, run_sampler  # noqa: E402
from diffstudio.core.diffusion.sampling import seeded_start  # noqa: E402
from diffstudio.core.storage.checkpoint import RAW_PREFIX, load_denoiser, read_checkpoint  # noqa: E402
from diffstudio.core.storage.run_folder import checkpoint_path  # noqa: E402
from diffstudio.core.trainer import TrainConfig, Trainer  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "gpu_check.jsonl"
# dense bf16 tensor TFLOP/s from the vendors' datasheets (without sparsity), by a part of the device's name
DATASHEET_BF16_TFLOPS = {"H200": 989, "H100 SXM": 989, "H100 PCIe": 756, "H100": 756, "A100": 312, "L40S": 362,
                         "L40": 181, "L4": 121, "A10G": 70, "A10": 125, "RTX 4090": 165, "RTX 3090": 71, "T4": 65}


def train(run_dir: Path, config: TrainConfig, device: torch.device, compile_step: bool = False) -> dict:
    trainer = Trainer.create(run_dir, config, device)
    if compile_step:
        trainer.forward_model = torch.compile(trainer.forward_model)
    losses, times = [], []
    for event in trainer.run():
        losses.append(event.loss)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter())
    trainer.close()
    steady = times[len(times) // 4:]  # past warm-up, compilation and the first allocations
    seconds_per_step = (steady[-1] - steady[0]) / max(1, len(steady) - 1)
    return {"losses": losses, "img_per_s": config.batch / seconds_per_step, "trainer": trainer}


def losses_agree(a: list[float], b: list[float]) -> tuple[bool, str]:
    a, b = a[len(a) // 2:], b[len(b) // 2:]
    mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
    error = (statistics.variance(a) / len(a) + statistics.variance(b) / len(b)) ** 0.5
    ok = abs(mean_a - mean_b) <= max(4 * error, 0.05 * mean_a)
    return ok, f"second-half mean loss {mean_a:.4f} (float32) vs {mean_b:.4f} (bfloat16), standard error {error:.4f}"


def resume_reaches_the_same_weights(run_dir: Path, config: TrainConfig, device: torch.device) -> tuple[bool, float]:
    """Reopen the float32 run at its half-way checkpoint, train to the end again, compare with the end reached:
    whether it matches, and the largest difference relative to the largest weight."""
    half, end = config.steps // 2, config.steps
    final, _ = read_checkpoint(checkpoint_path(run_dir, end), RAW_PREFIX)
    checkpoint_path(run_dir, end).unlink()
    trainer = Trainer.resume(run_dir, device)
    assert trainer.step == half, f"resumed at {trainer.step}, expected {half}"
    for _ in trainer.run():
        pass
    trainer.close()
    again, _ = read_checkpoint(checkpoint_path(run_dir, end), RAW_PREFIX)
    largest = max(final[k].abs().max().item() for k in final)
    difference = max((final[k] - again[k]).abs().max().item() for k in final) / largest
    return difference <= (1e-4 if device.type == "cuda" else 0.0), difference


def sample_check(run_dir: Path, device: torch.device, count: int, steps: int) -> tuple[dict[str, bool], float]:
    """Whether every sampler's images are finite and in range, and the default sampler's img/s."""
    denoiser = load_denoiser(run_dir, device)
    c = denoiser.model.config
    ok, rate = {}, 0.0
    for kind in SAMPLERS:
        x, generators = seeded_start(0, count, c.channels, c.resolution, device)
        settings = SamplerSettings(kind, steps)  # DDPM takes every step of the schedule whatever `steps` says
        start = time.perf_counter()
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            images = final_sample(run_sampler(denoiser.model, denoiser.schedule, x, generators, settings)).float()
        seconds = time.perf_counter() - start
        ok[kind] = bool(torch.isfinite(images).all() and images.abs().max() <= 1.0 + 1e-3)
        if kind == SamplerSettings().kind:
            rate = count / seconds
    return ok, rate


def step_flops(config: TrainConfig, device: torch.device) -> float:
    """FLOPs of one training step (forward and backward), counted by torch."""
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer.create(Path(scratch) / "count", config, device)
        with FlopCounterMode(display=False) as counter:
            trainer.train_step()
        trainer.close()
    return counter.get_total_flops()


def matmul_peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    start, count = time.perf_counter(), 20
    for _ in range(count):
        a @ b
    torch.cuda.synchronize(device)
    return 2 * 8192**3 * count / (time.perf_counter() - start) / 1e12


def datasheet_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for part, v in DATASHEET_BF16_TFLOPS.items() if part in name), None)


def multi_gpu_rate(folder: Path, args: argparse.Namespace, runs: Path) -> float | None:
    count = torch.cuda.device_count() if args.device != "cpu" else 0
    if count < 2:
        return None
    command = [sys.executable, "-m", "diffstudio", "train", "--gpus", str(count), "--data", str(folder), "--run",
               "multi", "--preset", args.preset, "--batch", str(args.batch * count), "--steps", str(args.steps),
               "--preview-every", str(10 * args.steps), "--save-every", str(10 * args.steps), "--precision", "bfloat16"]
    subprocess.run(command, check=True, env={**os.environ, "DIFFSTUDIO_RUNS_DIR": str(runs)})
    times = [json.loads(line)["time"] for line in (runs / "multi" / "log.jsonl").read_text().splitlines()]
    steady = times[len(times) // 4:]
    return args.batch * count * (len(steady) - 1) / (steady[-1] - steady[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--preset", default="ddpm-cifar10")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=200, help="per precision (even)")
    parser.add_argument("--compile", action="store_true", help="also time the step under torch.compile")
    parser.add_argument("--quick", action="store_true", help="tiny at 16 px, batch 8, 6 steps, 50 timesteps, 8 "
                        "samples of 3 steps, nothing written: the script itself, checked in seconds")
    args = parser.parse_args()
    if args.quick:
        args.preset, args.batch, args.steps = "tiny", 8, 6
    resolution, timesteps = (16, 50) if args.quick else (32, 1000)
    sample_count, sample_steps = (8, 3) if args.quick else (64, 20)
    device = pick_device(args.device)
    steps = args.steps + args.steps % 2
    checks, row = {}, {"device": describe_device(device), "preset": args.preset, "batch": args.batch, "steps": steps,
                       "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as scratch:
        folder, runs = Path(scratch) / "shapes", Path(scratch) / "runs"
        make_shapes_images(folder, 64 if args.quick else 512, seed=0)

        def config(precision: str) -> TrainConfig:
            return TrainConfig(data=str(folder), preset=args.preset, resolution=resolution, num_timesteps=timesteps,
                               batch=args.batch, steps=steps,
                               precision=precision, save_every=steps // 2, preview_every=10 * steps, keep=3)

        fp32 = train(runs / "float32", config("float32"), device)
        bf16 = train(runs / "bfloat16", config("bfloat16"), device)
        checks["losses agree"], row["losses"] = losses_agree(fp32["losses"], bf16["losses"])
        checks["resume reaches the same weights"], row["resume_difference"] = resume_reaches_the_same_weights(
            runs / "float32", config("float32"), device)
        samplers_ok, row["sample_img_per_s"] = sample_check(runs / "bfloat16", device, sample_count, sample_steps)
        checks.update({f"{kind} samples finite and in range": ok for kind, ok in samplers_ok.items()})
        row["train_img_per_s"] = {"float32": fp32["img_per_s"], "bfloat16": bf16["img_per_s"]}
        if args.compile:
            row["train_img_per_s"]["bfloat16 compiled"] = train(runs / "compiled", config("bfloat16"), device,
                                                                compile_step=True)["img_per_s"]
        flops_per_image = step_flops(config("bfloat16"), device) / args.batch
        row["model_tflops"] = flops_per_image * bf16["img_per_s"] / 1e12
        row["matmul_peak_tflops"] = matmul_peak_tflops(device)
        row["datasheet_tflops"] = datasheet_tflops(device)
        row["multi_gpu_img_per_s"] = multi_gpu_rate(folder, args, runs)

    print(f"{row['device']}, {args.preset}, batch {args.batch}, {steps} steps per precision, torch {torch.__version__}")
    for precision, rate in row["train_img_per_s"].items():
        print(f"  training, {precision:>18}: {rate:8.1f} img/s")
    print(f"  sampling, the default sampler, {sample_steps} steps: {row['sample_img_per_s']:8.1f} img/s")
    print(f"  model: {flops_per_image / 1e9:.2f} GFLOP per training image, {row['model_tflops']:.2f} TFLOP/s in bf16")
    for label, peak in (("measured bf16 matmul", row["matmul_peak_tflops"]), ("datasheet", row["datasheet_tflops"])):
        if peak:
            print(f"  {row['model_tflops'] / peak:6.1%} of the {label} peak ({peak:.0f} TFLOP/s)")
    if row["multi_gpu_img_per_s"]:
        print(f"  {torch.cuda.device_count()} GPUs under torchrun: {row['multi_gpu_img_per_s']:.1f} img/s")
    print(f"  {row['losses']}; resumed run's largest weight difference {row['resume_difference']:.1e}")
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    row["checks"] = checks
    if not args.quick:
        with open(RESULTS, "a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
