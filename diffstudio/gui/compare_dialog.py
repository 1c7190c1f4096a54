"""Compare samplers: the same seed drawn with 2–4 samplers side by side, each with its model calls and time; a
distilled student beside its teacher."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QGridLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from diffstudio.core.diffusion.sampler_settings import MAX_COMPARED
from diffstudio.core.jobs.messages import ComparisonFrame
from diffstudio.core.jobs.requests import CompareRequest
from diffstudio.core.storage.students import compare_rows, student_steps
from diffstudio.gui.image_view import ImageView
from diffstudio.gui.job_names import COMPARING
from diffstudio.gui.layout import push_button, side_by_side
from diffstudio.gui.sampler_choices import sampler_caption
from diffstudio.gui.worker import JobRunner


class CompareDialog(QDialog):
    def __init__(self, runner: JobRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Compare samplers")
        self.resize(980, 420)
        self.runner = runner
        self.samplers: list[dict] = []
        self.views = [ImageView("waiting…") for _ in range(MAX_COMPARED)]
        self.captions = [QLabel() for _ in range(MAX_COMPARED)]
        grid = QGridLayout()
        for column, (view, caption) in enumerate(zip(self.views, self.captions, strict=True)):
            caption.setWordWrap(True)
            grid.addWidget(view, 0, column)
            grid.addWidget(caption, 1, column)
        self.progress = QProgressBar()
        self.cancel_button = push_button("Cancel", lambda: self.runner.cancel(COMPARING), "Esc")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("The same seed, so the same starting noise x_T, through each sampler: the time is "
                                "the model calls' cost on this device."))
        layout.addLayout(grid, 1)
        layout.addLayout(side_by_side(self.progress, self.cancel_button, stretch=0))
        runner.connect_job(COMPARING, progress=self.on_progress, ended=self.on_ended)

    def start(self, checkpoint: str, chosen: dict, count: int, seed: int, condition: dict | None = None) -> None:
        self.samplers = compare_rows(checkpoint, chosen)
        for i, (view, caption) in enumerate(zip(self.views, self.captions, strict=True)):
            used = i < len(self.samplers)
            view.setVisible(used)
            caption.setVisible(used)
            view.set_image(None)
            view.setText("waiting…")
            caption.setText(row_caption(self.samplers[i]) if used else "")
        self.progress.setValue(0)
        self.cancel_button.setEnabled(True)
        self.show()
        self.runner.submit(COMPARING, CompareRequest(checkpoint, self.samplers, count, seed, condition))

    def on_progress(self, frame: ComparisonFrame) -> None:
        self.progress.setMaximum(frame.total)
        self.progress.setValue(frame.index)
        for view, caption, result in zip(self.views, self.captions, frame.results, strict=False):
            if view.pixmap_full is None:
                view.set_image(result.grid)
                caption.setText(f"<b>{row_caption(result.sampler)}</b><br>{result.model_calls} model calls, "
                                f"{result.seconds:.1f} s")

    def on_ended(self, *_: object) -> None:
        self.cancel_button.setEnabled(False)


def row_caption(fields: dict) -> str:
    """The sampler, and "the teacher" for a row drawn from a student's teacher."""
    other = fields.get("checkpoint")
    return sampler_caption(fields) + (" · the teacher" if other and student_steps(other) is None else "")
