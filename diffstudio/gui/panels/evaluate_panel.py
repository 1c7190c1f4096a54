"""Evaluate: how good is a model, and is it copying its training images? The metrics table, the samples most
like a training image beside it, and the distance to the nearest training image against the images' own."""

from __future__ import annotations

import time

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from diffstudio.core.evaluate_settings import (
    COPY_RATIO,
    FD_MIN_SAMPLES,
    MOST_COPIED_COLUMNS,
    EvaluateSettings,
    inception_weights_path,
)
from diffstudio.core.jobs.messages import EvaluationResult
from diffstudio.core.jobs.requests import EvaluateRequest
from diffstudio.core.progress import SamplingProgress, eta_text
from diffstudio.gui.checkpoint_picker import CheckpointPicker
from diffstudio.gui.image_view import ImageView
from diffstudio.gui.job_names import EVALUATING
from diffstudio.gui.layout import push_button, side_by_side, titled, two_columns
from diffstudio.gui.plots import styled_legend, styled_plot_widget
from diffstudio.gui.remembered import restore_values, save_values
from diffstudio.gui.runs_model import RunsModel
from diffstudio.gui.sampler_controls import SamplerControls
from diffstudio.gui.setting_widgets import declared_widget
from diffstudio.gui.worker import JobRunner

FEATURES = {"random network (no download)": "random", "pixels, 8×8": "pixels",  # choices.FEATURE_EXTRACTORS
            "Inception-v3 (the papers' FID)": "inception"}
TRAINED_ON = "the images it trained on"
PAIRS_TIP = ("Most copied first: each sample, then its nearest training image (pixels).\n"
             "A copy is a sample three times closer to one training image than to any other: "
             f"d1/d2 below {COPY_RATIO:.2f}.")


def pairs_tip(ratios: list[float]) -> str:
    columns = MOST_COPIED_COLUMNS
    rows = [" ".join(f"{r:.2f}" for r in ratios[i:i + columns]) for i in range(0, len(ratios), columns)]
    return PAIRS_TIP + "\n\nd1/d2 of each pair, row by row:\n" + "\n".join(rows)


def closest_pair_note(ratios: list[float]) -> list[str]:
    if not ratios:
        return []
    return [f"closest pair: d1/d2 = {ratios[0]:.2f} (a copy is below {COPY_RATIO:.2f}; "
            "hover over the pairs for each pair's)"]


