"""Forward process: drag t and watch an image drown in noise; the schedule's curves with a marker at t."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QFormLayout, QLabel, QSlider, QVBoxLayout, QWidget

from diffstudio.core.jobs.messages import ForwardFrame
from diffstudio.core.jobs.requests import ForwardRequest
from diffstudio.gui.file_drop import IMAGE_FILTER, FileDrop
from diffstudio.gui.image_view import ImageView
from diffstudio.gui.job_names import FORWARD
from diffstudio.gui.layout import push_button, side_by_side, two_columns
from diffstudio.gui.plots import styled_plot
from diffstudio.gui.remembered import restore_values, save_values
from diffstudio.gui.worker import JobRunner

SCHEDULES = {"linear (the paper's)": "linear", "cosine (Nichol & Dhariwal)": "cosine"}


class ForwardPanel(QWidget):
    status = Signal(str)

    def __init__(self, runner: JobRunner, default_image: Path | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.image_path = default_image
        FileDrop(self, self.set_image)

        self.image_label = QLabel(default_image.name if default_image else "no image")
        choose = push_button("Choose image…", self.choose_image, tip="Or drop an image on the panel")
        self.schedule = QComboBox()
        self.schedule.addItems(list(SCHEDULES))
        self.schedule.setToolTip("How fast noise is added: β_t over t")
        self.schedule.currentTextChanged.connect(self.schedule_changed)
        self.t_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=1000, value=250)
        self.t_slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.t_slider.setTickInterval(125)
        self.t_slider.setToolTip("t: how many diffusion steps of noise; 0 is the image, T = 1000 is pure noise")
        self.t_slider.valueChanged.connect(self.request_frame)
        self.readout = QLabel()
        self.readout.setTextFormat(Qt.TextFormat.RichText)

        form = QFormLayout()
        form.addRow("Image", side_by_side(self.image_label, choose, stretch=0))
        form.addRow("Schedule", self.schedule)
        form.addRow("t", self.t_slider)
        controls = QVBoxLayout()
        controls.addLayout(form)
        controls.addWidget(self.readout)

        self.x_t_view = ImageView("x_t")
        self.x_t_view.setToolTip("x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε, with one fixed draw of ε")
        self.strip_view = ImageView()
        self.strip_view.setMinimumHeight(90)
        self.strip_view.setMaximumHeight(130)
        self.strip_caption = QLabel()
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground(self.palette().base().color())
        self.curves = {}
        self.markers = []
        for key, title, log in (("beta", "β_t", False), ("alpha_bar", "ᾱ_t (signal share)", False),
                                ("snr", "SNR = ᾱ/(1−ᾱ), log", True)):
            plot = self.plots.addPlot()
            self.curves[key] = styled_plot(plot, self.palette(), title, log_y=log)
            marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("r", width=1))
            plot.addItem(marker)
            self.markers.append(marker)
        self.plots.setMinimumHeight(180)

        right = QVBoxLayout()
        right.addWidget(self.x_t_view, 3)
        right.addWidget(self.strip_view)
        right.addWidget(self.strip_caption, 0, Qt.AlignmentFlag.AlignHCenter)
        right.addWidget(self.plots, 2)
        two_columns(self, controls, right)

        runner.connect_job(FORWARD, progress=self.on_progress, failed=lambda message, _: self.status.emit(message))
        self.plotted_schedule = ""
        self.remembered = {"schedule": self.schedule, "t": self.t_slider}
        restore_values("forward", self.remembered)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self.x_t_view.pixmap_full is None:  # the first look: no work before anyone asks
            self.request_frame()

    def remember(self) -> None:
        save_values("forward", self.remembered)

    def schedule_changed(self, *_: object) -> None:
        self.request_frame()

    def choose_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose an image", "", IMAGE_FILTER)
        if path:
            self.set_image(Path(path))

    def set_image(self, path: Path) -> None:
        self.image_path = path
        self.image_label.setText(path.name)
        self.request_frame()


    def request_frame(self, *_: object) -> None:
        for marker in self.markers:
            marker.setValue(max(1, self.t_slider.value()))
        if self.image_path is not None and self.isVisible():  # else on first show
            self.runner.submit(FORWARD, ForwardRequest(str(self.image_path), self.t_slider.value(),
                                                       SCHEDULES[self.schedule.currentText()]))

    def on_progress(self, frame: ForwardFrame) -> None:
        if frame.beta_schedule != self.plotted_schedule:
            for key, curve in self.curves.items():
                curve.setData(frame.curves["t"], frame.curves[key])
            self.plotted_schedule = frame.beta_schedule
        self.x_t_view.set_image(frame.x_t)
        self.strip_view.set_image(frame.strip)
        self.strip_caption.setText(f"left to right: t = {', '.join(map(str, frame.strip_steps))}")
        snr = "∞" if frame.snr == float("inf") else f"{frame.snr:.3g}"
        self.readout.setText(
            f"<p>t = <b>{frame.noise_steps}</b></p>"
            f"<p>ᾱ_t = {frame.alpha_bar:.4f}<br>signal weight √ᾱ_t = {frame.alpha_bar ** 0.5:.3f}<br>"
            f"noise weight √(1−ᾱ_t) = {(1 - frame.alpha_bar) ** 0.5:.3f}<br>SNR = {snr}</p>")
