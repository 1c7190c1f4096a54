"""Playground: diffusion on 1-D and 2-D point clouds, where the whole distribution can be seen. Train a small
model in seconds and compare its samples with the data and, for Gaussian mixtures, with the exact model's."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QProgressBar,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from diffstudio.core.choices import BETA_SCHEDULES, TOY_DATA
from diffstudio.core.jobs.messages import HeatMap, Histograms, NoisedPoints, ToyField, ToyPaths, ToyView
from diffstudio.core.jobs.requests import ToyFieldRequest, ToyNoisedRequest, ToyPathsRequest, ToyRequest
from diffstudio.core.toy_settings import ToyTrainSettings
from diffstudio.gui.job_names import PLAYGROUND_FIELD, PLAYGROUND_VIEW, PLAYING
from diffstudio.gui.layout import push_button, side_by_side, two_columns
from diffstudio.gui.plots import styled_legend, styled_plot_widget
from diffstudio.gui.remembered import restore_values, save_values
from diffstudio.gui.sampler_controls import SamplerControls
from diffstudio.gui.worker import JobRunner

COLOURS = {"data": (150, 150, 150, 110), "learned": (61, 142, 224, 170), "exact": (46, 170, 90, 170)}
DRAWN = "your own: click to draw"


class PlaygroundPanel(QWidget):
    status = Signal(str)

    def __init__(self, runner: JobRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.view: ToyView | None = None
        self.heat: HeatMap | None = None  # the one on show
        defaults = ToyTrainSettings()
        self.clicks: list[tuple[float, float]] = []  # where the user clicked, with DRAWN data
        self.data = QComboBox()
        self.data.addItems([*TOY_DATA, DRAWN])
        self.data.setToolTip("The points to learn. The mixtures have an exact model to compare with; your own\n"
                             "points are a small puff around each click on the left plot")
        self.data.currentTextChanged.connect(self.data_changed)
        self.clear_button = push_button("Clear points", self.clear_clicks)
        self.count = QSpinBox(minimum=200, maximum=20_000, singleStep=500, value=2000)
        self.steps = QSpinBox(minimum=50, maximum=100_000, singleStep=500, value=defaults.steps)
        self.steps.setToolTip("Training steps of the small network (2,000 take a few seconds)")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=defaults.seed)
        self.schedule = QComboBox()
        self.schedule.addItems(list(BETA_SCHEDULES))
        self.schedule.setCurrentText(defaults.beta_schedule)
        self.schedule.setToolTip("The noise schedule β_t: linear (the DDPM paper's) or cosine (Nichol & Dhariwal),\n"
                                 "which destroys the data more slowly at first")
        self.schedule.currentTextChanged.connect(lambda: self.debounce.start())
        self.t_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=999, value=0)
        self.t_slider.setToolTip("Show the data at step t of the forward process, q(x_t | x_0)")
        self.t_label = QLabel("t = 0")
        self.t_slider.valueChanged.connect(self.t_changed)
        self.debounce = QTimer(self, singleShot=True, interval=40)
        self.debounce.timeout.connect(self.show_noised)
        self.show_field = QCheckBox("Field at t")
        self.show_field.setToolTip("For 2-D data after training: where each model sends each point at step t, a\n"
                                   "quarter of the way to its predicted clean point x̂₀ (blue learned, green exact)")
        self.show_field.toggled.connect(lambda: self.debounce.start())
        self.sampler_controls = SamplerControls("playground", self, offers_autoguidance=False)
        self.start_button = push_button("Train", self.start, "Ctrl+Return", "Train and compare (Ctrl+Enter)")
        self.cancel_button = push_button("Cancel", lambda: self.runner.cancel(PLAYING), "Esc")
        form = QFormLayout()
        form.addRow("Data", self.data)
        form.addRow("", self.clear_button)
        form.addRow("Points", self.count)
        form.addRow("Steps", self.steps)
        form.addRow("Seed", self.seed)
        form.addRow("Schedule", self.schedule)
        form.addRow("Noise", side_by_side(self.t_slider, self.t_label, stretch=0))
        form.addRow("", self.show_field)
        self.sampler_controls.add_rows(form)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        controls = QVBoxLayout()
        controls.addLayout(form)
        controls.addLayout(side_by_side(self.start_button, self.cancel_button))
        controls.addWidget(self.summary)

        self.cloud = self.make_cloud_plot()
        self.reverse_curves: list = []  # reverse paths from a clicked x_T, on the cloud (2-D) or the heat map (1-D)
        self.field_curves = {name: self.cloud.plot(pen=pg.mkPen(COLOURS[name][:3] + (alpha,), width=1),
                                                   connect="pairs")
                             for name, alpha in (("exact", 110), ("learned", 230))}  # the learned field on top
        self.curves = self.make_curves_plot()
        self.heat_plot = self.make_heat_plot()
        self.progress = QProgressBar()
        right = QVBoxLayout()
        right.addLayout(side_by_side(self.cloud, self.curves), 1)
        right.addWidget(self.heat_plot, 1)
        right.addWidget(self.progress)
        two_columns(self, controls, right)
        restore_values("playground", self.remembered_widgets())
        self.data_changed()
        runner.connect_job(PLAYING, progress=self.show_view, started=self.update_enabled, ended=self.update_enabled)
        runner.connect_job(PLAYGROUND_VIEW, progress=self.show_view_item)
        runner.connect_job(PLAYGROUND_FIELD, progress=self.show_field_lines)
        self.update_enabled()

    def remembered_widgets(self) -> dict[str, QWidget]:
        return {"data": self.data, "count": self.count, "steps": self.steps, "seed": self.seed,
                "schedule": self.schedule}

    def make_cloud_plot(self) -> pg.PlotWidget:
        plot, _ = styled_plot_widget(self.palette(), "data, learned and exact samples")
        plot.setAspectLocked(True)
        styled_legend(plot, self.palette(), offset=(10, 10))
        self.scatters = {name: pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(*colour), name=name)
                         for name, colour in COLOURS.items()}
        self.scatters["clicks"] = pg.ScatterPlotItem(size=9, pen=pg.mkPen(COLOURS["learned"][:3]), brush=None)
        for scatter in self.scatters.values():
            plot.addItem(scatter)
        plot.scene().sigMouseClicked.connect(self.on_click)
        self.histogram_curves = {name: plot.plot(stepMode="center", pen=pg.mkPen(colour[:3], width=2))
                                 for name, colour in COLOURS.items()}
        self.histogram_curves["true"] = plot.plot(pen=pg.mkPen(self.palette().text().color(), width=1,
                                                               dash=[3, 3]))
        return plot

    def make_curves_plot(self) -> pg.PlotWidget:
        plot, self.loss_curve = styled_plot_widget(self.palette(), "loss, and distance to the data", log_y=True)
        self.loss_curve.setPen(pg.mkPen(self.palette().text().color(), width=1))
        legend = styled_legend(plot, self.palette(), offset=(-10, 10))
        legend.addItem(self.loss_curve, "training loss")
        self.distance_curve = plot.plot(pen=pg.mkPen(COLOURS["learned"][:3], width=2), symbol="o", symbolSize=5,
                                        name="learned model: distance")
        self.exact_curve = plot.plot(pen=pg.mkPen(COLOURS["exact"][:3], width=2, dash=[4, 4]),
                                     name="exact model: distance")
        plot.setLabel("bottom", "step")
        plot.setToolTip("The training loss (L_simple), and the sliced Wasserstein distance of the learned\n"
                        "model's samples to the data; dashed: the exact model's with the same sampler\n"
                        "(the mixtures only)")
        return plot

    def make_heat_plot(self) -> pg.PlotWidget:
        plot, _ = styled_plot_widget(self.palette(), "q(x_t) over t, with forward paths (1-D data)")
        plot.setLabel("bottom", "t")
        plot.setLabel("left", "x")
        self.heat_image = pg.ImageItem()
        self.heat_image.setColorMap(pg.colormap.get("viridis"))
        plot.addItem(self.heat_image)
        self.forward_curves = []
        self.t_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(255, 255, 255, 160, width=1))
        plot.addItem(self.t_line)
        plot.setToolTip("The density of the noised data at every t (Figs. 18.2–18.4): the data's bumps at t = 0\n"
                        "spread into one standard normal by t = T; white: forward paths of a few points")
        plot.scene().sigMouseClicked.connect(self.on_heat_click)
        plot.hide()  # until 1-D data is trained
        return plot

    def data_changed(self, *_: object) -> None:
        drawing = self.data.currentText() == DRAWN
        self.clear_button.setVisible(drawing)
        self.count.setEnabled(not drawing)
        self.t_slider.setEnabled(not drawing)
        if drawing:
            self.t_slider.setValue(0)
            self.status.emit("Click on the left plot to place points, then Train")
        self.update_enabled()

    def on_click(self, event) -> None:
        """Drawing: a click places points. Otherwise, after training: a click is x_T, and its paths are drawn."""
        where = self.cloud.getPlotItem().vb.mapSceneToView(event.scenePos())
        if self.data.currentText() == DRAWN:
            self.add_click(where.x(), where.y())
        elif self.view is not None and self.view.samples is not None and self.view.data.shape[1] == 2:
            self.show_paths_from([where.x(), where.y()])

    def on_heat_click(self, event) -> None:
        if self.view is not None and self.view.samples is not None and self.view.data.shape[1] == 1:
            self.show_paths_from([self.heat_plot.getPlotItem().vb.mapSceneToView(event.scenePos()).y()])

    def show_paths_from(self, start: list[float]) -> None:
        self.runner.submit(PLAYGROUND_VIEW, ToyPathsRequest(self.view.trained, start,
                                                            self.sampler_controls.steps.value()))

    def clear_paths(self) -> None:
        for item in self.reverse_curves:
            for plot in (self.cloud, self.heat_plot):
                plot.removeItem(item)  # a no-op on the plot that does not hold it
        self.reverse_curves = []

    def show_view_item(self, item: NoisedPoints | ToyPaths) -> None:
        if isinstance(item, ToyPaths):
            self.show_paths(item)
        elif item.t == self.t_slider.value():
            self.show_points("data", item.points)
            if item.histogram is not None:
                self.histogram_curves["data"].setData(item.edges, item.histogram)

    def show_paths(self, paths: ToyPaths) -> None:
        """2-D: the paths in the plane; 1-D: over t on the heat map (Figs. 18.7 and 18.10's pictures)."""
        plot = self.cloud if paths.ode.shape[2] == 2 else self.heat_plot
        self.clear_paths()
        lines = [(path, pg.mkPen(COLOURS["learned"][:3] + (90,), width=1)) for path in paths.sde]
        lines.append((paths.ode[0], pg.mkPen(COLOURS["learned"][:3], width=3)))
        if paths.exact_ode is not None:
            lines.append((paths.exact_ode[0], pg.mkPen(COLOURS["exact"][:3], width=3, dash=[4, 3])))
        self.reverse_curves = [plot.plot(path[:, 0], path[:, 1], pen=pen) if path.shape[1] == 2
                           else plot.plot(paths.ts, path[:, 0], pen=pen) for path, pen in lines]
        self.status.emit("Paths from the clicked x_T: thick, the learned model's ODE (DDIM η = 0); thin, its "
                         "stochastic paths (η = 1); dashed, the exact model's ODE")

    def add_click(self, x: float, y: float) -> None:
        self.clicks.append((x, y))
        self.scatters["clicks"].setData([c[0] for c in self.clicks], [c[1] for c in self.clicks])
        self.update_enabled()

    def clear_clicks(self) -> None:
        self.clicks = []
        for scatter in self.scatters.values():
            scatter.clear()
        self.update_enabled()

    def t_changed(self, t: int) -> None:
        self.t_label.setText(f"t = {t}")
        self.t_line.setPos(t)
        self.debounce.start()

    def show_noised(self) -> None:
        if self.data.currentText() != DRAWN:
            self.runner.submit(PLAYGROUND_VIEW, ToyNoisedRequest(self.data.currentText(), self.count.value(),
                                                                 self.seed.value(), self.t_slider.value(),
                                                                 self.schedule.currentText()))
        trained_2d = self.view is not None and self.view.samples is not None and self.view.data.shape[1] == 2
        if self.show_field.isChecked() and trained_2d:
            self.runner.submit(PLAYGROUND_FIELD, ToyFieldRequest(self.view.trained, self.t_slider.value()))
        else:
            for curve in self.field_curves.values():
                curve.setData([], [])

    def show_field_lines(self, field: ToyField) -> None:
        if field.t != self.t_slider.value() or not self.show_field.isChecked():
            return
        for name, segments in (("learned", field.learned), ("exact", field.exact)):
            if segments is None:
                self.field_curves[name].setData([], [])
            else:
                self.field_curves[name].setData(segments[:, 0], segments[:, 1])

    def show_heat(self, heat: HeatMap) -> None:
        self.heat_plot.show()
        self.heat_image.setImage(heat.density.T, autoLevels=True)  # ImageItem's first axis is x: here t
        t0, t1, x0, x1 = heat.ts[0], heat.ts[-1], heat.xs[0], heat.xs[-1]
        self.heat_image.setRect(QRectF(float(t0), float(x0), float(t1 - t0), float(x1 - x0)))
        for curve in self.forward_curves:
            self.heat_plot.removeItem(curve)
        self.forward_curves = [self.heat_plot.plot(heat.path_ts, path, pen=pg.mkPen(255, 255, 255, 140, width=1))
                            for path in heat.paths]

    def start(self) -> None:
        for name in COLOURS:
            self.scatters[name].clear()
        self.clear_paths()
        for curve in self.field_curves.values():
            curve.setData([], [])
        self.exact_curve.setData([], [])
        if self.t_slider.value() > 0:  # the new data at the slider's t, before training takes the worker
            self.show_noised()
        drawing = self.data.currentText() == DRAWN
        self.runner.submit(PLAYING, ToyRequest(self.data.currentText(), self.count.value(), self.steps.value(),
                                               self.seed.value(), self.sampler_controls.fields(),
                                               list(self.clicks) if drawing else None, self.schedule.currentText()))

    def show_view(self, view: ToyView) -> None:
        self.view = view
        self.progress.setMaximum(view.total)
        self.progress.setValue(view.step)
        self.progress.setFormat(f"step {view.step} / {view.total}" if view.samples is None else "done")
        self.loss_curve.setData(view.loss_steps, view.losses)
        if len(view.distance_steps):
            self.distance_curve.setData(view.distance_steps, view.distances)
        if view.exact_distance is not None:
            self.exact_curve.setData([0, view.total], [view.exact_distance] * 2)
        if self.t_slider.value() == 0:
            self.show_points("data", view.data)
        self.show_points("learned", view.samples)
        self.show_points("exact", view.exact_samples)
        self.show_histograms(view.histograms, with_data=self.t_slider.value() == 0)
        if view.heat is not self.heat:  # one heat map per training run, on every frame of it
            self.heat = view.heat
            self.show_heat(view.heat) if view.heat is not None else self.heat_plot.hide()
        if view.samples is not None:
            exact = "" if view.exact_distance is None else f", the exact model's {view.exact_distance:.3f}"
            self.summary.setText(f"Distance of the learned model's samples to the data: {view.distances[-1]:.3f}"
                                 f"{exact} (sliced Wasserstein; 0 is a perfect match)")

    def show_points(self, name: str, points) -> None:
        """2-D points as a cloud; 1-D data is drawn as histograms instead (show_histograms)."""
        if points is None or points.shape[1] != 2:
            self.scatters[name].clear()
        else:
            self.scatters[name].setData(points[:, 0], points[:, 1])

    def show_histograms(self, h: Histograms | None, with_data: bool = True) -> None:
        """1-D: the densities of the data (unless the noise slider shows it at t), the learned and the exact
        samples, and the true density (dashed)."""
        self.cloud.setAspectLocked(h is None)
        for name in ("data", "learned", "exact", "true"):
            values = None if h is None else getattr(h, name)
            if name == "data" and not with_data and h is not None:
                continue
            if values is None:
                self.histogram_curves[name].setData([], [])
            else:
                self.histogram_curves[name].setData(h.centres if name == "true" else h.edges, values)

    def update_enabled(self, *_: object) -> None:
        running = self.runner.is_active(PLAYING)
        self.start_button.setEnabled(not running and (self.data.currentText() != DRAWN or len(self.clicks) >= 2))
        self.cancel_button.setEnabled(running)

    def remember(self) -> None:
        self.sampler_controls.remember()
        save_values("playground", self.remembered_widgets())