class EvaluatePanel(QWidget):
    status = Signal(str)

    def __init__(self, runner: JobRunner, runs: RunsModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner, self.runs = runner, runs
        self.data_folder = ""  # empty: the folder the run trained on
        self.started_at = time.monotonic()
        self.result: EvaluationResult | None = None

        self.checkpoint = CheckpointPicker(runs, "evaluate/checkpoint")
        self.data_label = QLabel(TRAINED_ON)
        self.data_label.setWordWrap(True)
        data_buttons = side_by_side(push_button("Folder…", self.choose_data),
                                    push_button("Training folder", self.trained_on))
        self.samples = declared_widget(EvaluateSettings, "samples")
        self.samples.setToolTip(f"Samples to draw. KID and the nearest-image check work at any size; the Fréchet\n"
                                f"distance needs {FD_MIN_SAMPLES:,} (it is biased below that)")
        self.features = QComboBox()
        self.features.addItems(list(FEATURES))
        self.features.setToolTip("What the metrics compare: a fixed random network's features (always available,\n"
                                 "the same for every model: compare runs with each other, not with published\n"
                                 "FIDs), the pixels pooled to 8×8, or Inception-v3's, the network of the FIDs\n"
                                 "papers report (needs torch-fidelity and the weights file). Copying is always\n"
                                 "checked on the pixels.")
        self.features.currentTextChanged.connect(self.update_inception_row)
        default_weights = inception_weights_path()
        self.inception = QLineEdit(placeholderText=f"default: {default_weights.name}")
        self.inception.setToolTip(f"Inception-v3's weights as a safetensors file; empty: {default_weights}.\n"
                                  "Evaluating without them says how to convert torch-fidelity's or pytorch-fid's\n"
                                  "downloaded .pth once.")
        self.inception_row = side_by_side(self.inception, push_button("File…", self.choose_inception))
        self.seed = declared_widget(EvaluateSettings, "seed")
        self.seed.setToolTip("Seeds the samples and the split of the folder into reference and held-out halves")
        self.sampler_controls = SamplerControls("evaluate", self)
        self.sampler_controls.follow(self.checkpoint)  # a student samples as it was taught
        self.start_button = push_button("Evaluate", self.start, "Ctrl+Return", "Sample and measure (Ctrl+Enter)")
        self.cancel_button = push_button("Cancel", lambda: self.runner.cancel(EVALUATING), "Esc")
        form = QFormLayout()
        form.addRow("Checkpoint", self.checkpoint)
        form.addRow("Real images", self.data_label)
        form.addRow("", data_buttons)
        form.addRow("Samples", self.samples)
        form.addRow("Features", self.features)
        form.addRow("Inception weights", self.inception_row)
        self.sampler_controls.add_rows(form)
        form.addRow("Seed", self.seed)
        controls = QVBoxLayout()
        controls.addLayout(form)
        controls.addLayout(side_by_side(self.start_button, self.cancel_button))

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["", "samples", "real, held out (the floor)"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setToolTip("Each measure of the samples against half of the real images, beside the other half\n"
                              "measured the same way: the best a model could score. KID: lower is better (± its\n"
                              "spread over subsets). Precision: samples that look real; recall, coverage: how much\n"
                              "of the real images' variety the samples reach; density ≈ 1 when matched.")
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.pairs = ImageView("the samples most like a training image appear here, each beside it")
        self.pairs.setToolTip(PAIRS_TIP)
        self.histogram, self.sample_curve = styled_plot_widget(self.palette(), "nearest training image")
        self.training_curve = self.histogram.plot(pen=pg.mkPen(self.palette().text().color(), width=1,
                                                               style=pg.QtCore.Qt.PenStyle.DashLine))
        legend = styled_legend(self.histogram, self.palette(), offset=(-10, 10))
        legend.addItem(self.sample_curve, "samples")
        legend.addItem(self.training_curve, "training images' own")
        self.histogram.setLabel("bottom", "pixel distance (L2, pixels in 0…1)")
        self.histogram.setToolTip("Samples left of the training images' own distances, near 0, are copies")
        self.progress = QProgressBar()
        right = QVBoxLayout()
        right.addWidget(self.table)
        right.addWidget(self.notes)
        below = QHBoxLayout()
        below.addLayout(titled("most like a training image (sample | nearest)", self.pairs), 1)
        below.addWidget(self.histogram, 1)
        right.addLayout(below, 1)
        right.addWidget(self.progress)
        two_columns(self, controls, right)
        restore_values("evaluate", self.remembered_widgets())
        self.update_inception_row()
        runner.connect_job(EVALUATING, progress=self.on_progress, started=self.update_enabled,
                           ended=self.update_enabled)
        self.update_enabled()

    def remembered_widgets(self) -> dict[str, QWidget]:
        return {"samples": self.samples, "features": self.features, "inception": self.inception, "seed": self.seed}

    def update_inception_row(self, *_: object) -> None:
        chosen = FEATURES[self.features.currentText()] == "inception"
        for i in range(self.inception_row.count()):
            self.inception_row.itemAt(i).widget().setEnabled(chosen)

    def choose_inception(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Inception-v3 weights", str(inception_weights_path().parent),
                                              "safetensors (*.safetensors);;all files (*)")
        if path:
            self.inception.setText(path)

    def choose_data(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "The real images to compare with")
        if folder:
            self.data_folder = folder
            self.data_label.setText(folder)

    def trained_on(self) -> None:
        self.data_folder = ""
        self.data_label.setText(TRAINED_ON)

    def start(self) -> None:
        checkpoint = self.checkpoint.path()
        if not checkpoint:
            self.status.emit("Choose a checkpoint first")
            return
        self.started_at = time.monotonic()
        settings = {"samples": self.samples.value(), "features": FEATURES[self.features.currentText()],
                    "seed": self.seed.value(), "batch": EvaluateSettings.batch,
                    "sampler": self.sampler_controls.fields(), "inception": self.inception.text().strip() or None}
        self.runner.submit(EVALUATING, EvaluateRequest(checkpoint, self.data_folder or None, settings))

    def on_progress(self, item: SamplingProgress | EvaluationResult) -> None:
        if isinstance(item, EvaluationResult):
            self.show_result(item)
            return
        self.progress.setMaximum(item.total)
        self.progress.setValue(item.done)
        eta = eta_text(time.monotonic() - self.started_at, item.done, item.total, unit="images")
        self.progress.setFormat(f"sampling %p%  ·  {eta}" if item.done < item.total else "measuring…")

    def show_result(self, result: EvaluationResult) -> None:
        self.result = result
        self.table.setRowCount(len(result.rows))
        for r, row in enumerate(result.rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.setFixedHeight(self.table.horizontalHeader().height() + 22 * len(result.rows) + 4)
        self.notes.setText("\n".join(result.notes + closest_pair_note(result.pair_ratios)))
        self.pairs.set_image(result.pairs)
        self.pairs.setToolTip(pairs_tip(result.pair_ratios))
        self.sample_curve.setData(result.centres, result.sample_density)
        self.training_curve.setData(result.centres, result.training_density)
        self.progress.setFormat(eta_text(time.monotonic() - self.started_at, 1, 1))

    def update_enabled(self, *_: object) -> None:
        running = self.runner.is_active(EVALUATING)
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def remember(self) -> None:
        self.checkpoint.remember()
        self.sampler_controls.remember()
        save_values("evaluate", self.remembered_widgets())
