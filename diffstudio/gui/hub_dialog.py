"""Get from the Hub: the paper's released models, or any diffusers model id, downloaded and imported as a run."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from diffstudio.core.errors import DiffstudioError
from diffstudio.core.jobs.messages import Done
from diffstudio.core.jobs.requests import ImportHubRequest
from diffstudio.core.progress import DownloadProgress
from diffstudio.core.storage.hub import PAPER_MODELS, parse_repo_id
from diffstudio.core.storage.runs import new_run_path
from diffstudio.gui.job_names import DOWNLOADING
from diffstudio.gui.layout import push_button, side_by_side
from diffstudio.gui.worker import JobRunner

COLUMNS = ("Model", "Data", "Size", "Parameters", "Download", "Licence")


class HubDialog(QDialog):
    imported = Signal(object)  # the Done of the import

    def __init__(self, runner: JobRunner, runs_root: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Get a model from the Hugging Face Hub")
        self.resize(760, 420)
        self.runner, self.runs_root = runner, runs_root
        self.table = QTableWidget(len(PAPER_MODELS), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        for row, model in enumerate(PAPER_MODELS):
            cells = (model.repo_id, model.dataset, f"{model.resolution} px", f"{model.parameters_m:g} M",
                     f"{model.download_mb} MB", model.licence)
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.itemSelectionChanged.connect(self.take_selected)
        self.repo = QLineEdit()
        self.repo.setPlaceholderText("org/name or org/name@revision")
        self.repo.setToolTip("Any Hub model holding a diffusers DDPMPipeline or UNet2DModel in safetensors")
        self.repo.textEdited.connect(self.suggest_name)
        self.name = QLineEdit()
        self.name.setToolTip("The new run's name in the runs folder")
        self.progress = QProgressBar()
        self.progress.setFormat("")
        self.state = QLabel("Only the model's JSON and safetensors files are downloaded, into the Hub's cache "
                            "(HF_HOME): a second import downloads nothing, a cancelled one resumes.")
        self.state.setWordWrap(True)
        self.start_button = push_button("Download and import", self.start, "Ctrl+Return")
        self.cancel_button = push_button("Cancel", self.cancel, "Esc")
        form = QFormLayout()
        form.addRow("Model id", self.repo)
        form.addRow("Run name", self.name)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>The DDPM paper's models</b> (Ho et al. 2020), as Google released them:"))
        layout.addWidget(self.table, 1)
        layout.addLayout(form)
        layout.addWidget(self.state)
        layout.addLayout(side_by_side(self.progress, self.start_button, self.cancel_button, stretch=0))
        runner.connect_job(DOWNLOADING, progress=self.on_progress, failed=self.on_failed, ended=self.on_ended,
                           cancelled=lambda: self.state.setText(
                               "Cancelled: what was downloaded stays in the Hub's cache, and the next try resumes it"))
        self.table.selectRow(0)

    def take_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.repo.setText(PAPER_MODELS[rows[0].row()].repo_id)
            self.suggest_name()

    def suggest_name(self, *_: object) -> None:
        repo = parse_repo_id(self.repo.text())
        self.name.setText(repo.repo_id.split("/")[1] if repo else "")

    def start(self) -> None:
        repo = parse_repo_id(self.repo.text())
        if repo is None:
            self.state.setText("Type a Hub model id as org/name, e.g. google/ddpm-cifar10-32")
            return
        try:
            run = new_run_path(self.name.text().strip(), self.runs_root)
        except DiffstudioError as e:
            self.state.setText(str(e))
            return
        self.state.setText(f"Asking the Hub for {repo}…")
        self.progress.setRange(0, 0)  # busy until the size is known
        self.start_button.setEnabled(False)
        self.runner.submit(DOWNLOADING, ImportHubRequest(str(repo), str(run)))

    def cancel(self) -> None:
        """Stop a download (what came stays in the Hub's cache, and the next try resumes it); else close."""
        if self.runner.is_active(DOWNLOADING):
            self.runner.cancel(DOWNLOADING)
            self.state.setText("Cancelling…")
        else:
            self.reject()

    def on_progress(self, item: DownloadProgress | Done) -> None:
        if isinstance(item, DownloadProgress):
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(1000 * item.done / max(1, item.total)))
            self.state.setText(item.text())
        else:
            self.state.setText(item.message)
            self.imported.emit(item)

    def on_failed(self, message: str, _details: str) -> None:
        self.state.setText(message)

    def on_ended(self) -> None:
        self.progress.setRange(0, 1000)
        self.start_button.setEnabled(True)

    def reject(self) -> None:
        """Closing the dialog (Esc, its close button) stops a download, which the next try resumes."""
        self.runner.cancel(DOWNLOADING)
        super().reject()
