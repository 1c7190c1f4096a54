"""What the GUI (and the CLI) ask the jobs for: one typed request per job, naming the function that runs it.
Torch-free: the GUI thread builds requests, and the worker thread imports the job's module (and torch) when it
runs one (`job_function`). Adding a job is a request here and its function in the module the request names."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any, ClassVar


@dataclass(frozen=True)
class Request:
    JOB: ClassVar[str]  # "module.function", the module under diffstudio.core


def job_function(request: Request):
    """The generator function that runs `request` (importing its module: call it in the worker thread)."""
    module, name = request.JOB.rsplit(".", 1)
    return getattr(import_module(f"diffstudio.core.{module}"), name)


def run_request(request: Request):
    """The job's items, as a generator."""
    return job_function(request)(request)


# Images are a file path or an (H, W, C) uint8 array; `sampler` holds SamplerSettings' fields; `condition` is
# {"class_name": a class, MIXED or None, "guidance": s} (sampling.conditioned); `device` is a choices.DEVICES name.

@dataclass(frozen=True)
class DeviceRequest(Request):
    JOB = "jobs.device.device_job"
    device: str = "auto"


@dataclass(frozen=True)
class ForwardRequest(Request):
    JOB = "jobs.forward.forward_job"
    image: str
    noise_steps: int  # the paper's t: 0 (the image) … T
    beta_schedule: str


@dataclass(frozen=True)
class SamplingSpeedRequest(Request):
    """How long one network evaluation of one image takes with this checkpoint on this device."""

    JOB = "jobs.sampling.sampling_speed_job"
    checkpoint: str
    device: str = "auto"


@dataclass(frozen=True)
class SampleRequest(Request):
    """Images first … first + count − 1 of a run of `total` images (None: count), each from its own noise
    (seed, image index), at `resolution` (None: the model's)."""

    JOB = "jobs.sampling.sample_job"
    checkpoint: str
    sampler: dict
    count: int
    seed: int
    condition: dict | None = None
    device: str = "auto"
    first: int = 0
    total: int | None = None
    resolution: int | None = None


@dataclass(frozen=True)
class VaryRequest(Request):
    """Fig. 7: variations of image `image` of the run `sample` from its step `from_index`."""

    JOB = "jobs.sampling.vary_job"
    sample: SampleRequest
    from_index: int
    image: int
    variations: int


@dataclass(frozen=True)
class CompareRequest(Request):
    JOB = "jobs.sampling.compare_job"
    checkpoint: str
    samplers: list[dict]
    count: int
    seed: int
    condition: dict | None = None
    device: str = "auto"


@dataclass(frozen=True)
class InpaintRequest(Request):
    """RePaint: fill in where `mask` ((H, W) bool, any size) is True, `count` times."""

    JOB = "jobs.editing.inpaint_job"
    checkpoint: str
    image: Any
    mask: Any
    count: int
    seed: int
    steps: int
    jump_length: int
    resamples: int
    condition: dict | None = None
    device: str = "auto"


@dataclass(frozen=True)
class SDEditRequest(Request):
    """SDEdit: `count` variations of the image from `strength` (t/T, 0 … 1) of noise."""

    JOB = "jobs.editing.sdedit_job"
    checkpoint: str
    image: Any
    strength: float
    count: int
    seed: int
    sampler: dict
    condition: dict | None = None
    device: str = "auto"


STRIP_LAMBDAS = tuple(i / 10 for i in range(11))  # the Interpolate panel's strip: λ = 0, 0.1, … 1


@dataclass(frozen=True)
class InterpolateRequest(Request):
    """The strip `lambdas` and the chosen `lam`, decoded in one batch from t steps of noise. A t past the model's T
    is taken as T with `clamp_t` (the panel's slider, before it learns T), else refused."""

    JOB = "jobs.editing.interpolate_job"
    checkpoint: str
    source_a: Any
    source_b: Any
    t: int
    lam: float
    seed: int
    encode_mode: str
    mix_mode: str
    sampler: dict
    condition: dict | None = None
    device: str = "auto"
    lambdas: tuple[float, ...] = STRIP_LAMBDAS
    clamp_t: bool = True
    kept: object = None  # InterpolationFrame.kept of the strip on screen


