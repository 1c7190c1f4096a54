"""How good is a model, and is it copying its training images? Samples against the real images it trained on.

The folder is split (seeded) into a reference half and a held-out half. The samples' metrics are measured
against the reference half, and so are as many held-out images (all of them, where there are fewer): that
real-vs-real row is the floor a perfect model would reach. Memorisation compares each sample with every
training image in pixels.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from diffstudio.core.data import DatasetReport, load_image_folder
from diffstudio.core.diffusion.samplers import final_sample, run_sampler
from diffstudio.core.diffusion.sampling import seeded_start
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.evaluate_settings import FD_MIN_SAMPLES, MOST_COPIED, MOST_COPIED_COLUMNS, EvaluateSettings
from diffstudio.core.images import image_grid, to_uint8_tensor
from diffstudio.core.metrics.features import extract, feature_extractor
from diffstudio.core.metrics.frechet import frechet_distance
from diffstudio.core.metrics.kid import KID, kernel_inception_distance
from diffstudio.core.metrics.manifold import Manifold, manifold_metrics
from diffstudio.core.metrics.neighbours import Neighbours, nearest_two
from diffstudio.core.progress import SamplingProgress
from diffstudio.core.storage.checkpoint import Denoiser
from diffstudio.core.storage.run_folder import read_run_config

MIN_REAL_IMAGES = 20


@dataclass(frozen=True)
class Scores:
    """One row of the table: a set of images against the reference half."""

    count: int
    kid: KID
    manifold: Manifold
    fd: float | None  # None below FD_MIN_SAMPLES


@dataclass
class Evaluation:
    settings: EvaluateSettings
    model: Scores  # the samples
    floor: Scores  # the held-out real images
    neighbours: Neighbours  # of each sample among all training images, in pixels
    training_d1: torch.Tensor  # each training image's nearest other training image (leave-one-out)
    samples: np.ndarray  # (N, H, W, C) uint8
    training: np.ndarray  # (M, H, W, C) uint8

    @property
    def memorised_fraction(self) -> float:
        return self.neighbours.memorised_fraction()

    def fd_note(self) -> str:
        return (f"FD not computed: it needs at least {FD_MIN_SAMPLES:,} samples and as many held-out images "
                f"(here {self.model.count:,} and {self.floor.count:,}); KID is unbiased at any size")


class CurveMeasure:
    """The cheap measure a training run can log every K steps: the KID of a few hundred samples against the
    training images on the random network's features, and the share of the samples that copy a training image.
    The training images' features are computed once."""

    SUBSETS = 50

    def __init__(self, training: torch.Tensor):
        self.training = training  # uint8, perhaps memory-mapped: read a block at a time, never made float whole
        self.extractor = feature_extractor("random")
        self.training_features = extract(lambda block: self.extractor(as_model_range(block)), training)

    def __call__(self, samples: torch.Tensor) -> dict[str, float]:
        """`samples`: (N, C, H, W) uint8. The numbers that go into log.jsonl."""
        kid = kernel_inception_distance(self.training_features, extract(self.extractor, as_model_range(samples)),
                                        subsets=self.SUBSETS)
        copies = nearest_two(samples, self.training, scale=1 / 255).memorised_fraction()
        return {"kid": kid.mean, "kid_std": kid.std, "memorised": copies, "eval_samples": len(samples)}


def training_images(denoiser: Denoiser, folder: Path | None = None) -> tuple[torch.Tensor, DatasetReport]:
    """The (M, C, H, W) uint8 images of `folder` (default: the one the run trained on) at the model's size."""
    if folder is None and denoiser.kind == "run":
        trained_on = read_run_config(denoiser.source).get("training", {}).get("data")
        folder = denoiser.source / trained_on if trained_on else None
    if folder is None or not Path(folder).is_dir():
        where = f" ({folder} is not a folder)" if folder is not None else ""
        raise DiffstudioError(f"which images did this model learn{where}? Name their folder (--data FOLDER)")
    c = denoiser.config
    dataset, report = load_image_folder(folder, c.resolution, c.channels, "center", flip=False)
    return dataset.images, report


