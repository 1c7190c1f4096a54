"""Showing numpy uint8 images, scaled to fit with crisp (nearest-neighbour) pixels; clicks in image pixels."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy


def to_qimage(image: np.ndarray) -> QImage:
    """(H, W, C) uint8, C = 1 or 3, to a QImage that owns a copy of the pixels."""
    image = np.ascontiguousarray(image if image.shape[2] == 3 else image[:, :, 0])
    h, w = image.shape[:2]
    fmt = QImage.Format.Format_RGB888 if image.ndim == 3 else QImage.Format.Format_Grayscale8
    return QImage(image.data, w, h, image.strides[0], fmt).copy()


class ImageView(QLabel):
    clicked = Signal(int, int)  # x, y in the shown image's own pixels

    def __init__(self, placeholder: str = "", parent=None):
        super().__init__(placeholder, parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        # a neutral dark canvas, as image tools have: images read truer on it than on white letterboxes
        self.setStyleSheet("QLabel { background: #26282b; color: #b8bcc2; border: 1px solid #3c4043; }")
        self.pixmap_full: QPixmap | None = None
        self.highlight: QRect | None = None  # a frame drawn around part of the image, in its pixels

    def set_image(self, image: np.ndarray | None) -> None:
        self.pixmap_full = None if image is None else QPixmap.fromImage(to_qimage(image))
        self._rescale()

    def set_highlight(self, rect: QRect | None) -> None:
        self.highlight = rect
        self._rescale()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._rescale()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        shown = self.pixmap()
        if self.pixmap_full is None or shown.isNull():
            return
        left, top = (self.width() - shown.width()) / 2, (self.height() - shown.height()) / 2
        scale = self.pixmap_full.width() / shown.width()
        x, y = (event.position().x() - left) * scale, (event.position().y() - top) * scale
        if 0 <= x < self.pixmap_full.width() and 0 <= y < self.pixmap_full.height():
            self.clicked.emit(int(x), int(y))

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(320, 320)

    def _rescale(self) -> None:
        if self.pixmap_full is None:
            self.setPixmap(QPixmap())
            return
        # fill the view; nearest-neighbour keeps the pixels of small images crisp
        scaled = self.pixmap_full.scaled(self.width() - 4, self.height() - 4, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.FastTransformation)
        if self.highlight is not None:
            scale = scaled.width() / self.pixmap_full.width()
            r = self.highlight
            painter = QPainter(scaled)
            painter.setPen(QPen(self.palette().highlight().color(), 3))
            painter.drawRect(round(r.x() * scale) - 1, round(r.y() * scale) - 1, round(r.width() * scale) + 2,
                             round(r.height() * scale) + 2)
            painter.end()
        self.setPixmap(scaled)
