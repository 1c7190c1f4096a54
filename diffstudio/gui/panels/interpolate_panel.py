"""Interpolate: mix two images at a noise level t and decode the mix (the DDPM paper's Fig. 8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QProgressBar, QSlider, QVBoxLayout, QWidget

from diffstudio.core.command_settings import InterpolateSettings
from diffstudio.core.images import UnreadableImage, open_image
from diffstudio.core.jobs.messages import InterpolationFrame
from diffstudio.core.jobs.requests import InterpolateRequest
from diffstudio.gui.checkpoint_picker import CheckpointPicker
from diffstudio.gui.class_controls import ClassControls
from diffstudio.gui.file_drop import FileDrop, choose_image_file
from diffstudio.gui.image_view import ImageView
from diffstudio.gui.job_names import INTERPOLATING
from diffstudio.gui.layout import push_button, side_by_side, titled, two_columns
from diffstudio.gui.remembered import restore_values, save_values
from diffstudio.gui.runs_model import RunsModel
from diffstudio.gui.sampler_controls import SamplerControls
from diffstudio.gui.setting_widgets import declared_widget
from diffstudio.gui.worker import JobRunner

DEBOUNCE_MS = 200  # a slider change starts a job once the slider rests this long
LIVE_DEBOUNCE_MS = 30  # … or, with a distilled student (a few model calls), while it moves
T_MARKS = 125  # the paper's Fig. 8 shows t = 0, 125, 250, … 1000
ENCODE_MODES = {"stochastic: x_t ~ q(x_t | x₀), own noise each (the paper's)": "noise",
                "stochastic: one noise for both": "shared-noise", "deterministic: DDIM inversion": "ddim"}
MIX_MODES = {"lerp (the paper's)": "lerp", "slerp (keeps the noise's norm)": "slerp"}

Source = str | np.ndarray  # an image file, or a sample as (H, W, C) uint8


class SourceSlot(QWidget):
    """One of the two images: from a file, a drop, or the Sample panel."""

    changed = Signal()
    sample_requested = Signal()

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.source: Source | None = None
        FileDrop(self, lambda path: self.set_file(str(path)))
        self.view = ImageView(f"{title}: drop an image here")
        self.view.setMinimumSize(96, 96)
        file_button = push_button("File…", self.choose_file,
                                  tip=f"Choose image {title} from a file (or drop one on it)")
        sample_button = push_button("From Sample", self.sample_requested,
                                    tip="Use the image picked in the Sample panel (else its first image)")
        layout = titled(title, self.view)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(side_by_side(file_button, sample_button))
        self.setLayout(layout)

    def choose_file(self) -> None:
        choose_image_file(self, "Choose an image", self.set_file)

    def set_file(self, path: str) -> None:
        try:
            image = np.asarray(open_image(path).convert("RGB"))
        except UnreadableImage as e:
            self.view.setText(e.reason)
            self.view.set_image(None)
            return
        self.view.set_image(image)
        self.source = path
        self.changed.emit()

    def set_array(self, image: np.ndarray) -> None:
        self.view.set_image(image)
        self.source = image
        self.changed.emit()



class InterpolatePanel(QWidget):
    status = Signal(str)
    sample_requested = Signal(object)  # the SourceSlot asking for the Sample panel's image

    def __init__(self, runner: JobRunner, runs: RunsModel, default_images: list[Path],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.runner, self.runs = runner, runs
        self.debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self.kept_strip: object = None  # the strip on screen, handed back to the job: λ alone does not change it
        self.debounce.timeout.connect(self.start)

        self.checkpoint = CheckpointPicker(runs, "interpolate/checkpoint")
        self.checkpoint.combo.currentIndexChanged.connect(self.request)
        self.slot_a, self.slot_b = SourceSlot("A"), SourceSlot("B")
        for slot in (self.slot_a, self.slot_b):
            slot.changed.connect(self.request)
            slot.sample_requested.connect(lambda s=slot: self.sample_requested.emit(s))
        self.t_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=1000, value=500)
        self.t_slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.t_slider.setTickInterval(T_MARKS)
        self.t_slider.setPageStep(T_MARKS)
        self.t_slider.setToolTip("t: diffusion steps of noise before mixing. At t = 0 the mix is a pixel blend;\n"
                                 "as t grows the decoder invents more; at t = T the sources are forgotten")
        self.lam_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=50)
        self.lam_slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.lam_slider.setTickInterval(10)
        self.lam_slider.setToolTip("λ: the mix, from all A (0) to all B (1)")
        self.t_label, self.lam_label = QLabel(), QLabel()
        for slider in (self.t_slider, self.lam_slider):
            slider.valueChanged.connect(self.request)
        self.encode_mode = QComboBox()
        self.encode_mode.addItems(list(ENCODE_MODES))
        self.encode_mode.setToolTip(
            "How the images become x_t: add noise, a draw of its own to each image (as in the paper);\n"
            "add one draw to both (then a lerp is exactly the noised pixel blend); or run DDIM backwards\n"
            "(deterministic: decoding with DDIM, η = 0 gives the sources back at λ = 0 and 1)")
        self.mix_mode = QComboBox()
        self.mix_mode.addItems(list(MIX_MODES))
        self.mix_mode.setToolTip("How the two x_t mix: lerp, the paper's, shrinks independent noise midway (to 71 %\n"
                                 "at λ = ½); slerp keeps its norm. With one shared noise the two agree on the noise")
        self.sampler_controls = SamplerControls("interpolate", self)
        self.sampler_controls.follow(self.checkpoint)  # a student samples as it was taught
        self.sampler_controls.sampler.setToolTip("How the mix is decoded from t back to an image\n\n"
                                                 + self.sampler_controls.sampler.toolTip())
        self.seed = declared_widget(InterpolateSettings, "seed")
        self.seed.setToolTip("The noise of encoding and decoding: same seed, same result")
        self.remembered = {"t": self.t_slider, "lambda": self.lam_slider, "encode": self.encode_mode,
                           "mix": self.mix_mode, "seed": self.seed}
        restore_values("interpolate", self.remembered)
        for combo in (self.encode_mode, self.mix_mode):
            combo.currentIndexChanged.connect(self.request)
        self.seed.valueChanged.connect(self.request)
        self.sampler_controls.changed.connect(self.request)
        self.class_controls = ClassControls(self, offer_mixed=False)
        self.class_controls.changed.connect(self.request)
        self.checkpoint.combo.currentIndexChanged.connect(self.show_classes)

        form = QFormLayout()
        form.addRow("Checkpoint", self.checkpoint)
        form.addRow("t", self.t_slider)
        form.addRow("", self.t_label)
        form.addRow("λ", self.lam_slider)
        form.addRow("", self.lam_label)
        form.addRow("Encode", self.encode_mode)
        form.addRow("Mix", self.mix_mode)
        self.sampler_controls.add_rows(form, "Decode")
        self.class_controls.add_rows(form)
        form.addRow("Seed", self.seed)
        controls = QVBoxLayout()
        controls.addLayout(side_by_side(self.slot_a, self.slot_b), 1)
        controls.addLayout(form)

        self.result_view = ImageView("the mix appears here")
        self.result_view.setToolTip("The decoded mix at the chosen λ")
        self.result_caption = QLabel("<b>mix</b>")
        self.strip_view = ImageView("the strip λ = 0 … 1 appears here")
        self.strip_view.setMinimumHeight(90)
        self.strip_caption = QLabel("λ = 0, 0.1, … 1, left to right")
        self.progress = QProgressBar()
        right = titled(self.result_caption, self.result_view)
        right.setStretch(1, 3)
        right.addWidget(self.strip_view, 1)
        right.addWidget(self.strip_caption, 0, Qt.AlignmentFlag.AlignHCenter)
        right.addWidget(self.progress)
        two_columns(self, controls, right, push_controls_up=False)

        runner.connect_job(INTERPOLATING, progress=self.on_progress,
                           failed=lambda message, _: self.status.emit(message))
        if len(default_images) >= 2:
            self.slot_a.set_file(str(default_images[0]))
            self.slot_b.set_file(str(default_images[1]))
        self.update_labels()
        self.debounce.stop()  # nothing runs before the panel is first shown

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self.result_view.pixmap_full is None:
            self.request()

    def show_classes(self, *_: object) -> None:
        self.class_controls.set_classes(self.runs.classes_of(self.checkpoint.path()))

    def remember(self) -> None:
        save_values("interpolate", self.remembered)
        self.sampler_controls.remember()

    def update_labels(self) -> None:
        self.t_label.setText(f"t = {self.t_slider.value()} of T = {self.t_slider.maximum()}")
        self.sampler_controls.set_start_t(self.t_slider.value() - 1, self.t_slider.maximum())
        self.lam_label.setText(f"λ = {self.lam_slider.value() / 100:.2f}")

    def request(self, *_: object) -> None:
        """Start (again) once the controls rest; a running job for older settings is cancelled then."""
        self.update_labels()
        self.debounce.setInterval(LIVE_DEBOUNCE_MS if self.sampler_controls.student_steps else DEBOUNCE_MS)
        self.debounce.start()

    def start(self) -> None:
        if not self.isVisible() or self.slot_a.source is None or self.slot_b.source is None:
            return
        checkpoint = self.checkpoint.path()
        if not checkpoint:
            self.status.emit("Choose a checkpoint first")
            return
        self.checkpoint.remember()
        sampler = self.sampler_controls.fields()
        self.runner.submit(INTERPOLATING, InterpolateRequest(
            checkpoint, self.slot_a.source, self.slot_b.source, t=self.t_slider.value(),
            lam=self.lam_slider.value() / 100, seed=self.seed.value(),
            encode_mode=ENCODE_MODES[self.encode_mode.currentText()], mix_mode=MIX_MODES[self.mix_mode.currentText()],
            sampler=sampler, condition=self.class_controls.condition(), kept=self.kept_strip))

    def on_progress(self, frame: InterpolationFrame) -> None:
        if frame.num_timesteps != self.t_slider.maximum():  # this model's T (the tests' models use T = 100)
            self.t_slider.blockSignals(True)  # the job already used t clamped to T
            self.t_slider.setMaximum(frame.num_timesteps)
            self.t_slider.setTickInterval(max(1, frame.num_timesteps // 8))
            self.t_slider.blockSignals(False)
            self.update_labels()
        for slot, image in zip((self.slot_a, self.slot_b), frame.sources, strict=True):
            slot.view.set_image(image)  # as the model sees it: scaled and cut square
        self.result_view.set_image(frame.result)
        if frame.done:
            self.kept_strip = frame.kept
        if frame.strip is not None:  # the mix comes first
            self.strip_view.set_image(frame.strip)
        self.progress.setMaximum(frame.total)
        self.progress.setValue(frame.index)
        state = "" if frame.done else f" (decoding, step {frame.index}/{frame.total})"
        self.result_caption.setText(f"<b>mix</b> at λ = {frame.lam:.2f}, t = {frame.t}{state}")
