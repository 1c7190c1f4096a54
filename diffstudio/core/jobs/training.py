"""Training jobs: a folder read and summarised, the speed of a step measured, and a run trained or resumed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from diffstudio.core.batch_choice import AUTO, BATCHES_MEASURED
from diffstudio.core.data import DatasetReport, ImageDataset, find_image_files
from diffstudio.core.devices import pick_device
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.images import image_grid, open_image
from diffstudio.core.jobs.messages import DatasetSummary, SpeedEstimate, TrainProgress
from diffstudio.core.jobs.requests import DatasetRequest, SpeedRequest, TrainRequest
from diffstudio.core.loss_history import LossHistory
from diffstudio.core.metric_history import MetricHistory
from diffstudio.core.progress import ReadProgress
from diffstudio.core.storage.run_folder import LOG_FILE, PREVIEW_FILE, read_run_config
from diffstudio.core.trainer import TrainConfig, Trainer, measure_steps_per_minute
from diffstudio.core.training_data import read_training_folder


@dataclass(frozen=True)
class DecodedFolder:
    """A folder's images decoded for training, with what decided them: the summary shown on choosing a folder and
    the training started from it share one decode, unless a setting or a file changed in between."""

    key: tuple
    dataset: ImageDataset
    report: DatasetReport


def folder_key(config: TrainConfig) -> tuple:
    folder = Path(config.data)
    files = tuple((str(p), p.stat().st_mtime_ns) for p in find_image_files(folder)) if folder.is_dir() else ()
    return (config.data, config.resolution, config.channels, config.crop, config.flip, config.classes == "auto",
            config.data_cache, files)


def read_dataset(config: TrainConfig, decoded: DecodedFolder | None = None) -> Iterator[ReadProgress]:
    """The folder's images, decoded unless `decoded` holds them as `config` asks. Yields reading progress; the
    last item's result is a DecodedFolder. Closing it stops the reading within a moment."""
    key = folder_key(config)
    if decoded is None or decoded.key != key:
        for progress in read_training_folder(config):
            if progress.result is None:
                yield progress
        decoded = DecodedFolder(key, *progress.result)
    yield ReadProgress(len(key[-1]), len(key[-1]), 0.0, decoded)


def dataset_job(r: DatasetRequest) -> Iterator[ReadProgress | DatasetSummary]:
    config = TrainConfig(data=r.folder, resolution=r.resolution, classes="auto" if r.classes else "off")
    for progress in read_dataset(config):
        if progress.result is None:
            yield progress
    decoded = progress.result
    report = decoded.report
    yield DatasetSummary(r.folder, report.summary(), report.count, len(report.skipped),
                         image_grid(decoded.dataset.preview_images(24), columns=8), decoded.dataset.channels,
                         decoded)


def speed_job(r: SpeedRequest) -> Iterator[SpeedEstimate]:
    """Images per second with these settings on this device, at the batch asked or, for auto, at each batch the
    choice needs (trainer.choose_batch). A problem (no such device) is reported in the estimate, not as a failure: the
    user is only choosing."""
    config = TrainConfig(data="", preset=r.preset, resolution=r.resolution, precision=r.precision,
                         patch_size=r.patch_size)
    measured: dict[int, float] = {}
    patch_size = 1
    try:
        device = pick_device(r.device)
        patch_size = config.patch_on(device.type)
        for batch in (r.batch,) if r.batch != AUTO else BATCHES_MEASURED:
            for steps_per_minute in measure_steps_per_minute(replace(config, batch=batch), device):
                speed = steps_per_minute * batch / 60
                yield SpeedEstimate({**measured, batch: speed}, patch_size=patch_size)
            measured[batch] = speed
    except DiffstudioError as e:
        yield SpeedEstimate(measured, str(e), patch_size)


def read_preview(run_dir: Path) -> np.ndarray | None:
    path = run_dir / PREVIEW_FILE
    return np.asarray(open_image(path).convert("RGB")) if path.is_file() else None


def train_job(r: TrainRequest) -> Iterator[ReadProgress | TrainProgress]:
    """Train a new run or resume one. Closing the generator (Stop, or quitting the app) saves a checkpoint at the
    current step."""
    run_dir = Path(r.run)
    new = r.config is not None
    if new:
        config = TrainConfig(**r.config)
        config.validate()  # before reading a big folder
    else:
        config = TrainConfig.from_dict(read_run_config(run_dir).get("training", {}))
    for reading in read_dataset(config, r.decoded):  # a resumed run's folder read as it began: the same disk cache
        if reading.result is None:
            yield reading
    decoded = reading.result
    if new:
        trainer = Trainer.create(run_dir, config, pick_device(r.device), decoded.dataset, decoded.report,
                                 images_per_s=r.images_per_s)
    else:
        trainer = Trainer.resume(run_dir, pick_device(r.device), r.steps, r.changes, decoded.dataset)
    yield from training_progress(trainer, run_dir)


def training_progress(trainer: Trainer, run_dir: Path) -> Iterator[TrainProgress]:
    history, metrics = LossHistory.from_log(run_dir / LOG_FILE), MetricHistory.from_log(run_dir / LOG_FILE)
    progress = TrainProgress(str(run_dir), trainer.step, trainer.config.steps, trainer.config.batch,
                             trainer.last_loss, 0.0, float("nan"),
                             *history.arrays(), read_preview(run_dir), trainer.step, trainer.step, *metrics.arrays())
    yield progress
    try:
        for event in trainer.run():
            history.add(event.step, event.loss)
            progress = replace(progress, step=event.step, loss=event.loss, images_per_s=event.images_per_s,
                               eta_s=event.eta_s)
            progress.loss_steps, progress.loss_values = history.arrays()
            if event.preview is not None:
                progress.preview, progress.preview_step = event.preview, event.step
            if event.checkpoint is not None:
                progress.saved_step = event.step
            if event.metrics is not None:
                metrics.add(event.step, event.metrics)
                progress.metric_steps, progress.kid, progress.kid_std, progress.memorised = metrics.arrays()
            yield progress
    except GeneratorExit:  # stopped: keep what was learned since the last checkpoint
        if trainer.step > progress.saved_step:
            try:
                trainer.save()
            except DiffstudioError as e:
                raise DiffstudioError(f"stopped at step {trainer.step}, but its checkpoint could not be saved: {e} "
                                      f"The run is safe at step {progress.saved_step}: "
                                      f"{trainer.last_checkpoint_text()}") from e
        raise
    finally:
        trainer.close()