@dataclass(frozen=True)
class EvaluateRequest(Request):
    JOB = "jobs.evaluation.evaluate_job"
    checkpoint: str
    data: str | None  # the real images (None: the folder the run trained on)
    settings: dict  # EvaluateSettings' fields, the sampler's as a dict
    device: str = "auto"


@dataclass(frozen=True)
class DatasetRequest(Request):
    JOB = "jobs.training.dataset_job"
    folder: str
    resolution: int
    classes: bool = True


@dataclass(frozen=True)
class SpeedRequest(Request):
    JOB = "jobs.training.speed_job"
    preset: str
    resolution: int
    batch: int
    device: str = "auto"
    precision: str = "auto"
    patch_size: int = 0  # auto: chosen for the device (TrainConfig.patch_on)


@dataclass(frozen=True)
class TrainRequest(Request):
    """A new run (`config`: TrainConfig's fields) or the run `run` resumed (config None; `steps` a new total,
    `changes` other train_config.RESUME_CHANGES)."""

    JOB = "jobs.training.train_job"
    run: str
    config: dict | None
    device: str = "auto"
    steps: int | None = None
    changes: dict | None = None
    decoded: object = None  # DatasetSummary.decoded of the folder, if the GUI read it
    images_per_s: dict | None = None  # speeds the GUI measured for these settings, by batch: --batch auto's choice


@dataclass(frozen=True)
class DistillRequest(Request):
    """A student of the run `run` (distillation.DistillSettings' fields in `settings`), on its training images or
    on `data`."""

    JOB = "jobs.distillation.distill_job"
    run: str
    settings: dict
    data: str | None = None
    device: str = "auto"


@dataclass(frozen=True)
class ExportDiffusersRequest(Request):
    JOB = "jobs.run_files.export_diffusers_job"
    run: str
    out: str
    licence: str = "other"  # the model card's, a Hub licence id (storage/model_card.py)


@dataclass(frozen=True)
class ImportDiffusersRequest(Request):
    JOB = "jobs.run_files.import_diffusers_job"
    folder: str
    run: str


@dataclass(frozen=True)
class ImportHubRequest(Request):
    """A diffusers model from the Hugging Face Hub (storage/hub.py) as a new run."""

    JOB = "jobs.run_files.import_hub_job"
    repo: str  # org/name or org/name@revision
    run: str


@dataclass(frozen=True)
class ToyRequest(Request):
    """Train the playground's MLP on a preset, or on points drawn around `clicks`."""

    JOB = "jobs.playground.toy_job"
    name: str
    count: int
    steps: int
    seed: int
    sampler: dict
    clicks: list[tuple[float, float]] | None = None
    beta_schedule: str = "linear"


@dataclass(frozen=True)
class ToyNoisedRequest(Request):
    JOB = "jobs.playground.toy_noised_job"
    name: str
    count: int
    seed: int
    t: int
    beta_schedule: str = "linear"


@dataclass(frozen=True)
class ToyPathsRequest(Request):
    JOB = "jobs.playground.toy_paths_job"
    trained: object  # ToyView.trained
    start: list[float]
    steps: int = 50
    draws: int = 5


@dataclass(frozen=True)
class ToyFieldRequest(Request):
    JOB = "jobs.playground.toy_field_job"
    trained: object  # ToyView.trained
    t: int


# --- run folders: torch-free jobs (run_folders.py), on a runner of their own ---

@dataclass(frozen=True)
class ListRunsRequest(Request):
    JOB = "jobs.run_folders.list_runs_job"
    root: str


@dataclass(frozen=True)
class RenameRunRequest(Request):
    JOB = "jobs.run_folders.rename_run_job"
    name: str
    new_name: str
    root: str


@dataclass(frozen=True)
class DeleteRunRequest(Request):
    JOB = "jobs.run_folders.delete_run_job"
    name: str
    root: str


@dataclass(frozen=True)
class DeleteStudentRequest(Request):
    JOB = "jobs.run_folders.delete_student_job"
    path: str  # RUN/students/steps_N.safetensors


@dataclass(frozen=True)
class DuplicateRunRequest(Request):
    JOB = "jobs.run_folders.duplicate_run_job"
    name: str
    new_name: str
    root: str


@dataclass(frozen=True)
class CopyRunRequest(Request):
    JOB = "jobs.run_folders.copy_run_job"
    source: str
    target: str
