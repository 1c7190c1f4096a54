"""Letting a widget take a file or folder dropped on it from the file manager."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QFileDialog, QWidget

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff *.gif)"  # for file dialogs; drops take any


class FileDrop(QObject):
    """Calls on_drop with the first dropped path (a file or a folder)."""

    def __init__(self, widget: QWidget, on_drop: Callable[[Path], None]):
        super().__init__(widget)
        self.on_drop = on_drop
        widget.setAcceptDrops(True)
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.DragEnter and event.mimeData().hasUrls():
            event.acceptProposedAction()
            return True
        if event.type() == QEvent.Type.Drop and (urls := event.mimeData().urls()):
            self.on_drop(Path(urls[0].toLocalFile()))
            return True
        return False


def choose_image_file(parent: QWidget, title: str, on_chosen: Callable[[str], None]) -> None:
    """An open-file dialog for one image; on_chosen gets its path unless the user cancels."""
    path, _ = QFileDialog.getOpenFileName(parent, title, "", IMAGE_FILTER)
    if path:
        on_chosen(path)

