"""The batch size `--batch auto` (the default) trains with: 32, or a smaller batch where a time budget buys few steps
of 32 on this machine. Torch-free: the Train panel says what it will choose, and the trainer chooses it when a run
is made (the speeds measured by trainer.py), storing the number in the run's config.json.

Why: on a 2-core CPU without AVX-512 (28 img/s at batch 32, about as many at 16), 30 minutes buy 1,300 steps of 32;
the same images in 2,600 steps of 16 gave 3.3× the real-vs-real floor on Twemoji against 4.7×, and 3.6× against
4.4× on Google's emoji, with whiter backgrounds (benchmarks/README.md, "Batch 16 where a budget buys few steps").
Where a budget buys 8,000 steps of 32 (a fast CPU's 30 minutes) a smaller batch is unmeasured: 32 stays. On grayscale
Fashion-MNIST the smaller batch gave nothing at equal images (FD 10.78 against 10.72): 32 stays there too.
At 64 px with patch 2 (what a CPU trains, train_config.patch_on), 120 minutes on that CPU bought 10,000–12,000 steps of
32's images; in steps of 16 they gave 3.4× the floor on Twemoji against 3.9× at 32, better with every sampler
(benchmarks/README.md, "Batch 16 under patches"). On a CPU with AVX512-BF16 (120 img/s) 120 minutes at 16 saw 24,800
steps of 32's images and reached 3.0× on Google's emoji, the held-out kind ("On a CPU with AVX512-BF16"); 32 is
unmeasured there, so 16 stays the choice up to that many images, with room.
"""

from __future__ import annotations

from collections.abc import Mapping

AUTO = 0  # `--batch auto`: chosen here when the run is made
FULL_BATCH = 32  # the batch of every study row, and auto's choice with --steps or where a budget buys enough steps
SMALLER_BATCH = 16
# The kinds of run measured, `tiny` on colour at (resolution, patch size), and for each the images a budget buys at
# batch 32 below which the smaller batch is chosen: what was measured, with room, and below what a fast CPU buys
# (32 px: 1,300 steps of 32 measured, a fast CPU's 30 minutes 8,484; 64 px, patch 2: 10,000–12,000 measured in 120
# minutes on an AVX2 CPU and 24,800 on one with AVX512-BF16, a fast CPU's about 40,000)
FEW_IMAGES = {(32, 1): 3000 * FULL_BATCH, (64, 2): 28000 * FULL_BATCH}
# the smaller batch only where an image costs about as much in it as at 32 (on a GPU small batches waste the
# device), and the study did not measure what far fewer images in more steps would give. On this CPU the share is
# about 0.9 (0.94 at 32 px by cpu_step.py), but the quick measurement a run is chosen by (a median of three steps per
# batch, one batch after the other) read 0.68 to 1.24 round by round on a shared 2-core machine
# (benchmarks/batch_share.py): a threshold at 0.85 chose 32 in 7 of 16 rounds, so it sits below that noise.
MIN_SPEED_SHARE = 0.6
BATCHES_MEASURED = (FULL_BATCH, SMALLER_BATCH)  # the batches whose speed the choice needs


def batch_of_several_processes(batch: int) -> int:
    """The batch that several processes (torchrun) train with: auto is FULL_BATCH, since each process would measure
    its own speed and might choose another batch."""
    return batch or FULL_BATCH


def few_images(preset: str, channels: int | None, resolution: int, patch_size: int) -> int | None:
    """The images (at batch 32) below which a budget trains at SMALLER_BATCH, for a kind of run the study measured
    (`tiny`, colour, at a resolution and patch size of FEW_IMAGES); None for any other kind."""
    return FEW_IMAGES.get((resolution, patch_size)) if preset == "tiny" and channels == 3 else None


def decided_by_speed(minutes: float | None, preset: str, channels: int | None, resolution: int,
                     patch_size: int) -> bool:
    """Whether auto's choice depends on this machine's speed: a time budget on a folder of a studied kind (else it
    is FULL_BATCH, and nothing need be measured)."""
    return minutes is not None and few_images(preset, channels, resolution, patch_size) is not None


def buys_few_images(minutes: float | None, preset: str, channels: int | None, resolution: int, patch_size: int,
                    images_per_s: float) -> bool:
    """Whether `minutes` at this speed see fewer images than the study's limit for this kind of run: the regime
    where smaller steps did better."""
    limit = few_images(preset, channels, resolution, patch_size)
    return minutes is not None and limit is not None and minutes * 60 * images_per_s < limit


def auto_batch(minutes: float | None, preset: str, channels: int | None, resolution: int, patch_size: int,
               images_per_s: Mapping[int, float]) -> int:
    """The batch for a run: SMALLER_BATCH where a time budget buys fewer images than FEW_IMAGES at batch 32 and an
    image costs about as much at SMALLER_BATCH (`images_per_s`: measured at each of BATCHES_MEASURED), else 32."""
    full, smaller = images_per_s.get(FULL_BATCH), images_per_s.get(SMALLER_BATCH)
    if not full or not smaller:
        return FULL_BATCH
    cheap_enough = smaller >= MIN_SPEED_SHARE * full
    few = buys_few_images(minutes, preset, channels, resolution, patch_size, full)
    return SMALLER_BATCH if few and cheap_enough else FULL_BATCH
