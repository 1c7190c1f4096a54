"""Training quality on this machine: train `tiny` on procedural disc images for a fixed budget, then
measure its samples.

Two figures, each also printed for real images and for noise, so the numbers have a scale:

- demo-like %: the share of images that pass `is_demo_like` (a dark frame and one bright, smooth,
  compact blob). Every real image passes and no noise image does, so it reads directly as "how
  often does the model draw the right kind of picture".
- pixel FD: the Fréchet distance (FID's formula) between the images' and a held-out real set's
  Gaussian statistics, on 8×8 average-pooled pixels (192 numbers per image). FID proper needs
  Inception weights, which cannot be downloaded here; on pooled pixels the same formula still
  measures whether colours, positions and sizes are distributed as in the data, which demo-like %
  cannot see (a model drawing only red discs would pass it).

    python benchmarks/train_quality.py              # 20 minutes of training on the CPU (6 give noise)
    python benchmarks/train_quality.py --minutes 30 --device cuda
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from diffstudio.core.ddim import ddim_sample
from diffstudio.core.demo_data import demo_image, is_demo_like, make_demo_images
from diffstudio.core.devices import pick_device
from diffstudio.core.images import to_uint8
from diffstudio.core.sampling import final_sample
from diffstudio.core.trainer import TrainConfig, Trainer


def pooled_features(images: np.ndarray) -> np.ndarray:
    """(B, 32, 32, 3) uint8 → (B, 192): 4×4 average pooling to 8×8, in [0, 1]."""
    x = images.astype(np.float64) / 255.0
    b, h, w, c = x.shape
    return x.reshape(b, 8, h // 8, 8, w // 8, c).mean(axis=(2, 4)).reshape(b, -1)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^½), with the matrix square root from an eigendecomposition."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _psd_sqrt(cov_a)
    middle = _psd_sqrt(root_a @ cov_b @ root_a)  # (Σ_a Σ_b)^½ has the trace of (Σ_a^½ Σ_b Σ_a^½)^½
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(middle))


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((m + m.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def real_images(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([demo_image(rng) for _ in range(count)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="training budget (wall clock)")
    parser.add_argument("--images", type=int, default=512, help="training set size")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--sampling-steps", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = pick_device(args.device)

    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        make_demo_images(data, args.images, seed=0)
        config = TrainConfig(data=str(data), preset="tiny", resolution=32, steps=10**9, batch=32, lr=1e-3, warmup=100,
                             ema_decay=0.999, save_every=10**9, preview_every=10**9)
        trainer = Trainer.create(Path(scratch) / "run", config, device)
        start = time.monotonic()
        for event in trainer.run():
            if time.monotonic() - start > args.minutes * 60:
                break
        train_seconds = time.monotonic() - start
        trainer.close()
        steps, loss = trainer.step, trainer.last_loss

        start = time.monotonic()
        noise = torch.randn(args.samples, 3, 32, 32, generator=torch.Generator().manual_seed(0)).to(device)
        with torch.inference_mode(), trainer.autocast():
            samples = to_uint8(final_sample(ddim_sample(trainer.ema, trainer.schedule, noise, num_steps=args.sampling_steps)))
        sample_seconds = time.monotonic() - start

    reference = real_images(args.samples, seed=1)  # held out: neither trained on nor compared with itself
    rows = [
        ("real images (held out)", real_images(args.samples, seed=2)),
        ("training images", real_images(args.images, seed=0)[: args.samples]),
        ("samples (EMA, DDIM)", samples),
        ("uniform noise", np.random.default_rng(3).integers(0, 256, samples.shape, dtype=np.uint8)),
    ]
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"training: {steps} steps of batch {config.batch} in {train_seconds:.0f} s = "
          f"{steps * config.batch / train_seconds:.1f} img/s, last loss {loss:.4f}")
    print(f"sampling: {args.samples} images × {args.sampling_steps} DDIM steps in {sample_seconds:.0f} s = "
          f"{args.samples / sample_seconds:.2f} img/s")
    print(f"{'images':>24}  {'demo-like %':>11}  {'pixel FD':>9}")
    for name, images in rows:
        print(f"{name:>24}  {100 * is_demo_like(images).mean():>11.1f}  "
              f"{frechet_distance(pooled_features(images), pooled_features(reference)):>9.3f}")


if __name__ == "__main__":
    main()
