"""The runs folder as one Qt table model, shared by the Checkpoints table and every run picker.

It reads the folder once per change, in the run-folder runner's thread (listing stats every file of every run),
and announces each new list once (`changed`); the file actions (rename, delete, duplicate, copy) run there too
and re-read the list when done. Views never read the folder themselves.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap

from diffstudio.core.jobs.requests import ListRunsRequest
from diffstudio.core.progress import loss_text
from diffstudio.core.storage.runs import RunInfo, format_size
from diffstudio.gui.job_names import RUN_LIST
from diffstudio.gui.worker import JobRunner

COLUMNS = ("Preview", "Name", "Dataset", "Model", "Resolution", "Classes", "Step", "Last loss", "Modified", "Size")
PREVIEW_SIZE = QSize(64, 64)


class RunsModel(QAbstractTableModel):
    changed = Signal()  # a new list was read

    def __init__(self, runner: JobRunner, runs_root: Path, parent: QObject | None = None):
        super().__init__(parent)
        self.runner, self.runs_root = runner, runs_root
        self.runs: list[RunInfo] = []
        self.loaded = False  # the first list has arrived
        self.icons: dict[Path, QIcon] = {}  # the previews of this list, loaded as their rows are first drawn
        runner.connect_job(RUN_LIST, progress=self.set_runs)

    def refresh(self) -> None:
        """Read the runs folder again (in the background); `changed` follows."""
        self.runner.submit(RUN_LIST, ListRunsRequest(str(self.runs_root)))

    def set_runs(self, runs: list[RunInfo]) -> None:
        self.beginResetModel()
        self.runs, self.icons = runs, {}
        self.endResetModel()
        self.loaded = True
        self.changed.emit()

    # --- lookups for the views ---

    def run(self, row: int) -> RunInfo | None:
        return self.runs[row] if 0 <= row < len(self.runs) else None

    def row_of(self, name: str) -> int | None:
        return next((r for r, info in enumerate(self.runs) if info.name == name), None)

    def info_of(self, path: str) -> RunInfo | None:
        """The listed run at `path`: the run's folder, one of its kept checkpoints or one of its students."""
        return next((info for info in self.runs if path in {str(p) for p in
                     (info.path, *(p for _, p in info.checkpoints), *(p for _, p in info.students))}), None)

    def classes_of(self, path: str) -> tuple[str, ...]:
        """The classes of the listed run at `path` (none for a run not listed, or one without classes)."""
        info = self.info_of(path)
        return info.classes if info else ()

    def num_timesteps_of(self, path: str) -> int:
        """The T of the listed run at `path`; 1000, the usual T, for a folder not listed (a diffusers folder)."""
        info = self.info_of(path)
        return info.num_timesteps if info else RunInfo.num_timesteps

    def usable(self) -> list[RunInfo]:
        """The runs that can be sampled from."""
        return [info for info in self.runs if not info.error]

    def resumable(self) -> list[RunInfo]:
        return [info for info in self.runs if info.resumable]

    # --- QAbstractTableModel ---

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008 (Qt's names)
        return 0 if parent.isValid() else len(self.runs)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        info = self.run(index.row())
        if info is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole and index.column() > 0:
            return cell_texts(info)[index.column() - 1]
        if role == Qt.ItemDataRole.DecorationRole and index.column() == 0:
            return self.preview_icon(info)
        if role == Qt.ItemDataRole.ToolTipRole and info.error:
            return f"unreadable: {info.error}"
        return None

    def preview_icon(self, info: RunInfo) -> QIcon | None:
        if info.preview is None:
            return None
        if info.preview not in self.icons:
            self.icons[info.preview] = QIcon(QPixmap(str(info.preview)))  # a file gone since: an empty icon
        return self.icons[info.preview]


def cell_texts(info: RunInfo) -> tuple[str, ...]:
    """The table's text columns for one run (all but the preview)."""
    return (info.name, info.dataset, info.preset, f"{info.resolution}px" if info.resolution else "",
            ", ".join(info.classes), f"{info.step}" + (f" / {info.total_steps}" if info.total_steps else ""),
            loss_text(info.loss, ""),
            f"{info.modified:%Y-%m-%d %H:%M}", format_size(info.size_bytes))
