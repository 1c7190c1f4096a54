"""What the jobs yield: small dataclasses of numpy uint8 images, numbers and text, never tensors, so the GUI only
displays them. Torch-free: the GUI imports these at run time.

An item may be dropped when a newer one follows within 1/30 s (gui/worker.py), so every item is a whole state
(the latest preview, the loss curve so far), never a difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from diffstudio.core.diffusion.sampler_settings import SamplerSettings, network_calls

HISTOGRAM_EDGES = np.linspace(-2.5, 2.5, 81)  # the playground's 1-D densities


@dataclass
class Done:
    """A job that makes or changes files reports what it did, and the path it made (or deleted)."""

    message: str
    path: str


@dataclass
class DeviceInfo:
    name: str  # e.g. "CPU (2 threads)" or "CUDA: NVIDIA H100"
    torch_version: str


@dataclass
class ForwardFrame:
    noise_steps: int  # the paper's t: diffusion steps of noise, 0 … T (0: the image itself)
    x_t: np.ndarray  # (H, W, C) uint8
    strip: np.ndarray  # x_t at STRIP_STEPS (scaled to this schedule's T), one row, same noise
    strip_steps: tuple[int, ...]
    alpha_bar: float  # ᾱ_t: the signal's share of the variance
    snr: float
    beta_schedule: str
    curves: dict[str, np.ndarray]  # schedule_curves() of this schedule


@dataclass
class SampleFrame:
    """One reverse step, as the two grids of the DDPM paper's Fig. 6."""

    index: int  # 1 … total
    total: int
    t: int  # the timestep just denoised
    x_t: np.ndarray  # (H, W, C) uint8 grid of the current samples
    x0_pred: np.ndarray  # (H, W, C) uint8 grid of the predicted clean images
    images: np.ndarray | None = None  # on the last frame: the (B, H, W, C) uint8 results


@dataclass
class SamplingSpeed:
    """A checkpoint's measured cost here: what the Sample panel's estimate before starting is made of."""

    checkpoint: str
    seconds_per_call: float  # one network evaluation of one image (time grows about linearly with the batch)
    num_timesteps: int  # the model's T
    has_guide: bool  # autoguidance doubles the calls

    def seconds(self, sampler: SamplerSettings, count: int) -> float:
        """The time `count` images take with this sampler (from T)."""
        calls = sampler.num_model_calls(self.num_timesteps - 1)
        return self.seconds_per_call * calls * count * network_calls(self.has_guide, sampler.autoguidance)


@dataclass
class SamplerResult:
    sampler: dict  # the SamplerSettings fields
    model_calls: int
    seconds: float
    grid: np.ndarray  # (H, W, C) uint8


@dataclass
class ComparisonFrame:
    """The samplers finished so far, and the steps done of all (for progress)."""

    index: int
    total: int
    results: list[SamplerResult]


@dataclass
class InterpolationFrame:
    index: int  # decoding step, 1 … total
    total: int
    t: int
    lam: float
    num_timesteps: int  # the model's T
    sources: np.ndarray  # (2, H, W, C) uint8: the two images as the model sees them (cropped, resized)
    # (H, W, C) uint8: one row of x̂_0 so far at the request's λ values; None while the mix, which comes first,
    # decodes alone
    strip: np.ndarray | None
    result: np.ndarray  # (H, W, C) uint8: x̂_0 so far at the chosen λ
    done: bool
    images: np.ndarray | None  # (L, H, W, C) uint8: the strip's images
    # the strip decoded, opaque to the GUI (editing.KeptStrip), on the last frame: handed back in the next
    # InterpolateRequest, so a move of λ alone does not decode the strip again
    kept: object = None


@dataclass
class EvaluationResult:
    rows: list[tuple[str, str, str]]  # (measure, the samples, the held-out real images): evaluate.table_rows
    notes: list[str]  # what was not measured and why; the data set's summary
    pairs: np.ndarray  # (H, W, C) uint8 grid: the most copied samples first, each beside its nearest training image
    pair_ratios: list[float]  # d1/d2 of each pair, in the grid's order (row by row)
    centres: np.ndarray  # of the histogram bins of the nearest-training-image distance d1
    sample_density: np.ndarray  # of the samples' d1
    training_density: np.ndarray  # of the training images' own (leave-one-out) d1
    summary: dict  # evaluate.summary: every number, JSON-able


