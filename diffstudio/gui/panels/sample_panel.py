"""Sample: watch the reverse process turn noise into images (the DDPM paper's Fig. 6), then scrub through it."""

from __future__ import annotations

import math
import time
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSlider,
    QSpinBox, QVBoxLayout, QWidget,
)

from diffstudio.core.images import save_png
from diffstudio.core.jobs import SampleFrame, sample_job
from diffstudio.core.runs import list_runs
from diffstudio.core.samplers import SamplerSettings
from diffstudio.gui.image_view import ImageView
from diffstudio.gui.worker import JobRunner
from diffstudio.terminal import format_duration

JOB = "sample"
MAX_STORED_FRAMES = 100  # the timeline keeps about this many steps, evenly spread
SAMPLERS = {  # label → settings (steps and η come from their own fields)
    "DDIM": SamplerSettings(kind="ddim"),
    "DDPM, σ² = β̃ (posterior)": SamplerSettings(kind="ddpm", variance="beta_tilde"),
    "DDPM, σ² = β": SamplerSettings(kind="ddpm", variance="beta"),
}


def eta_text(elapsed_s: float, done: int, total: int) -> str:
    if done >= total:
        return f"done in {format_duration(elapsed_s)}"
    rate = done / elapsed_s if elapsed_s > 0 else 0
    return f"{rate:.1f} steps/s, {format_duration((total - done) / rate)} left" if rate else "starting…"


