"""The panels' shared layout: a column of controls of one fixed width on the left, the views filling the rest."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QLayout, QPushButton, QVBoxLayout, QWidget

CONTROLS_WIDTH = 400


def two_columns(panel: QWidget, controls: QVBoxLayout, views: QLayout, push_controls_up: bool = True) -> None:
    """Lay `panel` out as its controls (pushed to the top unless one of them stretches) beside its views."""
    if push_controls_up:
        controls.addStretch(1)
    column = QWidget()
    column.setLayout(controls)
    column.setFixedWidth(CONTROLS_WIDTH)
    layout = QHBoxLayout(panel)
    layout.addWidget(column)
    layout.addLayout(views, 1)


def titled(title: QLabel | str, widget: QWidget) -> QVBoxLayout:
    """A view under its title, centred and bold unless `title` is a label of the caller's."""
    label = title if isinstance(title, QLabel) else QLabel(f"<b>{title}</b>")
    column = QVBoxLayout()
    column.addWidget(label, 0, Qt.AlignmentFlag.AlignHCenter)
    column.addWidget(widget, 1)
    return column


def side_by_side(*items: QWidget | QLayout, stretch: int | None = None) -> QHBoxLayout:
    """A row of widgets and layouts; the one at index `stretch` takes the spare width."""
    row = QHBoxLayout()
    for i, item in enumerate(items):
        factor = 1 if i == stretch else 0
        row.addLayout(item, factor) if isinstance(item, QLayout) else row.addWidget(item, factor)
    return row


def form_widget(rows: Iterable[tuple[str, QWidget]]) -> QWidget:
    """A widget of labelled rows, for a QCollapsible (which folds widgets, not layouts)."""
    form = QFormLayout()
    for label, widget in rows:
        form.addRow(label, widget)
    content = QWidget()
    content.setLayout(form)
    return content


def push_button(text: str, on_click: Callable | SignalInstance, shortcut: str = "", tip: str = "") -> QPushButton:
    """A button that calls `on_click` (or emits a signal) when clicked."""
    button = QPushButton(text)
    if shortcut:
        button.setShortcut(shortcut)
    if tip:
        button.setToolTip(tip)
    button.clicked.connect(on_click)
    return button