@dataclass
class DatasetSummary:
    folder: str
    text: str  # count, sizes, skipped files, warnings
    count: int
    skipped: int
    thumbnails: np.ndarray  # (H, W, C) uint8 grid of the first images, as the model will see them
    channels: int  # 1 if every image is grayscale, else 3
    # the decoded folder, opaque to the GUI: handed back in the TrainRequest started from it, so the folder is
    # decoded once (training.DecodedFolder)
    decoded: object = None


@dataclass
class SpeedEstimate:
    images_per_s: dict[int, float]  # by batch size, as far as measured so far; empty: could not (see `problem`)
    problem: str = ""
    patch_size: int = 1  # the patch size measured (auto's choice on this device)


@dataclass
class TrainProgress:
    run: str  # the run folder
    step: int
    total: int
    batch: int  # the run's images per step (as chosen, for --batch auto)
    loss: float
    images_per_s: float
    eta_s: float
    loss_steps: np.ndarray  # the loss curve so far (binned means, see LossHistory)
    loss_values: np.ndarray
    preview: np.ndarray | None  # the latest grid of EMA samples
    preview_step: int
    saved_step: int  # the step of the newest checkpoint
    # the measured curves so far (eval_every; empty when off): steps, KID, its spread, the copied share
    metric_steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    kid: np.ndarray = field(default_factory=lambda: np.zeros(0))
    kid_std: np.ndarray = field(default_factory=lambda: np.zeros(0))
    memorised: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass
class DistillProgress:
    """distillation.DistillEvent as the CLI and the GUI show it; `index` of `total` counts updates over all rounds."""

    run: str
    round: int
    rounds: int
    student_steps: int
    update: int
    updates: int
    loss: float  # NaN for a round kept from an earlier distillation
    eta_s: float
    saved: str | None  # the round's student, once written
    by_time: bool = False  # a time budget: `updates` is those its minutes buy at the speed so far

    @property
    def index(self) -> int:
        return (self.round - 1) * self.updates + self.update

    @property
    def total(self) -> int:
        return self.rounds * self.updates


@dataclass
class ToyView:
    """toy.ToyFrame as numpy, for the Playground panel."""

    step: int
    total: int
    loss_steps: np.ndarray
    losses: np.ndarray
    distance_steps: np.ndarray
    distances: np.ndarray
    exact_distance: float | None
    data: np.ndarray  # (N, D)
    samples: np.ndarray | None  # (N, D), on the last frame
    exact_samples: np.ndarray | None
    heat: HeatMap | None = None  # 1-D data: q(x_t) over (t, x), with forward paths
    histograms: Histograms | None = None  # 1-D data: the densities of the data and the samples
    # the trained models once training ends, opaque to the GUI: handed back in ToyPathsRequest and ToyFieldRequest
    # (playground.TrainedToy)
    trained: object = None


@dataclass
class Histograms:
    """1-D densities on HISTOGRAM_EDGES' bins (Figs. 18.8 and 18.10's histograms beside the true density)."""

    edges: np.ndarray
    centres: np.ndarray
    data: np.ndarray
    learned: np.ndarray | None
    exact: np.ndarray | None
    true: np.ndarray | None  # the mixture's own density at the bins' centres


@dataclass
class HeatMap:
    """Figs. 18.2–18.4: the density of q(x_t) (rows: x, columns: t) and forward trajectories over it."""

    density: np.ndarray  # (len(xs), len(ts)), each column (one t) scaled to its peak, so every t shows its shape
    ts: np.ndarray
    xs: np.ndarray
    path_ts: np.ndarray  # (L,)
    paths: np.ndarray  # (PATHS, L)


@dataclass
class ToyPaths:
    """Reverse paths from one x_T: ts (L,), then (draws, L, D) points each."""

    ts: np.ndarray
    ode: np.ndarray  # the learned model, DDIM η = 0: the probability-flow ODE (one path)
    sde: np.ndarray  # the learned model, DDPM-like (DDIM η = 1): a path per draw
    exact_ode: np.ndarray | None  # the exact model's ODE path (mixtures)


@dataclass
class ToyField:
    """Segments (pairs of rows) from grid points a quarter of the way to the x̂₀ each model predicts at step t."""

    t: int
    learned: np.ndarray  # (2 n², 2): start, end, start, end, …
    exact: np.ndarray | None


@dataclass
class NoisedPoints:
    t: int
    points: np.ndarray  # (N, D): the data at step t of the forward process
    histogram: np.ndarray | None  # 1-D: their density on the bins of `edges`
    edges: np.ndarray = field(default_factory=lambda: HISTOGRAM_EDGES)
