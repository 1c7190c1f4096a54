"""Distil a run: its settings, progress round by round with the time left, pause and stop. Each round's student is
kept as it ends; the Checkpoints panel lists them under the run, and Load samples with one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from diffstudio.core.distill_settings import DistillSettings
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.jobs.messages import DistillProgress, Done
from diffstudio.core.jobs.requests import DistillRequest
from diffstudio.core.progress import format_duration
from diffstudio.core.settings import declared, declared_settings
from diffstudio.core.train_config import MAX_MINUTES
from diffstudio.gui.job_names import DISTILLING
from diffstudio.gui.layout import form_widget, push_button, side_by_side
from diffstudio.gui.remembered import restore_values, save_values
from diffstudio.gui.setting_widgets import declared_widget, setting_widget, tooltip, widget_value
from diffstudio.gui.worker import JobRunner

# shown first, with "Distil for" below them; every other setting under "Advanced settings" (ADVANCED)
SHOWN = ("method", "steps", "teacher_steps", "factor")
LABELS = {"method": "Method", "steps": "Student's steps", "teacher_steps": "First teacher's steps",
          "factor": "Each round divides steps by"}
LENGTH = ("minutes", "updates")  # "Distil for", one or the other
# every other setting the command line takes, folded away: their defaults are what the study chose
ADVANCED = tuple(d for d in declared_settings(DistillSettings) if d.name not in (*SHOWN, *LENGTH))
LENGTH_UNITS = ("minutes", "updates a round")  # how "Distil for" counts: a time budget (DistillSettings.minutes) or not
DEFAULT_MINUTES = 15  # what the Distil dialog offers first


class DistillDialog(QDialog):
    student_written = Signal(object)  # a Done naming the run, when a round's student is saved

    def __init__(self, runner: JobRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner, self.run = runner, Path()
        self.widgets = {name: declared_widget(DistillSettings, name) for name in SHOWN}
        form = QFormLayout()
        for name, widget in self.widgets.items():  # each with its declaration's help as its tooltip
            form.addRow(LABELS[name], widget)
        self.minutes = QSpinBox(minimum=1, maximum=MAX_MINUTES, singleStep=5, value=DEFAULT_MINUTES)
        self.minutes.setToolTip(tooltip(declared(DistillSettings, "minutes").setting.help))
        self.updates = declared_widget(DistillSettings, "updates")
        self.length_unit = QComboBox()
        self.length_unit.addItems(LENGTH_UNITS)
        self.length_unit.setToolTip("Distil for a time budget (the updates follow this machine's speed) or for a\n"
                                    "number of updates a round (the same student on any machine)")
        self.length_unit.currentTextChanged.connect(self.length_unit_changed)
        form.addRow("Distil for", side_by_side(self.minutes, self.updates, self.length_unit, stretch=0))
        self.advanced = {d.name: setting_widget(d) for d in ADVANCED}
        self.remembered = {**self.widgets, **self.advanced, "minutes": self.minutes, "updates": self.updates,
                           "length_unit": self.length_unit}
        restore_values("distil", self.remembered)
        self.length_unit_changed()
        self.images = QLineEdit()
        self.images.setPlaceholderText("the folder the run trained on")
        self.images.setToolTip("The images the student learns on: the run's own unless you choose a folder (a run "
                               "imported from the Hub needs one)")
        form.addRow("Images", side_by_side(self.images, push_button("Browse…", self.choose_images), stretch=0))
        intro = QLabel("Progressive (Salimans & Ho 2022): a student learns to take in one step what its teacher "
                       "takes in two (or more); each round divides the steps, and every round's student is kept. "
                       "Stopping keeps the finished rounds, and distilling again with the same settings goes on "
                       "from them. "
                       "Consistency (Song et al. 2023): one student learns to jump from any point of the teacher's "
                       "path to its end. Load a student from the Checkpoints panel's list.")
        intro.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setFormat("")
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.start_button = push_button("Distil", self.start, "Ctrl+Return")
        self.pause_button = push_button("Pause", self.toggle_pause)
        self.stop_button = push_button("Stop", self.stop)
        self.pause_button.setEnabled(False)
        self.stop_button.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.advanced_settings())
        layout.addWidget(self.state)
        layout.addLayout(side_by_side(self.progress, self.start_button, self.pause_button, self.stop_button,
                                      stretch=0))
        runner.connect_job(DISTILLING, progress=self.on_progress, failed=self.on_failed, ended=self.on_ended,
                           cancelled=lambda: self.state.setText("Stopped: the finished rounds' students are kept"),
                           paused=lambda: self.pause_button.setText("Resume"),
                           resumed=lambda: self.pause_button.setText("Pause"))
        self.resize(600, 300)

    def set_run(self, run: Path) -> None:
        if run != self.run:
            self.images.clear()  # another run's images are not this one's
        self.run = run
        self.setWindowTitle(f"Distil {run.name}")
        self.state.setText(f"It learns from {run.name}'s latest checkpoint, on the images the run trained on.")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

    def by_time(self) -> bool:
        """Whether "Distil for" counts minutes (a time budget) rather than updates."""
        return self.length_unit.currentText() == "minutes"

    def length_unit_changed(self, *_: object) -> None:
        self.minutes.setVisible(self.by_time())
        self.updates.setVisible(not self.by_time())

    def inputs(self) -> tuple[QWidget, ...]:
        """What a running distillation locks: its settings and Distil."""
        return (self.start_button, self.images, *self.widgets.values(), *self.advanced.values(), self.minutes,
                self.updates, self.length_unit)

    def advanced_settings(self) -> QCollapsible:
        collapsible = QCollapsible("Advanced settings")
        collapsible.addWidget(form_widget((d.label, self.advanced[d.name]) for d in ADVANCED))
        return collapsible

    def settings(self) -> DistillSettings:
        length = {"minutes": self.minutes.value()} if self.by_time() else {"updates": widget_value(self.updates)}
        chosen = {name: widget_value(widget) for name, widget in {**self.widgets, **self.advanced}.items()}
        return DistillSettings(**chosen, **length)

    def start(self) -> None:
        settings = self.settings()
        try:
            settings.validate()
        except DiffstudioError as e:
            self.state.setText(str(e))
            return
        save_values("distil", self.remembered)
        self.state.setText(f"Reading the images and the checkpoint of {self.run.name}…")
        self.progress.setRange(0, 0)  # busy until the first update
        for widget in self.inputs():
            widget.setEnabled(False)
        self.pause_button.setEnabled(True)
        self.stop_button.setEnabled(True)
        fields = {name: getattr(settings, name) for name in DistillSettings.__dataclass_fields__}
        self.runner.submit(DISTILLING, DistillRequest(str(self.run), fields, self.images.text().strip() or None))

    def choose_images(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose the images to distil on")
        if folder:
            self.images.setText(folder)

    def toggle_pause(self) -> None:
        if self.runner.is_paused(DISTILLING):
            self.runner.resume(DISTILLING)
        else:
            self.runner.pause(DISTILLING)

    def stop(self) -> None:
        self.runner.cancel(DISTILLING)
        self.state.setText("Stopping…")

    def on_progress(self, item: DistillProgress) -> None:
        self.progress.setRange(0, item.total)
        self.progress.setValue(item.index)
        self.state.setText(progress_text(item))
        if item.saved:
            self.student_written.emit(Done(f"The {item.student_steps}-step student of {self.run.name} is saved",
                                           str(self.run)))

    def on_failed(self, message: str, _details: str) -> None:
        self.state.setText(message)

    def on_ended(self) -> None:
        self.progress.setRange(0, max(1, self.progress.maximum()))
        for widget in self.inputs():
            widget.setEnabled(True)
        self.pause_button.setEnabled(False)
        self.pause_button.setText("Pause")
        self.stop_button.setEnabled(False)

    def reject(self) -> None:
        """Closing the dialog stops the distillation (the finished rounds are kept)."""
        self.runner.cancel(DISTILLING)
        super().reject()


def progress_text(item: DistillProgress) -> str:
    if item.saved and item.index == item.total:
        return f"Done: the {item.student_steps}-step student is saved. Load it from the Checkpoints panel."
    head = f"Round {item.round} of {item.rounds}: a student of {item.student_steps} steps"
    if item.loss != item.loss:  # NaN: a round kept from before
        return f"{head}, kept from an earlier distillation"
    of = f"of ≈ {item.updates} (its minutes at this speed)" if item.by_time else f"of {item.updates}"
    return f"{head}, update {item.update} {of}, loss {item.loss:.4f}; ≈ {format_duration(item.eta_s)} left"
