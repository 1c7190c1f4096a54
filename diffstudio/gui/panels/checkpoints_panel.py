"""Checkpoints: every run with its metadata and preview; load, distil, rename, duplicate, delete, import, export."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
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
    QTableView,
    QVBoxLayout,
    QWidget,
)

from diffstudio.core.errors import DiffstudioError
from diffstudio.core.jobs.messages import Done
from diffstudio.core.jobs.requests import (
    CopyRunRequest,
    DeleteRunRequest,
    DeleteStudentRequest,
    DuplicateRunRequest,
    ExportDiffusersRequest,
    ImportDiffusersRequest,
    RenameRunRequest,
)
from diffstudio.core.storage.model_card import LICENCES, check_licence
from diffstudio.core.storage.runs import RunInfo, new_run_path
from diffstudio.core.storage.students import student_label, student_steps
from diffstudio.gui.distill_dialog import DistillDialog
from diffstudio.gui.hub_dialog import HubDialog
from diffstudio.gui.job_names import CHECKPOINTS, DISTILLING, RUN_FILES
from diffstudio.gui.runs_model import PREVIEW_SIZE, RunsModel
from diffstudio.gui.worker import JobRunner

FILE_ACTIONS = ("Rename…", "Duplicate…", "Delete…", "Export")  # the buttons of run-folder jobs


class CheckpointsPanel(QWidget):
    status = Signal(str)
    load_requested = Signal(str)  # a run folder, for the Sample and Interpolate panels
    resume_requested = Signal(str)  # a run folder, for the Train panel

    def __init__(self, runner: JobRunner, run_files: JobRunner, runs: RunsModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner, self.run_files, self.model = runner, run_files, runs
        self.runs_root = runs.runs_root
        self.training_run = ""  # the run the Train panel is training: not to be renamed or deleted meanwhile
        self.to_select = ""  # the run to select once the list is read again (renamed, copied, imported)

        self.table = QTableView()
        self.table.setModel(runs)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(PREVIEW_SIZE)
        self.table.verticalHeader().setDefaultSectionSize(PREVIEW_SIZE.height() + 6)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self.load_selected)
        self.table.selectionModel().selectionChanged.connect(self.selection_changed)
        runs.modelAboutToBeReset.connect(self.keep_selection)
        runs.changed.connect(self.restore_selection)

        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for label, slot, tip, needs_run in (
            ("Load", self.load_selected, "Sample and interpolate with this run (double-click does the same)", True),
            ("Resume training", self.resume_selected, "Continue training this run in the Train panel", True),
            ("Distil…", self.distil_selected, "Teach a student to sample this run's model in a few steps "
                                              "(2–8 model calls instead of 20–50)", True),
            ("Rename…", self.rename_selected, "Give the run a new name", True),
            ("Duplicate…", self.duplicate_selected, "Copy the run under a new name", True),
            ("Delete…", self.delete_selected, "Delete the run and all its checkpoints", True),
            ("Export", None, "Copy the run out of the runs folder, or write it as a diffusers folder", True),
            ("Import", None, "Bring in a run folder, a diffusers folder, or a model from the Hugging Face Hub (the "
                             "DDPM paper's, e.g. google/ddpm-cifar10-32)", False),
            ("Open folder", self.open_selected, "Show the run's files", True),
            ("Refresh", runs.refresh, "Read the runs folder again", False),
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
        self.step_choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.step_choice.setToolTip("What Load uses: the latest checkpoint, an older step, or a distilled student "
                                    "(fast: a few model calls)")
        row.insertWidget(1, self.step_choice)
        self.buttons["Delete…"].setShortcut("Del")
        self.buttons["Export"].setMenu(self.menu((("Run folder…", self.export_run),
                                                  ("diffusers folder…", self.export_diffusers))))
        self.buttons["Import"].setMenu(self.menu((("Run folder…", self.import_run),
                                                  ("diffusers folder…", self.import_diffusers),
                                                  ("From the Hugging Face Hub…", self.get_from_hub))))
        self.hub_dialog: HubDialog | None = None
        self.distill_dialog: DistillDialog | None = None

        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        runner.connect_job(CHECKPOINTS, progress=self.on_done)
        run_files.connect_job(RUN_FILES, progress=self.on_done, started=self.update_enabled, ended=self.update_enabled)
        self.update_enabled()

    def menu(self, actions) -> QMenu:
        menu = QMenu(self)
        for label, slot in actions:
            menu.addAction(label).triggered.connect(slot)
        return menu

    # --- the table ---

    def keep_selection(self) -> None:
        if not self.to_select and (info := self.selected_run()) is not None:
            self.to_select = info.name

    def restore_selection(self) -> None:
        if self.to_select:
            self.select(self.to_select)
            self.to_select = ""
        self.selection_changed()

    def selected_run(self) -> RunInfo | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.run(rows[0].row()) if rows else None

    def select(self, name: str) -> None:
        if (row := self.model.row_of(name)) is not None:
            self.table.selectRow(row)

    def selection_changed(self, *_: object) -> None:
        self.update_enabled()
        self.list_steps()

    def update_enabled(self, *_: object) -> None:
        """Run actions need a run; the file actions go one at a time (each re-reads the list when done)."""
        has_run = self.selected_run() is not None
        copying = self.run_files.is_active(RUN_FILES)
        for label, button in self.buttons.items():
            if button.property("needs_run"):
                button.setEnabled(has_run and not (copying and label in FILE_ACTIONS))
        self.buttons["Import"].setEnabled(not copying)

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
        """The selected run's kept checkpoints, newest first, for Load: as the run-files thread listed them (a
        listing here, in the GUI thread, would race a delete on that thread)."""
        self.step_choice.clear()
        info = self.selected_run()
        if info is None or info.error:
            return
        kept = info.checkpoints[::-1]
        for i, (step, path) in enumerate(kept):
            self.step_choice.addItem(f"latest (step {step})" if i == 0 else f"step {step}", "" if i == 0 else str(path))
        for _, path in info.students:
            self.step_choice.addItem(student_label(path), str(path))

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
        if name and name != info.name and self.report(lambda: new_run_path(name, self.runs_root)):
            self.run_files.submit(RUN_FILES, RenameRunRequest(info.name, name, str(self.runs_root)))

    def duplicate_selected(self) -> None:
        info = self.selected_run()
        if info and (name := self.ask_name(f"Duplicate {info.name}", f"{info.name}-copy")):
            self.status.emit(f"Copying {info.name} to {name}…")
            self.run_files.submit(RUN_FILES, DuplicateRunRequest(info.name, name, str(self.runs_root)))

    def distil_selected(self) -> None:
        info = self.selected_run()
        if info is None or self.is_training(info):
            return
        if self.distill_dialog is None:  # one dialog, for one distillation at a time
            self.distill_dialog = DistillDialog(self.runner, self)
            self.distill_dialog.student_written.connect(self.on_done)
        if not self.runner.is_active(DISTILLING):
            self.distill_dialog.set_run(info.path)
        self.distill_dialog.show()
        self.distill_dialog.raise_()

    def delete_selected(self) -> None:
        """The run, or where the step list names a student, that student alone."""
        info = self.selected_run()
        if info is None or self.is_training(info):
            return
        if self.chosen_student():
            self.delete_student(info)
            return
        answer = QMessageBox.question(self, "Delete run?", f"Delete {info.name} and all its checkpoints "
                                      f"({info.size_bytes / 1e6:.0f} MB)? This cannot be undone.")
        if answer == QMessageBox.StandardButton.Yes:
            self.status.emit(f"Deleting {info.name}…")
            self.run_files.submit(RUN_FILES, DeleteRunRequest(info.name, str(self.runs_root)))

    def delete_student(self, info: RunInfo) -> None:
        answer = QMessageBox.question(self, "Delete student?", f"Delete {info.name}'s "
                                      f"{self.step_choice.currentText()}? The run and its checkpoints stay.")
        if answer == QMessageBox.StandardButton.Yes:
            self.run_files.submit(RUN_FILES, DeleteStudentRequest(self.chosen_student()))

    def export_run(self) -> None:
        self.export_selected("Export the run folder as", "", self.run_files, RUN_FILES, CopyRunRequest)

    def export_diffusers(self) -> None:
        """A diffusers folder with a model card, whose licence the user chooses (the Hub's ids)."""
        if self.selected_run() is None:
            return
        licence, ok = QInputDialog.getItem(self, "Export as a diffusers folder", "Licence, for the model card "
                                           "(README.md) the Hub shows:", LICENCES, LICENCES.index("other"), True)
        if ok and self.report(lambda: check_licence(licence)):
            self.export_selected("Export as a diffusers folder", "-diffusers", self.runner, CHECKPOINTS,
                                 partial(ExportDiffusersRequest, licence=licence), self.chosen_student())

    def export_selected(self, title: str, suffix: str, jobs: JobRunner, slot: str,
                        request: Callable[[str, str], CopyRunRequest | ExportDiffusersRequest],
                        student: str | None = None) -> None:
        """The selected run, or the student chosen in the step list where `student` names it."""
        info = self.selected_run()
        if info is None:
            return
        name = f"{info.name}-{Path(student).stem.removeprefix('steps_')}-steps" if student else info.name
        out, _ = QFileDialog.getSaveFileName(self, title, str(Path.home() / f"{name}{suffix}"))
        if out:
            jobs.submit(slot, request(student or str(info.path), out))

    def chosen_student(self) -> str | None:
        """The student the step list names, if it names one."""
        chosen = self.step_choice.currentData()
        return chosen if chosen and student_steps(chosen) is not None else None

    def import_run(self) -> None:
        self.import_folder("Choose a diffstudio run folder", self.run_files, RUN_FILES, CopyRunRequest)

    def import_diffusers(self) -> None:
        self.import_folder("Choose a diffusers folder (DDPMPipeline or UNet2DModel)", self.runner, CHECKPOINTS,
                           ImportDiffusersRequest)

    def import_folder(self, title: str, jobs: JobRunner, slot: str,
                      request: type[CopyRunRequest | ImportDiffusersRequest]) -> None:
        folder = QFileDialog.getExistingDirectory(self, title)
        if folder and (name := self.ask_name("Import as run", Path(folder).name)):
            if self.report(lambda: new_run_path(name, self.runs_root)):
                jobs.submit(slot, request(folder, str(self.runs_root / name)))

    def get_from_hub(self) -> None:
        if self.hub_dialog is None:
            self.hub_dialog = HubDialog(self.runner, self.runs_root, self)
            self.hub_dialog.imported.connect(self.on_done)
        self.hub_dialog.show()
        self.hub_dialog.raise_()

    def open_selected(self) -> None:
        if (info := self.selected_run()) is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(info.path)))

    def on_done(self, done: Done) -> None:
        """A run made, renamed or deleted: read the list again, and select what was made. Exports lie outside
        the runs folder and change nothing here."""
        self.status.emit(done.message)
        path = Path(done.path)
        if path.parent == self.runs_root:
            if path.exists():
                self.to_select = path.name
            self.model.refresh()
