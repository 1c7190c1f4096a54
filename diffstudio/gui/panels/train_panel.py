"""Train: choose an image folder, press Start; watch the loss fall and the EMA previews turn into images."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from diffstudio.core import choices
from diffstudio.core.command_line import train_command
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.expectations import ESTIMATE_TIP, Plan, plan_estimate
from diffstudio.core.jobs.messages import DatasetSummary, SpeedEstimate, TrainProgress
from diffstudio.core.jobs.requests import DatasetRequest, SpeedRequest, TrainRequest
from diffstudio.core.progress import ReadProgress
from diffstudio.core.storage.run_folder import read_run_config
from diffstudio.core.storage.runs import run_info, run_path, unused_name
from diffstudio.core.train_config import (
    DEFAULT_MINUTES,
    MAX_MINUTES,
    PRESET_LR,
    RECIPES,
    RESUME_CHANGES,
    TRAIN_SETTINGS,
    TrainConfig,
)
from diffstudio.gui.advanced_settings import AdvancedSettings
from diffstudio.gui.command_dialog import CommandDialog
from diffstudio.gui.file_drop import FileDrop
from diffstudio.gui.image_view import ImageView
from diffstudio.gui.job_names import MEASURING_SPEED, READING_IMAGES, TRAINING
from diffstudio.gui.layout import push_button, side_by_side, two_columns
from diffstudio.gui.remembered import restore_values, save_values
from diffstudio.gui.runs_model import RunsModel
from diffstudio.gui.setting_widgets import set_widget_value, setting_widget, widget_value
from diffstudio.gui.training_monitor import TrainingMonitor
from diffstudio.gui.worker import JobRunner

FORM_FIELDS = ("preset", "resolution", "batch", "lr", "steps", "preview_every", "save_every")  # widgets of fields
RESUME_FIELDS = tuple(k for k in RESUME_CHANGES if k not in ("steps", "minutes"))  # "Train for" sets those
LENGTH_UNITS = ("minutes", "steps")  # how "Train for" counts: a time budget (TrainConfig.minutes) or steps
NEW_RUN = "New run"
PRESET_LABELS = {"tiny": "tiny (1.1 M parameters, CPU-friendly)", "ddpm-cifar10": "ddpm-cifar10 (35.7 M, the paper's)",
                 "ddpm-256": "ddpm-256 (114 M, the paper's 256 px)"}
RESOLUTIONS = (16, 32, 64, 128, 256)
DEFAULTS = TrainConfig(data="")  # the app's one set of defaults, as the CLI's
SETTINGS = {d.name: d for d in TRAIN_SETTINGS}


class TrainPanel(QWidget):
    status = Signal(str)
    runs_changed = Signal()
    training_run_changed = Signal(str)  # the run folder being trained, "" when none

    def __init__(self, runner: JobRunner, runs: RunsModel, default_folder: Path | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner, self.runs, self.runs_root = runner, runs, runs.runs_root
        self.training_run = ""
        self.to_continue = ""  # the run to choose once the list is read again (the one just trained)
        self.run_settings: dict = {}  # the training settings of the run being continued
        FileDrop(self, self.set_dropped)

        self.run_choice = QComboBox()
        self.run_choice.setToolTip("Start a new run, or continue one from its last checkpoint")
        self.run_choice.currentIndexChanged.connect(self.run_chosen)
        self.folder = QLineEdit(str(default_folder or ""))
        self.folder.setPlaceholderText("a folder of images (or drop one here)")
        self.folder.setToolTip("Every PNG, JPEG, BMP, WebP, TIFF or GIF in it and its subfolders")
        self.folder.editingFinished.connect(self.folder_changed)
        self.choose_button = push_button("Choose…", self.choose_folder, "Ctrl+O", "Choose the image folder (Ctrl+O)")
        self.classes = QCheckBox("Subfolders are classes")
        self.classes.setChecked(DEFAULTS.classes == "auto")
        self.classes.setToolTip("With two or more subfolders of images (cat/, dog/, …), train one model that draws\n"
                                "each class on request, with classifier-free guidance (Ho & Salimans 2022)")
        self.classes.toggled.connect(self.folder_changed)
        self.name = QLineEdit()
        self.name.setToolTip("The run's folder name in the runs folder")
        self.preset = QComboBox()
        for key in choices.PRESETS:
            self.preset.addItem(PRESET_LABELS[key], key)
        self.preset.setToolTip("The U-Net's size. tiny trains on a CPU; the paper's models want a GPU")
        self.resolution = QComboBox()
        for r in RESOLUTIONS:
            self.resolution.addItem(f"{r} × {r} px", r)
        self.resolution.setCurrentIndex(RESOLUTIONS.index(DEFAULTS.resolution))
        self.resolution.setToolTip("Images are scaled and centre-cut to this square size")
        self.resolution.currentIndexChanged.connect(self.folder_changed)
        self.batch = setting_widget(SETTINGS["batch"])
        lr = SETTINGS["lr"].setting  # a spin box of its own: six decimals and steps of 1e-4
        self.lr = QDoubleSpinBox(decimals=6, minimum=lr.minimum, maximum=lr.maximum, singleStep=1e-4, value=DEFAULTS.lr)
        self.lr.setToolTip("AdamW's learning rate, reached after a linear warm-up. Choosing a model sets its own:\n"
                           "1e-3 for tiny, the paper's 2e-4 (2e-5 at 256 px) for the paper's models")
        self.preset.activated.connect(lambda: self.lr.setValue(PRESET_LR[self.preset.currentData()]))
        self.steps = setting_widget(SETTINGS["steps"])
        self.minutes = QSpinBox(minimum=1, maximum=MAX_MINUTES, singleStep=5, value=DEFAULT_MINUTES)
        self.minutes.setToolTip("Train for this long (time paused does not count); when continuing a run, a new\n"
                                "total for the whole run. With the cosine LR schedule (Advanced settings) the\n"
                                "learning rate decays to the end of the time")
        self.length_unit = QComboBox()
        self.length_unit.addItems(LENGTH_UNITS)
        self.length_unit.setToolTip("Train for a time budget (the steps follow this machine's speed) or for a\n"
                                    "number of steps (the same run on any machine)")
        self.length_unit.currentTextChanged.connect(self.length_unit_changed)
        self.estimate = QLabel()
        self.estimate.setWordWrap(True)
        self.estimate.setToolTip(ESTIMATE_TIP)
        self.preview_every = setting_widget(SETTINGS["preview_every"])
        self.save_every = setting_widget(SETTINGS["save_every"])
        self.device = QComboBox()
        self.device.addItems(choices.DEVICES)
        self.device.setToolTip("auto: a CUDA GPU if there is one, else Apple's MPS, else the CPU")
        self.advanced = AdvancedSettings(self.apply_recipe, self.show_command)
        self.recipe, self.advanced_widgets = self.advanced.recipe, self.advanced.widgets
        remembered = ("folder", "preset", "resolution", "batch", "lr", "steps", "minutes", "length_unit",
                      "preview_every", "save_every", "device", "recipe", "classes")
        self.remembered = {**{key: getattr(self, key) for key in remembered}, **self.advanced_widgets}
        restore_values("train", self.remembered)
        self.speed_timer = QTimer(self, singleShot=True, interval=500)
        self.speed_timer.timeout.connect(self.measure_speed)
        self.images_per_s: dict[int, float] = {}  # measured here, by batch size
        self.patch_size = 1  # the patch size measured (auto's choice on the device)
        self.folder_channels: int | None = None  # of the folder last read, for what to expect on it
        self.decoded: object = None  # the folder last read, decoded: training from it need not decode it again
        for widget in (self.preset, self.resolution, self.device, self.advanced_widgets["precision"],
                       self.advanced_widgets["patch_size"]):
            widget.currentIndexChanged.connect(self.speed_settings_changed)
        self.batch.valueChanged.connect(self.speed_settings_changed)
        self.steps.valueChanged.connect(self.show_estimate)
        self.minutes.valueChanged.connect(self.show_estimate)
        self.length_unit_changed()

        self.start_button = push_button("Start", self.start, "Ctrl+Return", "Start training (Ctrl+Enter)")
        self.pause_button = push_button("Pause", self.toggle_pause, "Ctrl+P",
                                        "Hold training between two steps, and resume it (Ctrl+P).\n"
                                        "While paused, other jobs (sampling) wait: Stop frees the worker.")
        self.stop_button = push_button("Stop", lambda: self.runner.cancel(TRAINING), tip="Save a checkpoint and stop; "
                                       "continue later by choosing the run above")

        form = QFormLayout()
        form.addRow("Run", self.run_choice)
        form.addRow("Images", side_by_side(self.folder, self.choose_button, stretch=0))
        form.addRow("", self.classes)
        form.addRow("Name", self.name)
        form.addRow("Model", self.preset)
        form.addRow("Resolution", self.resolution)
        form.addRow("Batch size", self.batch)
        form.addRow("Learning rate", self.lr)
        form.addRow("Train for", side_by_side(self.minutes, self.steps, self.length_unit, stretch=0))
        form.addRow("", self.estimate)
        form.addRow("Preview every", self.preview_every)
        form.addRow("Save every", self.save_every)
        form.addRow("Device", self.device)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.thumbnails = ImageView("the images appear here")
        self.thumbnails.setToolTip("The first images, as the model sees them (scaled and cut square)")
        self.thumbnails.setMinimumHeight(100)
        self.thumbnails.setMaximumHeight(150)
        controls = QVBoxLayout()
        controls.addLayout(form)
        controls.addWidget(self.advanced)
        controls.addLayout(side_by_side(self.start_button, self.pause_button, self.stop_button))
        controls.addSpacing(8)
        controls.addWidget(self.thumbnails)
        controls.addWidget(self.summary)

        self.monitor = TrainingMonitor()
        views = QVBoxLayout()
        views.addWidget(self.monitor)
        two_columns(self, controls, views)

        runner.connect_job(TRAINING, started=self.on_started, progress=self.show_training, finished=self.on_finished,
                           cancelled=self.on_cancelled, failed=self.on_failed, paused=self.update_enabled,
                           resumed=self.update_enabled)
        runner.connect_job(READING_IMAGES, progress=self.show_scan, failed=self.on_scan_failed)
        runner.connect_job(MEASURING_SPEED, progress=self.show_speed)
        runs.changed.connect(self.fill_runs)
        self.fill_runs()
        self.folder_changed()
        self.show_estimate()

    def apply_recipe(self, recipe: str) -> None:
        values = {**{k: getattr(DEFAULTS, k) for k in (*self.advanced_widgets, "batch")},
                  "lr": PRESET_LR[self.preset.currentData()], **RECIPES[recipe]}
        self.batch.setValue(values["batch"])
        self.lr.setValue(values["lr"])
        self.advanced.set_values(values)

    # --- what to expect: speed here, and the steps clean samples take ---

    def speed_settings_changed(self, *_: object) -> None:
        self.images_per_s = {}
        self.show_estimate()
        if self.isVisible() and not self.runner.is_active(TRAINING):
            self.speed_timer.start()

    def measure_speed(self) -> None:
        fields = self.config_fields()
        self.runner.submit(MEASURING_SPEED, SpeedRequest(fields["preset"], fields["resolution"], fields["batch"],
                                                         self.device.currentText(), fields["precision"],
                                                         fields["patch_size"]))

    def show_speed(self, estimate: SpeedEstimate) -> None:
        self.images_per_s, self.patch_size = estimate.images_per_s, estimate.patch_size
        self.show_estimate()

    def by_time(self) -> bool:
        """Whether "Train for" counts minutes (a time budget) rather than steps."""
        return self.length_unit.currentText() == "minutes"

    def length_unit_changed(self, *_: object) -> None:
        self.minutes.setVisible(self.by_time())
        self.steps.setVisible(not self.by_time())
        self.show_estimate()

    def show_estimate(self, *_: object) -> None:
        text, tip = plan_estimate(Plan(self.preset.currentData(), self.resolution.currentData(), self.batch.value(),
                                       self.folder_channels, self.images_per_s, self.steps.value(),
                                       self.minutes.value() if self.by_time() else None, self.patch_size))
        self.estimate.setText(text)
        self.estimate.setToolTip(tip)

    def remember(self) -> None:
        if not self.run_choice.currentData():  # a continued run's settings are its own, not the user's choice
            save_values("train", self.remembered)

    def show_command(self) -> None:
        fields = {"data": self.folder.text(), "run": self.name.text() or "my-run", **self.config_fields()}
        CommandDialog(lambda processes: train_command(fields, processes), self).exec()

    def config_fields(self) -> dict:
        """The TrainConfig fields this panel sets (the others keep TrainConfig's defaults)."""
        form = {key: widget_value(getattr(self, key)) for key in FORM_FIELDS}
        minutes = self.minutes.value() if self.by_time() else None
        return {**form, "recipe": self.recipe.currentText(), "minutes": minutes,
                "classes": "auto" if self.classes.isChecked() else "off", **self.advanced.values()}

    # --- choosing what to train ---

    def fill_runs(self) -> None:
        """A new run, or any run that can go on, from the latest runs list."""
        current = self.to_continue or self.run_choice.currentData()
        self.run_choice.blockSignals(True)
        self.run_choice.clear()
        self.run_choice.addItem(NEW_RUN, "")
        for info in self.runs.resumable():
            self.run_choice.addItem(f"Continue {info.name} (step {info.step})", str(info.path))
        self.run_choice.setCurrentIndex(max(0, self.run_choice.findData(current)))
        self.run_choice.blockSignals(False)
        just_trained = self.to_continue and self.run_choice.currentData() == self.to_continue
        self.to_continue = ""
        if just_trained:
            self.run_chosen()  # Start again continues it
        self.update_enabled()

    def choose_run(self, run: str) -> None:
        index = self.run_choice.findData(run)
        if index < 0:
            self.status.emit(f"{Path(run).name} cannot be continued: it holds no training state")
            return
        self.run_choice.setCurrentIndex(index)

    def run_chosen(self, *_: object) -> None:
        run = self.run_choice.currentData()
        if run:
            self.show_run_settings(Path(run))
        else:
            self.folder_changed()
        self.update_enabled()

    def show_run_settings(self, run: Path) -> None:
        try:
            config = TrainConfig.from_dict(read_run_config(run)["training"])  # older runs: what they trained with
            config.check_declared()  # a hand-edited config.json: a message, not a widget fed a string
            training = asdict(config)
        except (DiffstudioError, KeyError, TypeError) as e:
            self.status.emit(str(e))
            return
        self.folder.setText(training["data"])
        self.name.setText(run.name)
        for key in ("preset", "batch", "lr", "preview_every", "save_every"):
            set_widget_value(getattr(self, key), training[key])
        for widget, value in ((self.resolution, training["resolution"]), (self.classes, training["classes"] == "auto")):
            widget.blockSignals(True)  # no new summary of the folder: a continued run keeps its own
            set_widget_value(widget, value)
            widget.blockSignals(False)
        self.recipe.setCurrentText(training["recipe"] or self.recipe.currentText())  # older runs name none
        self.advanced.set_values(training)
        step = run_info(run).step
        self.steps.setValue(max(training["steps"], step + 1))
        if training["minutes"] is not None:
            self.minutes.setValue(math.ceil(training["minutes"]))
        self.length_unit.setCurrentText("steps" if training["minutes"] is None else "minutes")
        self.run_settings = training
        self.summary.setText(f"Continuing {run.name} from step {step} with its own settings. Train for sets a new "
                             "total for the whole run; changing the batch size, learning rate or intervals (after an "
                             "out-of-memory or NaN stop, say) is recorded, and the run is then no longer "
                             "bit-identical.")
        self.thumbnails.set_image(None)

    def resume_changes(self) -> dict:
        """The continued run's settings changed in the form (recorded by the trainer)."""
        fields = self.config_fields()
        return {key: fields[key] for key in RESUME_FIELDS if fields[key] != self.run_settings.get(key)}

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of images", self.folder.text())
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str) -> None:
        self.run_choice.setCurrentIndex(0)
        self.folder.setText(folder)
        self.folder_changed()

    def folder_changed(self, *_: object) -> None:
        """A new folder or resolution: read the images (in the worker) for the summary and a fresh run name."""
        if self.run_choice.currentData():
            return
        folder = self.folder.text().strip()
        self.name.setText(unused_name(Path(folder).name if folder else "run", self.runs_root))
        if folder and self.isVisible():  # else on first show: no work before anyone looks
            self.summary.setText("reading the images…")
            self.runner.submit(READING_IMAGES, DatasetRequest(folder, self.resolution.currentData(),
                                                              self.classes.isChecked()))

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self.thumbnails.pixmap_full is None and not self.summary.text():
            self.folder_changed()
        if not self.images_per_s and not self.runner.is_active(TRAINING):
            self.speed_timer.start()

    def set_dropped(self, path: Path) -> None:
        """A dropped folder, or the folder of a dropped image."""
        self.set_folder(str(path if path.is_dir() else path.parent))

    # --- training ---

    def start(self) -> None:
        run, device = self.run_choice.currentData(), self.device.currentText()
        measuring = self.runner.is_active(MEASURING_SPEED)  # unfinished: the run measures what it needs itself
        if run and self.by_time():
            changes = {**self.resume_changes(), "minutes": self.minutes.value()}
            request = TrainRequest(run, None, device, changes=changes, decoded=self.decoded)
        elif run:
            request = TrainRequest(run, None, device, self.steps.value(), self.resume_changes(), self.decoded)
        else:
            try:
                run = str(run_path(self.name.text().strip(), self.runs_root))
            except DiffstudioError as e:
                self.status.emit(str(e))
                return
            from_folder = {"data": str(Path(self.folder.text().strip()).resolve()), **self.config_fields()}
            measured = {} if measuring else self.images_per_s  # auto's choice as the panel showed it
            request = TrainRequest(run, from_folder, device, decoded=self.decoded, images_per_s=measured)
        self.monitor.clear()
        if measuring:  # the run need not wait for it
            self.runner.cancel(MEASURING_SPEED)
            self.images_per_s = {}  # measured again once the run ends
        self.runner.submit(TRAINING, request)

    def toggle_pause(self) -> None:
        if self.runner.is_paused(TRAINING):
            self.runner.resume(TRAINING)
        else:
            self.runner.pause(TRAINING)

    def on_started(self) -> None:
        self.monitor.show_state("reading the images and building the model…")
        self.update_enabled()

    def show_training(self, item: ReadProgress | TrainProgress) -> None:
        if isinstance(item, ReadProgress):
            self.monitor.show_reading(item)
        else:
            self.show_progress(item)

    def show_scan(self, item: ReadProgress | DatasetSummary) -> None:
        if isinstance(item, ReadProgress):
            if not self.run_choice.currentData():
                self.summary.setText(item.text())
        else:
            self.show_summary(item)

    def show_summary(self, summary: DatasetSummary) -> None:
        if summary.folder == self.folder.text().strip() and not self.run_choice.currentData():
            self.summary.setText(summary.text)
            self.thumbnails.set_image(summary.thumbnails)
            self.folder_channels = summary.channels
            self.decoded = summary.decoded
            self.show_estimate()

    def show_progress(self, p: TrainProgress) -> None:
        if p.run != self.training_run:
            self.training_run = p.run
            self.training_run_changed.emit(p.run)
            self.runs_changed.emit()  # a new run's folder exists now
        self.monitor.show_progress(p, self.runner.is_paused(TRAINING))

    def on_finished(self) -> None:
        self.training_done(f"Training finished: {Path(self.training_run).name}")

    def on_cancelled(self) -> None:
        if not self.training_run:  # stopped while reading the images: no run yet
            self.monitor.show_state("stopped before the first step")
            self.training_done("")
            return
        step = run_info(Path(self.training_run)).step
        self.monitor.show_state(f"stopped at step {step}; checkpoint saved")
        self.training_done(f"Stopped {Path(self.training_run).name} at step {step}; checkpoint saved")

    def on_failed(self, message: str, details: str) -> None:
        self.monitor.show_state("stopped by an error")
        self.training_done("")

    def on_scan_failed(self, message: str, details: str) -> None:
        self.summary.setText(f"<span style='color:#c0392b'>{message}</span>")
        self.thumbnails.set_image(None)

    def training_done(self, message: str) -> None:
        run = self.training_run
        self.training_run = ""
        self.training_run_changed.emit("")
        self.to_continue = run
        self.runs_changed.emit()  # the list is read again; then the run is chosen (fill_runs)
        if message:
            self.status.emit(message)
        self.update_enabled()
        if not self.images_per_s and self.isVisible():
            self.speed_timer.start()

    def update_enabled(self, *_: object) -> None:
        training = self.runner.is_active(TRAINING)
        continuing = bool(self.run_choice.currentData())
        self.start_button.setEnabled(not training)
        self.start_button.setText("Continue run" if continuing else "Start")
        self.pause_button.setEnabled(training)
        self.pause_button.setText("Resume" if self.runner.is_paused(TRAINING) else "Pause")
        self.stop_button.setEnabled(training)
        for widget in (self.run_choice, self.steps, self.minutes, self.length_unit, self.device, self.batch, self.lr,
                       self.preview_every, self.save_every):
            widget.setEnabled(not training)
        for widget in (self.folder, self.choose_button, self.classes, self.name, self.preset, self.resolution,
                       self.recipe, *self.advanced_widgets.values()):
            widget.setEnabled(not training and not continuing)
