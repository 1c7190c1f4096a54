"""Edit: inpaint a painted region of an image (RePaint), or redraw a whole image from a noise level (SDEdit)."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QLabel, QProgressBar, QSlider, QTabWidget, QVBoxLayout, QWidget

from diffstudio.core.command_settings import InpaintSettings, SDEditSettings
from diffstudio.core.images import UnreadableImage, open_image
from diffstudio.core.jobs.messages import SampleFrame
from diffstudio.core.jobs.requests import InpaintRequest, SDEditRequest
from diffstudio.core.progress import eta_text
from diffstudio.gui.checkpoint_picker import CheckpointPicker
from diffstudio.gui.class_controls import ClassControls
from diffstudio.gui.file_drop import FileDrop, choose_image_file
from diffstudio.gui.image_view import ImageView
from diffstudio.gui.job_names import EDITING
from diffstudio.gui.layout import push_button, side_by_side, titled, two_columns
from diffstudio.gui.mask_canvas import MaskCanvas
from diffstudio.gui.runs_model import RunsModel
from diffstudio.gui.sampler_controls import SamplerControls
from diffstudio.gui.setting_widgets import declared_widget
from diffstudio.gui.worker import JobRunner


class EditPanel(QWidget):
    status = Signal(str)

    def __init__(self, runner: JobRunner, runs: RunsModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner, self.runs = runner, runs
        self.image: np.ndarray | None = None
        self.final_images: np.ndarray | None = None  # the last results, (n, H, W, C) uint8
        self.started_at = time.monotonic()
        FileDrop(self, lambda path: self.load(str(path)))

        self.checkpoint = CheckpointPicker(runs, "edit/checkpoint")
        self.checkpoint.combo.currentIndexChanged.connect(self.on_checkpoint_changed)
        self.class_controls = ClassControls(self, offer_mixed=False)
        load_button = push_button("Image…", self.choose_image, "Ctrl+O", "Load the image to edit (or drop one here)")

        self.brush = QSlider(Qt.Orientation.Horizontal, minimum=1, maximum=40, value=6)
        self.brush.setToolTip("The brush's radius in the image's pixels")
        self.brush.valueChanged.connect(lambda r: setattr(self.canvas, "brush", r))
        self.erase = QCheckBox("Erase")
        self.erase.toggled.connect(lambda on: setattr(self.canvas, "erasing", on))
        self.steps = declared_widget(InpaintSettings, "steps")
        self.steps.setToolTip("RePaint's reverse steps (a strided subsequence of the model's T)")
        self.jump = declared_widget(InpaintSettings, "jump_length")
        self.jump.setToolTip("Steps back up at each jump, so the painted part and the kept part can agree")
        self.resamples = declared_widget(InpaintSettings, "resamples")
        self.resamples.setToolTip("Passes over each jump (1: no resampling, faster and less coherent)")
        inpaint_form = QFormLayout()
        inpaint_form.addRow("Brush", side_by_side(self.brush, self.erase, stretch=0))
        inpaint_form.addRow("", side_by_side(push_button("Clear", lambda: self.canvas.clear()),
                                             push_button("Invert", lambda: self.canvas.invert())))
        inpaint_form.addRow("Steps", self.steps)
        inpaint_form.addRow("Jump length", self.jump)
        inpaint_form.addRow("Resamples", self.resamples)

        self.strength = QSlider(Qt.Orientation.Horizontal, minimum=1, maximum=100, value=40)
        self.strength.setToolTip("How much noise before redrawing: t/T. Low keeps the image and cleans it; high\n"
                                 "keeps only its layout and colours")
        self.strength_label = QLabel()
        self.strength.valueChanged.connect(self.update_labels)
        self.sampler_controls = SamplerControls("edit", self)
        self.sampler_controls.follow(self.checkpoint)  # a student samples as it was taught
        sdedit_form = QFormLayout()
        sdedit_form.addRow("Strength", side_by_side(self.strength, self.strength_label, stretch=0))
        self.sampler_controls.add_rows(sdedit_form)

        self.modes = QTabWidget()
        for title, form in (("Inpaint", inpaint_form), ("SDEdit", sdedit_form)):
            page = QWidget()
            page.setLayout(form)
            self.modes.addTab(page, title)

        self.count = declared_widget(SDEditSettings, "n", maximum=16)  # side by side: 16 at most
        self.count.setToolTip("How many results, side by side")
        self.seed = declared_widget(SDEditSettings, "seed")
        self.start_button = push_button("Edit", self.start, "Ctrl+Return", "Inpaint or redraw (Ctrl+Enter)")
        self.cancel_button = push_button("Cancel", lambda: self.runner.cancel(EDITING), "Esc")
        form = QFormLayout()
        form.addRow("Checkpoint", self.checkpoint)
        form.addRow("Image", load_button)
        self.class_controls.add_rows(form)
        controls = QVBoxLayout()
        controls.addLayout(form)
        controls.addWidget(self.modes)
        results_form = QFormLayout()
        results_form.addRow("Results", self.count)
        results_form.addRow("Seed", self.seed)
        controls.addLayout(results_form)
        controls.addLayout(side_by_side(self.start_button, self.cancel_button))

        self.canvas = MaskCanvas()
        self.canvas.setToolTip("Paint what the model should fill in (Inpaint); SDEdit redraws the whole image")
        self.results = ImageView("the results appear here")
        self.progress = QProgressBar()
        right = QVBoxLayout()
        right.addLayout(side_by_side(titled("image and mask", self.canvas), titled("results (x_t while it runs)",
                                                                                  self.results)), 1)
        right.addWidget(self.progress)
        two_columns(self, controls, right)
        runner.connect_job(EDITING, progress=self.on_progress, started=self.update_enabled, ended=self.update_enabled)
        self.update_labels()
        self.update_enabled()

    def choose_image(self) -> None:
        choose_image_file(self, "Choose the image to edit", self.load)

    def load(self, path: str) -> None:
        try:
            self.set_image(np.asarray(open_image(path).convert("RGB")))
        except UnreadableImage as e:
            self.status.emit(e.reason)

    def set_image(self, image: np.ndarray) -> None:
        self.image = image
        self.canvas.set_image(image)
        self.update_enabled()

    def on_checkpoint_changed(self) -> None:
        self.class_controls.set_classes(self.runs.classes_of(self.checkpoint.path()))
        self.update_labels()

    def update_labels(self, *_: object) -> None:
        self.strength_label.setText(f"t/T = {self.strength.value() / 100:.2f}")
        # SDEdit starts at t = strength · T: a student takes the steps it was taught below it, DDPM all of them
        num_timesteps = self.runs.num_timesteps_of(self.checkpoint.path())
        self.sampler_controls.set_start_t(round(self.strength.value() / 100 * num_timesteps) - 1, num_timesteps)

    def start(self) -> None:
        checkpoint = self.checkpoint.path()
        if not checkpoint or self.image is None:
            self.status.emit("Choose a checkpoint and an image first")
            return
        self.started_at = time.monotonic()
        condition = self.class_controls.condition()
        if self.modes.currentIndex() == 0:
            mask = self.canvas.mask_array()
            if not mask.any():
                self.status.emit("Paint the part to fill in first")
                return
            self.runner.submit(EDITING, InpaintRequest(checkpoint, self.image, mask, self.count.value(),
                                                       self.seed.value(), self.steps.value(), self.jump.value(),
                                                       self.resamples.value(), condition))
        else:
            strength = self.strength.value() / 100  # t/T: the job takes it in the model's own T
            self.runner.submit(EDITING, SDEditRequest(checkpoint, self.image, strength, self.count.value(),
                                                      self.seed.value(), self.sampler_controls.fields(), condition))

    def on_progress(self, frame: SampleFrame) -> None:
        self.results.set_image(frame.x_t)
        self.progress.setMaximum(frame.total)
        self.progress.setValue(frame.index)
        self.progress.setFormat(f"%p%  ·  {eta_text(time.monotonic() - self.started_at, frame.index, frame.total)}")
        if frame.images is not None:
            self.final_images = frame.images

    def update_enabled(self, *_: object) -> None:
        running = self.runner.is_active(EDITING)
        self.start_button.setEnabled(not running and self.image is not None)
        self.cancel_button.setEnabled(running)

    def remember(self) -> None:
        self.sampler_controls.remember()
