"""Sample: watch the reverse process turn noise into images (the DDPM paper's Fig. 6), then scrub through it."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRect, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from diffstudio.core.animation import animation_frame, save_animation
from diffstudio.core.command_settings import SampleSettings
from diffstudio.core.diffusion.sampler_settings import SamplerSettings
from diffstudio.core.images import grid_cell, grid_cell_at, grid_cell_origin, grid_columns, image_grid, save_png
from diffstudio.core.jobs.messages import SampleFrame, SamplingSpeed
from diffstudio.core.jobs.requests import SampleRequest, SamplingSpeedRequest, VaryRequest
from diffstudio.core.progress import eta_text, format_duration
from diffstudio.gui.checkpoint_picker import CheckpointPicker
from diffstudio.gui.class_controls import ClassControls
from diffstudio.gui.compare_dialog import CompareDialog
from diffstudio.gui.image_view import ImageView
from diffstudio.gui.job_names import MEASURING_SAMPLING, SAMPLING
from diffstudio.gui.layout import push_button, side_by_side, titled, two_columns
from diffstudio.gui.remembered import restore_values, save_values
from diffstudio.gui.runs_model import RunsModel
from diffstudio.gui.sampler_controls import SamplerControls
from diffstudio.gui.setting_widgets import declared_widget
from diffstudio.gui.worker import JobRunner

VARIATIONS = 8  # default count of "vary from here"
VARY_HINT = "Click an image in the grids, scrub to a step, then vary it."
MAX_STORED_FRAMES = 100  # the timeline keeps about this many steps, evenly spread
AUTO_SAMPLE_MAX_S = 30  # a first look that would take longer (the paper's 256-px models on a CPU) waits for Sample


class SamplePanel(QWidget):
    status = Signal(str)

    def __init__(self, runner: JobRunner, runs: RunsModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner, self.runs = runner, runs
        self.frames: list[SampleFrame] = []
        self.final_images = None
        self.request: SampleRequest | None = None  # the run whose frames are shown: what "vary from here" replays
        self.selected: int | None = None  # the image picked in the grids
        self.started_at = time.monotonic()
        self.speed: SamplingSpeed | None = None  # the chosen checkpoint's, once measured
        self.wants_first_look = False  # images to draw once the checkpoint's speed is measured

        self.checkpoint = CheckpointPicker(runs, "sample/checkpoint")

        self.sampler_controls = SamplerControls("sample", self)
        self.sampler_controls.follow(self.checkpoint)  # a student samples as it was taught
        self.auto_sample = QCheckBox("Sample when a model is chosen")
        self.auto_sample.setChecked(True)
        self.auto_sample.setToolTip("Draw images at once when this panel opens empty or another checkpoint is chosen")
        self.class_controls = ClassControls(self)
        self.redraw = QTimer(self, singleShot=True, interval=300)  # the class and guidance are live
        self.redraw.timeout.connect(self.redraw_for_class)
        self.class_controls.changed.connect(self.redraw.start)
        self.count = declared_widget(SampleSettings, "n", maximum=256)  # a 16 × 16 grid at most
        self.seed = declared_widget(SampleSettings, "seed")
        self.estimate = QLabel()
        self.estimate.setWordWrap(True)  # the controls' column is narrow
        self.estimate.setToolTip("One model call of this checkpoint timed on this device, times the calls of the "
                                 "sampler and the images")
        for signal in (self.count.valueChanged, self.sampler_controls.changed):
            signal.connect(self.show_estimate)

        self.start_button = push_button("Sample", self.start, "Ctrl+Return", "Start sampling (Ctrl+Enter)")
        self.cancel_button = push_button("Cancel", lambda: self.runner.cancel(SAMPLING), "Esc")
        self.save_button = push_button("Save images…", self.save_images, "Ctrl+S",
                                       "Save each final image and the grid as PNGs (Ctrl+S)")
        self.compare_button = push_button("Compare samplers", self.compare, tip=(
            "Draw the same seed with this sampler and the usual others side by side, each with its model calls "
            "and time: what a faster solver buys"))
        self.compare_dialog: CompareDialog | None = None
        self.animate_button = push_button("Save animation…", self.save_animation, tip=(
            "The reverse process as a looping GIF, WebP or animated PNG: x_t beside x̂₀ at each stored step"))
        self.variations = QSpinBox(minimum=2, maximum=64, value=VARIATIONS)
        self.variations.setToolTip("How many endings to draw from the chosen x_t")
        self.vary_button = push_button("Vary from here", self.vary, tip=(
            "The DDPM paper's Fig. 7: keep the chosen image's x_t at the step shown and finish it many times with "
            "fresh noise. Early steps (large t) keep only coarse layout; late steps keep the details.\n"
            "Click an image in the grids to choose it."))
        self.vary_label = QLabel(VARY_HINT)
        self.vary_label.setWordWrap(True)
        self.vary_source = ImageView()
        self.vary_source.setMinimumSize(120, 64)
        self.vary_source.setMaximumHeight(96)
        self.vary_source.setToolTip("Fig. 7's left column: the x_t every variation starts from, beside the image it "
                                    "became in the first run")
        self.vary_source.hide()

        form = QFormLayout()
        form.addRow("Checkpoint", self.checkpoint)
        self.sampler_controls.add_rows(form)
        self.class_controls.add_rows(form)
        form.addRow("Images", self.count)
        form.addRow("", self.estimate)
        form.addRow("Seed", self.seed)
        form.addRow("", self.auto_sample)
        controls = QVBoxLayout()
        controls.addLayout(form)
        controls.addLayout(side_by_side(self.start_button, self.cancel_button, self.compare_button))
        controls.addLayout(side_by_side(self.save_button, self.animate_button))
        controls.addSpacing(16)
        controls.addWidget(QLabel("<b>Vary from here</b> (Fig. 7)"))
        controls.addWidget(self.vary_label)
        controls.addWidget(self.vary_source)
        controls.addLayout(side_by_side(self.vary_button, QLabel("×"), self.variations, stretch=0))

        self.x_t_view = ImageView("Choose a checkpoint and press Sample (Ctrl+Enter):\nnoise turns into images here")
        self.x0_view = ImageView("what the model predicts the finished images to be, step by step")
        self.x_t_view.setToolTip("x_t: the sample at timestep t, from pure noise (t = T) to the image (t = 0)")
        self.x0_view.setToolTip("x̂₀: the clean image the model predicts from x_t at this step")
        for view in (self.x_t_view, self.x0_view):
            view.clicked.connect(self.pick_image)
        views = QHBoxLayout()
        for title, view in (("x_t", self.x_t_view), ("predicted x̂₀", self.x0_view)):
            views.addLayout(titled(title, view), 1)
        self.timeline = QSlider(Qt.Orientation.Horizontal)
        self.timeline.setToolTip("Scrub through the stored steps of the last run")
        self.timeline.valueChanged.connect(self.show_frame)
        self.timeline_label = QLabel("no run yet")
        self.progress = QProgressBar()
        right = QVBoxLayout()
        right.addLayout(views, 1)
        right.addLayout(side_by_side(self.timeline, self.timeline_label, stretch=0))
        right.addWidget(self.progress)
        two_columns(self, controls, right)

        runner.connect_job(SAMPLING, progress=self.on_progress, started=self.update_enabled, ended=self.update_enabled)
        runner.connect_job(MEASURING_SAMPLING, progress=self.on_speed)
        self.remembered = {"count": self.count, "seed": self.seed, "auto": self.auto_sample}
        restore_values("sample", self.remembered)
        self.checkpoint.combo.currentIndexChanged.connect(self.on_checkpoint_changed)
        self.update_enabled()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self.look(sample=not self.frames)

    def redraw_for_class(self) -> None:
        """A class or guidance changed: draw again (a run for the old ones is cancelled)."""
        if self.isVisible() and self.checkpoint.path():
            self.start()

    def on_checkpoint_changed(self, *_: object) -> None:
        self.class_controls.set_classes(self.runs.classes_of(self.checkpoint.path()))
        self.look(sample=True)

    def look(self, sample: bool) -> None:
        """Time one model call of the chosen checkpoint (once: the estimate), then, on first launch or a model
        chosen (`sample`), draw images: noise turning into images is the first thing to see."""
        self.wants_first_look = self.wants_first_look or sample
        if not (self.isVisible() and self.checkpoint.path()):
            return
        if not self.measured():
            self.runner.submit(MEASURING_SAMPLING, SamplingSpeedRequest(self.checkpoint.path()))
        elif self.wants_first_look:
            self.first_look()

    def measured(self) -> bool:
        return self.speed is not None and self.speed.checkpoint == self.checkpoint.path()

    def on_speed(self, speed: SamplingSpeed) -> None:
        self.speed = speed
        self.show_estimate()
        if self.wants_first_look and self.measured():
            self.first_look()

    def first_look(self) -> None:
        """Sample where asked to and the images take a moment only (AUTO_SAMPLE_MAX_S); else say what they cost."""
        self.wants_first_look = False
        if not self.auto_sample.isChecked() or self.runner.is_active(SAMPLING):
            return
        if self.expected_seconds() <= AUTO_SAMPLE_MAX_S:
            self.start()
        else:
            self.status.emit(f"{self.estimate.text()}: press Sample to draw them")

    def expected_seconds(self) -> float:
        return self.speed.seconds(SamplerSettings(**self.sampler_fields()), self.count.value())

    def show_estimate(self, *_: object) -> None:
        if not self.measured():
            self.estimate.setText("")
            return
        seconds = self.expected_seconds()
        took = f"{seconds:.1f} s" if seconds < 60 else format_duration(seconds)
        self.estimate.setText(f"≈ {took} for {self.count.value()} images here "
                              f"({self.speed.seconds_per_call * 1000:,.0f} ms a model call per image)")

    def remember(self) -> None:
        save_values("sample", self.remembered)
        self.sampler_controls.remember()

    # --- running ---

    def sampler_fields(self) -> dict:
        return self.sampler_controls.fields()

    def start(self) -> None:
        checkpoint = self.checkpoint.path()
        if not checkpoint:
            self.status.emit("Choose a checkpoint first")
            return
        self.checkpoint.remember()
        self.request = SampleRequest(checkpoint, self.sampler_fields(), self.count.value(), self.seed.value(),
                                     self.class_controls.condition())
        self.vary_label.setText(VARY_HINT)
        self.vary_source.hide()
        self.run(self.request)

    def compare(self) -> None:
        checkpoint = self.checkpoint.path()
        if not checkpoint:
            self.status.emit("Choose a checkpoint first")
            return
        if self.compare_dialog is None:
            self.compare_dialog = CompareDialog(self.runner, self)
        self.compare_dialog.start(checkpoint, self.sampler_fields(), self.count.value(), self.seed.value(),
                                  self.class_controls.condition())

    def vary(self) -> None:
        frame = self.frames[self.timeline.value()]
        self.vary_label.setText(f"Variations of image {self.selected + 1} from step {frame.index} (t = {frame.t}): "
                                "the shared x_t and the first run's ending")
        tile, count = self.tile_size(), self.request.count
        shared_x_t = grid_cell(frame.x_t, self.selected, tile, count)
        self.vary_source.set_image(image_grid(np.stack([shared_x_t, self.final_images[self.selected]])))
        self.vary_source.show()
        self.run(VaryRequest(self.request, frame.index, self.selected, self.variations.value()))
        self.request = None  # the shown frames are variations now: nothing to replay

    def run(self, request: SampleRequest | VaryRequest) -> None:
        self.frames, self.final_images = [], None
        self.pick_image_index(None)
        self.progress.setValue(0)
        self.started_at = time.monotonic()
        self.runner.submit(SAMPLING, request)

    def pick_image(self, x: int, y: int) -> None:
        frame = self.frames[self.timeline.value()] if self.frames else None
        if frame is not None and self.request is not None:
            self.pick_image_index(grid_cell_at(x, y, self.request.count, self.tile_size()))

    def pick_image_index(self, index: int | None) -> None:
        self.selected = index
        rect = None
        if index is not None:
            tile = self.tile_size()
            top, left = grid_cell_origin(index, tile, tile, grid_columns(self.request.count))
            rect = QRect(left, top, tile, tile)
        for view in (self.x_t_view, self.x0_view):
            view.set_highlight(rect)
        self.update_enabled()

    def tile_size(self) -> int:
        """The side of one image in the grids (the model's resolution)."""
        columns = grid_columns(self.request.count)
        return (self.frames[0].x_t.shape[1] - 2) // columns - 2

    def on_progress(self, frame: SampleFrame) -> None:
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
        self.update_enabled()

    def update_enabled(self, *_: object) -> None:
        running = self.runner.is_active(SAMPLING)
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.save_button.setEnabled(self.final_images is not None and not running)
        self.animate_button.setEnabled(self.final_images is not None and not running)
        position = self.timeline.value()
        self.vary_button.setEnabled(not running and self.request is not None and self.selected is not None
                                    and bool(self.frames) and self.frames[position].index < self.frames[-1].total
                                    and self.final_images is not None)

    def chosen_image(self):
        """The picked final image (else the first) as (H, W, C) uint8, for the Interpolate panel; None if none."""
        if self.final_images is None:
            return None
        return self.final_images[self.selected if self.selected is not None else 0]

    def save_images(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save the images into")
        if folder:
            self.write_images(Path(folder))

    def save_animation(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the reverse process as", "reverse-process.gif",
                                              "GIF (*.gif);;WebP (*.webp);;Animated PNG (*.png)")
        if path:
            self.write_animation(Path(path))

    def write_animation(self, path: Path) -> None:
        try:
            save_animation([animation_frame(f.x_t, f.x0_pred) for f in self.frames], path)
        except (ValueError, OSError) as error:
            self.status.emit(f"Could not save the animation: {error}")
            return
        self.status.emit(f"Saved an animation of {len(self.frames)} steps to {path}")

    def write_images(self, folder: Path) -> None:
        for i, image in enumerate(self.final_images):
            save_png(image, folder / f"sample_{i:04d}.png")
        save_png(self.frames[-1].x_t, folder / "grid.png")
        self.status.emit(f"Saved {len(self.final_images)} images and grid.png to {folder}")