def split_real(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the reference half and of the held-out half of `count` images, seeded."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return order[: count - count // 2], order[count - count // 2:]


def draw_samples(denoiser: Denoiser, settings: EvaluateSettings) -> Iterator[SamplingProgress | torch.Tensor]:
    """The samples as (N, C, H, W) uint8, as they would be saved, a batch at a time (progress after each); image i
    of the seed the same at any batch size; unconditional for a class-conditional model (the folder mixes its
    classes)."""
    c = denoiser.config
    network, batches, started = denoiser.network(None, autoguidance=settings.sampler.autoguidance), [], time.monotonic()
    for first in range(0, settings.samples, settings.batch):
        count = min(settings.batch, settings.samples - first)
        x, generators = seeded_start(settings.seed, count, c.channels, c.resolution, denoiser.device, first=first)
        with torch.inference_mode():
            batches.append(final_sample(run_sampler(network, denoiser.schedule, x, generators, settings.sampler)).cpu())
        yield SamplingProgress(first + count, settings.samples, time.monotonic() - started)
    yield to_uint8_tensor(torch.cat(batches))


def scores(features: torch.Tensor, reference: torch.Tensor, manifold_count: int, seed: int) -> Scores:
    """KID and FD on every row of `features` (KID is unbiased at any size; FD only from FD_MIN_SAMPLES), the
    manifold metrics, which depend on the set's size, on the first `manifold_count`."""
    fd = frechet_distance(features.double().numpy(), reference.double().numpy()) \
        if min(len(features), len(reference)) >= FD_MIN_SAMPLES else None
    return Scores(len(features), kernel_inception_distance(reference, features, seed=seed),
                  manifold_metrics(reference, features[:manifold_count]), fd)


def evaluate(denoiser: Denoiser, training: torch.Tensor, settings: EvaluateSettings
             ) -> Iterator[SamplingProgress | Evaluation]:
    """`training`: the (M, C, H, W) uint8 images the model was trained on. Yields sampling progress, then the
    evaluation."""
    if len(training) < MIN_REAL_IMAGES:
        raise DiffstudioError(f"evaluation needs at least {MIN_REAL_IMAGES} training images to compare with, "
                              f"the folder has {len(training)}")
    c = denoiser.config
    if tuple(training.shape[1:]) != (c.channels, c.resolution, c.resolution):
        raise DiffstudioError(f"the images are {tuple(training.shape[1:])} (C, H, W) but the model makes "
                              f"{(c.channels, c.resolution, c.resolution)}: read them at the model's size")
    extractor = feature_extractor(settings.features, settings.inception, denoiser.device)  # before the long part
    samples = None
    for item in draw_samples(denoiser, settings):
        if isinstance(item, SamplingProgress):
            yield item
        else:
            samples = item
    yield measure(samples, training, settings, extractor)


def measure(samples: torch.Tensor, training: torch.Tensor, settings: EvaluateSettings,
            extractor: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Evaluation:
    """Samples (or any images: real test images give a real-vs-real row) against the training images, both
    (N, C, H, W) uint8. `extractor`: settings.features' (default: made here, on the CPU)."""
    extractor = extractor or feature_extractor(settings.features, settings.inception)
    sample_features = extract(extractor, as_model_range(samples))
    real_features = extract(extractor, as_model_range(training))
    reference, held_out = split_real(len(training), settings.seed)
    same_size = min(len(samples), len(held_out))
    model = scores(sample_features, real_features[reference], same_size, settings.seed)
    # the floor at the samples' count where the folder allows: FD is biased by 1/n, recall grows with the set
    floor = scores(real_features[held_out[:same_size]], real_features[reference], same_size, settings.seed)
    pixels = 1 / 255  # distances between images in [0, 1] units
    return Evaluation(settings, model, floor, nearest_two(samples, training, scale=pixels),
                      nearest_two(training, training, exclude_self=True, scale=pixels).d1,
                      channels_last(samples), channels_last(training))


def as_model_range(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1


def channels_last(images: torch.Tensor) -> np.ndarray:
    return images.permute(0, 2, 3, 1).numpy()


def score_cells(s: Scores) -> dict[str, str]:
    return {"KID ×10³": f"{s.kid.mean * 1e3:.2f} ± {s.kid.std * 1e3:.2f}", "precision": f"{s.manifold.precision:.3f}",
            "recall": f"{s.manifold.recall:.3f}", "density": f"{s.manifold.density:.3f}",
            "coverage": f"{s.manifold.coverage:.3f}", "FD": "-" if s.fd is None else f"{s.fd:.2f}"}


def table_rows(e: Evaluation) -> list[tuple[str, str, str]]:
    """(measure, the samples, the held-out real images): the table the CLI prints and the GUI shows."""
    model, floor = score_cells(e.model), score_cells(e.floor)
    copied = int(e.neighbours.copied().sum())
    rows = [("images", f"{e.model.count:,} samples", f"{e.floor.count:,} held-out real")]
    rows += [(name, model[name], floor[name]) for name in model]
    rows.append(("copies (d1 < d2/3)", f"{100 * e.memorised_fraction:.1f} % ({copied} of {e.model.count:,})", "-"))
    rows.append(("nearest training image, median d1", f"{float(e.neighbours.d1.median()):.4f}",
                 f"{float(e.training_d1.median()):.4f} (training images' own)"))
    return rows


def summary(e: Evaluation) -> dict:
    """The evaluation as JSON-able numbers, with every sample size."""
    def numbers(s: Scores) -> dict:
        return {"count": s.count, "kid": s.kid.mean, "kid_std": s.kid.std, "kid_subsets": s.kid.subsets,
                "kid_subset_size": s.kid.subset_size, "precision": s.manifold.precision,
                "recall": s.manifold.recall, "density": s.manifold.density, "coverage": s.manifold.coverage,
                "manifold_count": s.manifold.fake, "reference_count": s.manifold.real, "fd": s.fd}

    return {"features": e.settings.features, "seed": e.settings.seed, "sampler": asdict(e.settings.sampler),
            "samples": numbers(e.model), "held_out": numbers(e.floor), "memorised_fraction": e.memorised_fraction,
            "d1_median": float(e.neighbours.d1.median()), "training_d1_median": float(e.training_d1.median()),
            "training_images": len(e.training)}


def most_copied(e: Evaluation, count: int = MOST_COPIED) -> tuple[torch.Tensor, torch.Tensor]:
    """The `count` samples with the smallest d1/d2 (Gu et al.'s copy measure), the most copied first: their
    indices and their ratios."""
    ratios = e.neighbours.d1 / e.neighbours.d2.clamp_min(1e-12)
    order = torch.argsort(ratios)[:count]
    return order, ratios[order]


def most_copied_grid(e: Evaluation, count: int = MOST_COPIED, columns: int = MOST_COPIED_COLUMNS) -> np.ndarray:
    """(H, W, C) uint8: the samples with the smallest d1/d2 first, each beside its nearest training image (a thin
    white line between the two, a wider grey one between pairs)."""
    order, _ = most_copied(e, count)
    samples, nearest = e.samples[order.numpy()], e.training[e.neighbours.nearest[order].numpy()]
    line = np.full((*samples.shape[:2], 1, samples.shape[3]), 255, dtype=np.uint8)
    return image_grid(np.concatenate([samples, line, nearest], axis=2), columns=columns, pad=4)


def distance_histograms(e: Evaluation, bins: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin centres and the densities of the samples' d1 and of the training images' own leave-one-out d1 there:
    a sample distribution shifted left of the training one, towards 0, is a model copying."""
    d1, own = e.neighbours.d1.numpy(), e.training_d1.numpy()
    edges = np.linspace(0, max(float(d1.max()), float(own.max())) * 1.02 + 1e-9, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    return centres, np.histogram(d1, edges, density=True)[0], np.histogram(own, edges, density=True)[0]
