"""What the Train panel shows of a run as it trains: the loss curve, the measured KID and copied share, the
latest EMA preview, and a progress bar with speed and time left."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from diffstudio.core.jobs.messages import TrainProgress
from diffstudio.core.progress import ReadProgress, format_duration
from diffstudio.gui.image_view import ImageView
from diffstudio.gui.layout import titled
from diffstudio.gui.plots import styled_plot_widget


class TrainingMonitor(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.progress = QProgressBar()
        self.progress.setFormat("not started")
        self.progress.setValue(0)
        self.loss_plot = self.make_loss_plot()
        self.metric_plot = self.make_metric_plot()
        self.preview = ImageView("EMA samples appear here")
        self.preview.setToolTip("Samples from the EMA weights, always from the same noise, so successive "
                                "previews show what the model learned in between")
        self.preview_caption = QLabel("<b>Preview</b>")
        plots = QVBoxLayout()
        plots.addWidget(self.loss_plot, 2)
        plots.addWidget(self.metric_plot, 1)
        views = QHBoxLayout()
        views.addLayout(plots, 1)
        views.addLayout(titled(self.preview_caption, self.preview), 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(views, 1)
        layout.addWidget(self.progress)

    def make_loss_plot(self) -> pg.PlotWidget:
        plot, self.loss_curve = styled_plot_widget(self.palette(), "training loss, log scale", log_y=True)
        plot.setLabel("bottom", "step")
        plot.setToolTip("The mean squared error of the network's target (v, or the noise ε: the paper's L_simple),\n"
                        "weighted by min-SNR where chosen, averaged over bins of steps as the run grows")
        return plot

    def make_metric_plot(self) -> pg.PlotWidget:
        plot, self.kid_curve = styled_plot_widget(self.palette(), "KID ×10³")
        self.kid_curve.setSymbol("o")
        self.kid_curve.setSymbolSize(5)
        self.kid_errors = pg.ErrorBarItem(pen=pg.mkPen(self.palette().text().color()), beam=0)
        plot.addItem(self.kid_errors)
        plot.setLabel("bottom", "step")
        plot.setToolTip("Measured every few steps (Advanced settings: Eval every): the KID of the EMA samples\n"
                        "against the training images, on a fixed random network's features (lower is better;\n"
                        "bars: its spread over subsets), and the share of samples copying a training image")
        plot.hide()  # until a run measures
        return plot

    def clear(self) -> None:
        self.loss_curve.setData([], [])
        self.metric_plot.hide()
        self.preview.set_image(None)
        self.progress.setFormat("starting…")

    def show_state(self, text: str) -> None:
        self.progress.setFormat(text)

    def show_reading(self, item: ReadProgress) -> None:
        self.progress.setMaximum(item.total)
        self.progress.setValue(item.done)
        self.progress.setFormat(item.text())

    def show_progress(self, p: TrainProgress, paused: bool) -> None:
        self.progress.setMaximum(p.total)
        self.progress.setValue(p.step)
        steps_per_s = p.images_per_s / p.batch if p.images_per_s else 0
        eta = f"{format_duration(p.eta_s)} left" if math.isfinite(p.eta_s) else "starting…"
        self.progress.setFormat(f"{'paused · ' if paused else ''}step {p.step} / {p.total}  ·  loss {p.loss:.4f}  ·  "
                                f"{steps_per_s:.1f} steps/s of {p.batch}  ·  {eta}  ·  saved at step {p.saved_step}")
        if len(p.loss_steps):
            self.loss_curve.setData(p.loss_steps, p.loss_values)
        self.show_metrics(p)
        if p.preview is not None:
            self.preview.set_image(p.preview)
            self.preview_caption.setText(f"<b>Preview</b>: EMA samples at step {p.preview_step}")

    def show_metrics(self, p: TrainProgress) -> None:
        if not len(p.metric_steps):
            self.metric_plot.hide()
            return
        self.metric_plot.show()
        self.kid_curve.setData(p.metric_steps, p.kid * 1e3)
        self.kid_errors.setData(x=p.metric_steps, y=p.kid * 1e3, height=2 * p.kid_std * 1e3)
        self.metric_plot.getPlotItem().setTitle(
            f"KID ×10³ {p.kid[-1] * 1e3:.1f} ± {p.kid_std[-1] * 1e3:.1f} · copies {100 * p.memorised[-1]:.0f} %",
            color=self.palette().text().color())
