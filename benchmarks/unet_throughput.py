"""U-Net throughput: ours against diffusers' UNet2DModel of the same configuration and weights; then whole sampling
runs (DDIM, DPM-Solver++, Euler ancestral) against diffusers' schedulers driving its U-Net.

Prints, per preset, training images/s (forward + backward + AdamW step on L_simple)
and sampling images/s (a 50-step DDIM run: batch / (50 × one no-grad forward)),
for both implementations and their ratio. Ours and theirs alternate round by
round and the median round counts, so a noisy shared machine hits both alike.

    python benchmarks/unet_throughput.py                 # CPU, float32
    python benchmarks/unet_throughput.py --device cuda   # GPU: bf16 autocast, channels_last
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext
from functools import partial

import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler, UNet2DModel

from diffstudio.core.devices import pick_device
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.diffusion.samplers import final_sample, run_sampler
from diffstudio.core.diffusion.schedule import NoiseSchedule
from diffstudio.core.storage.diffusers_interop import schedule_to_diffusers, unet_config_to_diffusers
from diffstudio.core.unet import UNet, count_parameters, preset

DDIM_STEPS = 50


class DiffusersEps(torch.nn.Module):
    """diffusers' model behind our call signature ε(x, t)."""

    def __init__(self, unet: UNet2DModel):
        super().__init__()
        self.unet = unet

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t).sample


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn, device: torch.device, iterations: int) -> float:
    """Seconds per call, after one warm-up call."""
    fn()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / iterations


def make_train_step(model, x, t, autocast):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    noise = torch.randn_like(x)

    def step():
        with autocast():
            loss = (model(x, t) - noise).float().pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def make_sample_call(model, x, t, autocast):
    def call():
        with torch.inference_mode(), autocast():
            model(x, t)

    return call


def benchmark_preset(name: str, device: torch.device, batch: int, rounds: int, iterations: int,
                     channels_last: bool) -> list[tuple]:
    torch.manual_seed(0)
    ours = UNet(preset(name)).to(device)
    theirs = DiffusersEps(UNet2DModel.from_config(unet_config_to_diffusers(ours.config))).to(device)
    theirs.unet.load_state_dict(ours.state_dict())
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    for model in (ours, theirs):
        model.to(memory_format=memory_format)
    size = ours.config.resolution
    x = torch.randn(batch, ours.config.channels, size, size, device=device).to(memory_format=memory_format)
    t = torch.randint(0, 1000, (batch,), device=device)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else nullcontext

    rows = []
    for task, make, per_image in (("train", make_train_step, 1), ("sample", make_sample_call, DDIM_STEPS)):
        calls = {}
        for label, model in (("ours", ours), ("diffusers", theirs)):
            model.train(task == "train")
            calls[label] = make(model, x, t, autocast)
        seconds = {"ours": [], "diffusers": []}
        for _ in range(rounds):
            for label in ("ours", "diffusers"):
                seconds[label].append(time_call(calls[label], device, iterations))
        rate = {label: batch / (statistics.median(s) * per_image) for label, s in seconds.items()}
        rows.append((name, f"{count_parameters(ours) / 1e6:.1f}M", task, batch, rate["ours"], rate["diffusers"],
                     rate["ours"] / rate["diffusers"]))
    return rows


SAMPLER_RUNS = [("ddim", 50, DDIMScheduler), ("ddim", 20, DDIMScheduler), ("ddim", 10, DDIMScheduler),
                ("dpm++2m", 20, DPMSolverMultistepScheduler), ("dpm++2m", 10, DPMSolverMultistepScheduler),
                ("euler_a", 20, EulerAncestralDiscreteScheduler)]


def diffusers_run(unet: UNet2DModel, scheduler, x: torch.Tensor, steps: int, autocast) -> None:
    """What diffusers' pipelines do: the scheduler's timesteps, the scaled input, one step each."""
    scheduler.set_timesteps(steps)
    x = x * scheduler.init_noise_sigma
    with torch.inference_mode(), autocast():
        for t in scheduler.timesteps:
            x = scheduler.step(unet(scheduler.scale_model_input(x, t), t).sample, t, x).prev_sample


def ours_run(model: UNet, x: torch.Tensor, settings: SamplerSettings, autocast) -> None:
    with torch.inference_mode(), autocast():
        final_sample(run_sampler(model, NoiseSchedule(), x, torch.Generator().manual_seed(0), settings))


def benchmark_samplers(device: torch.device, batch: int, rounds: int) -> list[tuple]:
    """Whole sampling runs of the tiny preset, ours against diffusers' scheduler loop, alternating round by round."""
    torch.manual_seed(0)
    ours = UNet(preset("tiny")).to(device).eval()
    theirs = UNet2DModel.from_config(unet_config_to_diffusers(ours.config)).to(device).eval()
    theirs.load_state_dict(ours.state_dict())
    size = ours.config.resolution
    x = torch.randn(batch, ours.config.channels, size, size, device=device)
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else nullcontext
    rows = []
    for kind, steps, scheduler_class in SAMPLER_RUNS:
        settings = SamplerSettings(kind, steps, eta=0.0)
        scheduler = scheduler_class.from_config(schedule_to_diffusers(NoiseSchedule().config))
        calls = {"ours": partial(ours_run, ours, x, settings, autocast),
                 "diffusers": partial(diffusers_run, theirs, scheduler, x, steps, autocast)}
        seconds = {"ours": [], "diffusers": []}
        for _ in range(rounds):
            for label, call in calls.items():
                seconds[label].append(time_call(call, device, 1))
        rate = {label: batch / statistics.median(s) for label, s in seconds.items()}
        rows.append((kind, settings.num_model_calls(999), batch, rate["ours"], rate["diffusers"],
                     rate["ours"] / rate["diffusers"]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda", "mps"))
    parser.add_argument("--presets", nargs="+", default=["tiny", "ddpm-cifar10"])
    parser.add_argument("--batch", type=int,
                        help="images per call (default: 32 for tiny, 8 for larger on CPU; 128 on GPU)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                        help="channels_last memory format (default: on for CUDA)")
    args = parser.parse_args()
    device = pick_device(args.device)
    channels_last = device.type == "cuda" if args.channels_last is None else args.channels_last
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    print(f"device: {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{'bf16 autocast' if device.type == 'cuda' else 'float32'}, channels_last {channels_last}")
    header = ("preset", "params", "task", "batch", "ours img/s", "diffusers img/s", "ours/diffusers")
    print("  ".join(f"{h:>15}" for h in header))
    for name in args.presets:
        batch = args.batch or (128 if device.type == "cuda" else 32 if name == "tiny" else 8)
        for row in benchmark_preset(name, device, batch, args.rounds, args.iterations, channels_last):
            print("  ".join(f"{v:>15.2f}" if isinstance(v, float) else f"{v!s:>15}" for v in row), flush=True)
    print(f"sampling img/s = batch / (time of one no-grad forward × {DDIM_STEPS}), i.e. a {DDIM_STEPS}-step DDIM run")
    print("\nwhole sampling runs, tiny preset: images/s of the finished images")
    header = ("sampler", "model calls", "batch", "ours img/s", "diffusers img/s", "ours/diffusers")
    print("  ".join(f"{h:>15}" for h in header))
    for row in benchmark_samplers(device, args.batch or (128 if device.type == "cuda" else 16), args.rounds):
        print("  ".join(f"{v:>15.2f}" if isinstance(v, float) else f"{v!s:>15}" for v in row), flush=True)


if __name__ == "__main__":
    main()