class SamplePanel(QWidget):
    status = Signal(str)

    def __init__(self, runner: JobRunner, runs_root: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner, self.runs_root = runner, runs_root
        self.frames: list[SampleFrame] = []
        self.final_images = None

        self.checkpoint = QComboBox()
        self.checkpoint.setToolTip("A run from the Checkpoints panel, or a diffusers folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse_checkpoint)
        checkpoint_row = QHBoxLayout()
        checkpoint_row.addWidget(self.checkpoint, 1)
        checkpoint_row.addWidget(browse)

        self.sampler = QComboBox()
        self.sampler.addItems(list(SAMPLERS))
        self.sampler.setToolTip("DDPM: Algorithm 2, one model call per timestep (1000).\n"
                                "DDIM: a deterministic (η = 0) shortcut through fewer timesteps.")
        self.steps = QSpinBox(minimum=1, maximum=1000, value=50)
        self.steps.setToolTip("DDIM steps: model calls from pure noise to the image")
        self.eta = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.1, value=0.0)
        self.eta.setToolTip("η: DDIM's noise per step. 0 is deterministic; 1 adds as much as DDPM's β̃")
        self.count = QSpinBox(minimum=1, maximum=256, value=16)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.seed.setToolTip("The same seed and settings give the same images")
        self.sampler.currentTextChanged.connect(self.update_enabled)

        self.start_button = QPushButton("Sample")
        self.start_button.setShortcut("Ctrl+Return")
        self.start_button.setToolTip("Start sampling (Ctrl+Enter)")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setShortcut("Esc")
        self.cancel_button.clicked.connect(lambda: self.runner.cancel(JOB))
        self.save_button = QPushButton("Save images…")
        self.save_button.clicked.connect(self.save_images)

        form = QFormLayout()
        form.addRow("Checkpoint", checkpoint_row)
        form.addRow("Sampler", self.sampler)
        form.addRow("DDIM steps", self.steps)
        form.addRow("η (eta)", self.eta)
        form.addRow("Images", self.count)
        form.addRow("Seed", self.seed)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.cancel_button, self.save_button):
            buttons.addWidget(button)
        controls = QVBoxLayout()
        controls.addLayout(form)
        controls.addLayout(buttons)
        controls.addStretch(1)
        controls_widget = QWidget()
        controls_widget.setLayout(controls)
        controls_widget.setFixedWidth(400)

        self.x_t_view, self.x0_view = ImageView("x_t appears here"), ImageView("x̂₀ appears here")
        self.x_t_view.setToolTip("x_t: the sample at timestep t, from pure noise (t = T) to the image (t = 0)")
        self.x0_view.setToolTip("x̂₀: the clean image the model predicts from x_t at this step")
        views = QHBoxLayout()
        for title, view in (("x_t", self.x_t_view), ("predicted x̂₀", self.x0_view)):
            column = QVBoxLayout()
            column.addWidget(QLabel(f"<b>{title}</b>"), 0, Qt.AlignmentFlag.AlignHCenter)
            column.addWidget(view, 1)
            views.addLayout(column, 1)
        self.timeline = QSlider(Qt.Orientation.Horizontal)
        self.timeline.setToolTip("Scrub through the stored steps of the last run")
        self.timeline.valueChanged.connect(self.show_frame)
        self.timeline_label = QLabel("no run yet")
        self.progress = QProgressBar()
        timeline_row = QHBoxLayout()
        timeline_row.addWidget(self.timeline, 1)
        timeline_row.addWidget(self.timeline_label)
        right = QVBoxLayout()
        right.addLayout(views, 1)
        right.addLayout(timeline_row)
        right.addWidget(self.progress)

        layout = QHBoxLayout(self)
        layout.addWidget(controls_widget)
        layout.addLayout(right, 1)

        runner.progress.connect(self.on_progress)
        for signal in (runner.started, runner.finished, runner.cancelled):
            signal.connect(self.update_enabled)
        runner.failed.connect(lambda *_: self.update_enabled())
        self.refresh_checkpoints()
        self.update_enabled()

    # --- checkpoints ---

    def refresh_checkpoints(self) -> None:
        last = QSettings().value("sample/checkpoint", "", str)
        self.checkpoint.clear()
        for info in list_runs(self.runs_root):
            if not info.error:
                self.checkpoint.addItem(f"{info.name}  ({info.preset}, {info.resolution}px, step {info.step})",
                                        str(info.path))
        if last and self.checkpoint.findData(last) < 0 and Path(last).exists():
            self.checkpoint.addItem(Path(last).name, last)
        if (index := self.checkpoint.findData(last)) >= 0:
            self.checkpoint.setCurrentIndex(index)

    def browse_checkpoint(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a run folder or a diffusers folder")
        if folder:
            self.select_checkpoint(folder)

    def select_checkpoint(self, path: str) -> None:
        if self.checkpoint.findData(path) < 0:
            self.checkpoint.addItem(Path(path).name, path)
        self.checkpoint.setCurrentIndex(self.checkpoint.findData(path))

    # --- running ---

    def settings(self) -> SamplerSettings:
        base = SAMPLERS[self.sampler.currentText()]
        return SamplerSettings(base.kind, self.steps.value(), self.eta.value(), base.variance)

    def start(self) -> None:
        checkpoint = self.checkpoint.currentData()
        if not checkpoint:
            self.status.emit("Choose a checkpoint first")
            return
        QSettings().setValue("sample/checkpoint", checkpoint)
        self.frames, self.final_images = [], None
        self.progress.setValue(0)
        self.started_at = time.monotonic()
        self.runner.submit(JOB, sample_job, checkpoint, self.settings(), self.count.value(), self.seed.value())

    def on_progress(self, job: str, frame: SampleFrame) -> None:
        if job != JOB:
            return
        stride = max(1, math.ceil(frame.total / MAX_STORED_FRAMES))
        if not self.frames or frame.index - self.frames[-1].index >= stride or frame.index == frame.total:
            self.frames.append(frame)
        if frame.images is not None:
            self.final_images = frame.images
        self.progress.setMaximum(frame.total)
        self.progress.setValue(frame.index)
        self.progress.setFormat(f"%p%  ·  {eta_text(time.monotonic() - self.started_at, frame.index, frame.total)}")
        following = self.timeline.value() == self.timeline.maximum()
        self.timeline.setMaximum(len(self.frames) - 1)
        if following:  # the slider rides along unless the user is looking back
            self.timeline.setValue(len(self.frames) - 1)
        self.show_frame(self.timeline.value())

    def show_frame(self, position: int) -> None:
        if not 0 <= position < len(self.frames):
            return
        frame = self.frames[position]
        self.x_t_view.set_image(frame.x_t)
        self.x0_view.set_image(frame.x0_pred)
        self.timeline_label.setText(f"step {frame.index}/{frame.total}, t = {frame.t}")

    def update_enabled(self, *_: object) -> None:
        running = self.runner.is_active(JOB)
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.save_button.setEnabled(self.final_images is not None and not running)
        ddim = SAMPLERS[self.sampler.currentText()].kind == "ddim"
        self.steps.setEnabled(ddim)
        self.eta.setEnabled(ddim)

    def save_images(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save the images into")
        if folder:
            self.write_images(Path(folder))

    def write_images(self, folder: Path) -> None:
        for i, image in enumerate(self.final_images):
            save_png(image, folder / f"sample_{i:04d}.png")
        save_png(self.frames[-1].x_t, folder / "grid.png")
        self.status.emit(f"Saved {len(self.final_images)} images and grid.png to {folder}")
