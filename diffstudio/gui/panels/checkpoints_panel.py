"""Checkpoints: every run with its metadata and preview; load, rename, duplicate, delete, import, export."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QMenu,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from diffstudio.core.errors import DiffstudioError
from diffstudio.core.storage.run_folder import list_checkpoints
from diffstudio.core.storage.runs import RunInfo, delete_run, list_runs, new_run_path, rename_run
from diffstudio.gui.worker import JobRunner

if TYPE_CHECKING:
    from diffstudio.core.jobs import Done

JOB = "checkpoints"
COLUMNS = ("Preview", "Name", "Dataset", "Model", "Resolution", "Step", "Last loss", "Modified", "Size")


class CheckpointsPanel(QWidget):
    status = Signal(str)
    load_requested = Signal(str)  # a run folder, for the Sample and Interpolate panels
    resume_requested = Signal(str)  # a run folder, for the Train panel
    runs_changed = Signal()

    def __init__(self, runner: JobRunner, runs_root: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner, self.runs_root = runner, runs_root
        self.runs: list[RunInfo] = []
        self.training_run = ""  # the run the Train panel is training: not to be renamed or deleted meanwhile

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(64, 64))
        self.table.verticalHeader().setDefaultSectionSize(70)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self.load_selected)
        self.table.itemSelectionChanged.connect(self.update_enabled)
        self.table.itemSelectionChanged.connect(self.list_steps)

        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for label, slot, tip, needs_run in (
            ("Load", self.load_selected, "Sample and interpolate with this run (double-click does the same)", True),
            ("Resume training", self.resume_selected, "Continue training this run in the Train panel", True),
            ("Rename…", self.rename_selected, "Give the run a new name", True),
            ("Duplicate…", self.duplicate_selected, "Copy the run under a new name", True),
            ("Delete…", self.delete_selected, "Delete the run and all its checkpoints", True),
            ("Export", None, "Copy the run out of the runs folder, or write it as a diffusers folder", True),
            ("Import", None, "Bring in a run folder, or a diffusers folder (e.g. google/ddpm-cifar10-32)", False),
            ("Open folder", self.open_selected, "Show the run's files", True),
            ("Refresh", self.refresh, "Read the runs folder again", False),
        ):
            button = QPushButton(label)
            button.setToolTip(tip)
            if slot is not None:
                button.clicked.connect(slot)
            button.setProperty("needs_run", needs_run)
            self.buttons[label] = button
            row.addWidget(button)
        row.addStretch(1)
        self.step_choice = QComboBox()
        self.step_choice.setToolTip("Which kept checkpoint Load uses: the latest, or an older step")
        row.insertWidget(1, self.step_choice)
        self.buttons["Delete…"].setShortcut("Del")
        self.buttons["Export"].setMenu(self.menu((("Run folder…", self.export_run),
                                                  ("diffusers folder…", self.export_diffusers))))
        self.buttons["Import"].setMenu(self.menu((("Run folder…", self.import_run),
                                                  ("diffusers folder…", self.import_diffusers))))

        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        runner.progress.connect(self.on_progress)
        self.refresh()

    def menu(self, actions) -> QMenu:
        menu = QMenu(self)
        for label, slot in actions:
            menu.addAction(label).triggered.connect(slot)
        return menu

    # --- the table ---

    def refresh(self) -> None:
        selected = self.selected_run()
        self.runs = list_runs(self.runs_root)
        self.table.setRowCount(len(self.runs))
        for r, info in enumerate(self.runs):
            self.table.setItem(r, 0, self.preview_item(info))
            values = (info.name, info.dataset, info.preset, f"{info.resolution}px" if info.resolution else "",
                      f"{info.step}" + (f" / {info.total_steps}" if info.total_steps else ""),
                      f"{info.loss:.4f}" if isinstance(info.loss, float) and info.loss == info.loss else "",
                      f"{info.modified:%Y-%m-%d %H:%M}", f"{info.size_bytes / 1e6:.1f} MB")
            for c, value in enumerate(values, start=1):
                item = QTableWidgetItem(value)
                if info.error:
                    item.setToolTip(f"unreadable: {info.error}")
                self.table.setItem(r, c, item)
            if selected is not None and info.name == selected.name:
                self.table.selectRow(r)
        self.update_enabled()
        self.runs_changed.emit()

    @staticmethod
    def preview_item(info: RunInfo) -> QTableWidgetItem:
        item = QTableWidgetItem()
        if info.preview is not None:
            item.setIcon(QIcon(QPixmap(str(info.preview))))
        return item

    def selected_run(self) -> RunInfo | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.runs[rows[0].row()] if rows and rows[0].row() < len(self.runs) else None

    def select(self, name: str) -> None:
        for r, info in enumerate(self.runs):
            if info.name == name:
                self.table.selectRow(r)

    def update_enabled(self) -> None:
        has_run = self.selected_run() is not None
        for button in self.buttons.values():
            if button.property("needs_run"):
                button.setEnabled(has_run)

    # --- actions ---

    def ask_name(self, title: str, default: str) -> str | None:
        name, ok = QInputDialog.getText(self, title, "Name:", text=default)
        return name.strip() if ok and name.strip() else None

    def report(self, action) -> bool:
        """Run a quick file action; its error is shown in a dialog."""
        try:
            action()
            return True
        except DiffstudioError as e:
            QMessageBox.warning(self, "diffstudio", str(e))
            return False

    def list_steps(self) -> None:
        """The selected run's kept checkpoints, newest first, for Load."""
        self.step_choice.clear()
        info = self.selected_run()
        if info is None or info.error:
            return
        kept = list_checkpoints(info.path)[::-1]
        for i, (step, path) in enumerate(kept):
            self.step_choice.addItem(f"latest (step {step})" if i == 0 else f"step {step}", "" if i == 0 else str(path))

    def load_selected(self, *_: object) -> None:
        if (info := self.selected_run()) is not None:
            self.load_requested.emit(self.step_choice.currentData() or str(info.path))

    def resume_selected(self, *_: object) -> None:
        if (info := self.selected_run()) is not None:
            self.resume_requested.emit(str(info.path))

    def set_training_run(self, run: str) -> None:
        self.training_run = run

    def is_training(self, info: RunInfo) -> bool:
        if self.training_run and Path(self.training_run) == info.path:
            QMessageBox.information(self, "diffstudio", f"{info.name} is training: stop it first")
            return True
        return False

    def rename_selected(self) -> None:
        info = self.selected_run()
        if not info or self.is_training(info):
            return
        name = self.ask_name(f"Rename {info.name}", info.name)
        if name and name != info.name:
            if self.report(lambda: rename_run(info.name, name, self.runs_root)):
                self.refresh()
                self.select(name)

    def duplicate_selected(self) -> None:
        info = self.selected_run()
        if info and (name := self.ask_name(f"Duplicate {info.name}", f"{info.name}-copy")):
            self.runner.submit(JOB, "duplicate_job", info.name, name, str(self.runs_root))

    def delete_selected(self) -> None:
        info = self.selected_run()
        if info is None or self.is_training(info):
            return
        answer = QMessageBox.question(self, "Delete run?", f"Delete {info.name} and all its checkpoints "
                                      f"({info.size_bytes / 1e6:.0f} MB)? This cannot be undone.")
        if answer == QMessageBox.StandardButton.Yes and self.report(lambda: delete_run(info.name, self.runs_root)):
            self.refresh()
            self.status.emit(f"Deleted {info.name}")

    def export_run(self) -> None:
        self.export_selected("Export the run folder as", "", "copy_run_job")

    def export_diffusers(self) -> None:
        self.export_selected("Export as a diffusers folder", "-diffusers", "export_diffusers_job")

    def export_selected(self, title: str, suffix: str, job: str) -> None:
        info = self.selected_run()
        if info is None:
            return
        out, _ = QFileDialog.getSaveFileName(self, title, str(Path.home() / f"{info.name}{suffix}"))
        if out:
            self.runner.submit(JOB, job, str(info.path), out)

    def import_run(self) -> None:
        self.import_folder("Choose a diffstudio run folder", "copy_run_job")

    def import_diffusers(self) -> None:
        self.import_folder("Choose a diffusers folder (DDPMPipeline or UNet2DModel)", "import_diffusers_job")

    def import_folder(self, title: str, job: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, title)
        if folder and (name := self.ask_name("Import as run", Path(folder).name)):
            if self.report(lambda: new_run_path(name, self.runs_root)):
                self.runner.submit(JOB, job, folder, str(self.runs_root / name))

    def open_selected(self) -> None:
        if (info := self.selected_run()) is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(info.path)))

    def on_progress(self, job: str, done: Done) -> None:
        if job == JOB:
            self.status.emit(done.message)
            self.refresh()
            self.select(Path(done.path).name)  # exports lie outside the runs folder: nothing to select
