"""Choosing a checkpoint: a run from the runs folder or one of its distilled students, or any run or diffusers
folder on disk."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QSignalBlocker
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QWidget

from diffstudio.core.storage.run_folder import parse_step
from diffstudio.core.storage.students import student_label, student_steps
from diffstudio.gui.layout import push_button
from diffstudio.gui.runs_model import RunsModel


class CheckpointPicker(QWidget):
    def __init__(self, runs: RunsModel, settings_key: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.runs, self.settings_key = runs, settings_key
        self.combo = QComboBox()
        self.combo.setToolTip("A run from the Checkpoints panel, or a diffusers folder")
        browse = push_button("Browse…", self.browse, tip="Choose a run folder or a diffusers folder on disk")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(browse)
        runs.changed.connect(self.fill)
        self.fill()

    def path(self) -> str:
        return self.combo.currentData() or ""

    def remember(self) -> None:
        QSettings().setValue(self.settings_key, self.path())

    def fill(self) -> None:
        """The runs of the latest list, keeping the choice (or the remembered one). The list is rebuilt silently:
        a panel hears of a new choice only when the kept one is gone, not of the runs passed on the way to it (it
        would time or sample each, and fail on one a rename has just taken away)."""
        before = self.path()
        keep = before or QSettings().value(self.settings_key, "", str)
        with QSignalBlocker(self.combo):
            self.combo.clear()
            for info in self.runs.usable():
                self.combo.addItem(f"{info.name}  ({info.preset}, {info.resolution}px, step {info.step})",
                                   str(info.path))
                for _, path in info.students:
                    self.combo.addItem(picker_label(info.name, path), str(path))
            if keep and Path(keep).exists():
                self.select(keep)
        if self.path() != before:
            self.combo.currentIndexChanged.emit(self.combo.currentIndex())

    def browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a run folder or a diffusers folder")
        if folder:
            self.select(folder)

    def select(self, path: str) -> None:
        """A folder, or one kept step file of a run (run/checkpoints/step_N.safetensors)."""
        if self.combo.findData(path) < 0:
            chosen = Path(path)
            step = parse_step(chosen.name) if chosen.is_file() else None
            if student_steps(chosen) is not None:
                label = picker_label(chosen.parent.parent.name, chosen)
            else:
                label = chosen.name if step is None else f"{chosen.parent.parent.name} at step {step}"
            self.combo.addItem(label, path)
        self.combo.setCurrentIndex(self.combo.findData(path))


def picker_label(run: str, student: Path) -> str:
    return f"{run}  ({student_label(student)})"
