"""An image to paint a mask on: the brush paints where the model should fill in (shown in translucent cyan),
the eraser gives pixels back; the mask has the image's own pixel size."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from diffstudio.gui.image_view import to_qimage

OVERLAY = QColor(0, 220, 255, 150)  # cyan: stands out on most images, red ones included


class MaskCanvas(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(False)
        self.image: QImage | None = None
        self.mask = QImage()
        self.brush = 6  # radius, in image pixels
        self.erasing = False

    def set_image(self, image: np.ndarray) -> None:
        self.image = to_qimage(image)
        self.mask = QImage(self.image.size(), QImage.Format.Format_Grayscale8)
        self.mask.fill(0)
        self.update()
        self.changed.emit()

    def mask_array(self) -> np.ndarray:
        """(H, W) bool, True where the model paints."""
        if self.image is None:
            return np.zeros((0, 0), bool)
        ptr = self.mask.constBits()
        rows = np.frombuffer(ptr, np.uint8, self.mask.sizeInBytes()).reshape(self.mask.height(),
                                                                            self.mask.bytesPerLine())
        return rows[:, : self.mask.width()] > 0

    def clear(self) -> None:
        self.mask.fill(0)
        self.update()
        self.changed.emit()

    def invert(self) -> None:
        self.mask.invertPixels()
        self.update()
        self.changed.emit()

    def image_rect(self) -> QRectF:
        """Where the image is drawn: as large as fits, centred."""
        if self.image is None:
            return QRectF()
        scale = min(self.width() / self.image.width(), self.height() / self.image.height())
        w, h = self.image.width() * scale, self.image.height() * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def to_image(self, point: QPointF) -> QPointF:
        rect = self.image_rect()
        return QPointF((point.x() - rect.x()) * self.image.width() / rect.width(),
                       (point.y() - rect.y()) * self.image.height() / rect.height())

    def paint_at(self, point: QPointF) -> None:
        painter = QPainter(self.mask)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0) if self.erasing else QColor(255, 255, 255))
        painter.drawEllipse(self.to_image(point), self.brush, self.brush)
        painter.end()
        self.update()

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self.image is not None:
            self.paint_at(event.position())

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self.image is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self.paint_at(event.position())

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self.image is not None:
            self.changed.emit()

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#26282b"))
        if self.image is None:
            painter.setPen(QPen(QColor("#b8bcc2")))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Load or drop an image, then paint what to "
                                                                         "fill in")
            return
        rect = self.image_rect()
        painter.drawImage(rect, self.image)
        overlay = QImage(self.mask.size(), QImage.Format.Format_ARGB32)
        overlay.fill(OVERLAY)
        overlay.setAlphaChannel(self.mask)  # a grayscale image: its intensity is the alpha
        painter.setOpacity(OVERLAY.alphaF())
        painter.drawImage(rect, overlay)
