"""pyqtgraph plots in the colours of the Qt palette, so they follow a light or dark theme."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QPalette


def styled_plot(plot: pg.PlotItem, palette: QPalette, title: str, log_y: bool = False) -> pg.PlotDataItem:
    """Title, axes and grid in the palette's text colour; returns the plot's one curve, in its highlight colour."""
    text = palette.text().color()
    plot.setTitle(title, color=text)
    plot.setLogMode(y=log_y)
    plot.showGrid(x=True, y=True, alpha=0.2)
    for axis in ("left", "bottom"):
        plot.getAxis(axis).setPen(pg.mkPen(text))
        plot.getAxis(axis).setTextPen(pg.mkPen(text))
    return plot.plot(pen=pg.mkPen(palette.highlight().color(), width=2))


def styled_plot_widget(palette: QPalette, title: str, log_y: bool = False) -> tuple[pg.PlotWidget, pg.PlotDataItem]:
    """A plot widget on the palette's base colour, styled as styled_plot, and its one curve."""
    widget = pg.PlotWidget()
    widget.setBackground(palette.base().color())
    return widget, styled_plot(widget.getPlotItem(), palette, title, log_y)


def styled_legend(widget: pg.PlotWidget, palette: QPalette, offset: tuple[int, int]) -> pg.LegendItem:
    """A legend in the palette's text colour on a nearly opaque base, so curves under it do not hide its words.
    offset as pyqtgraph's: positive from the top left, negative from the bottom or right."""
    background = palette.base().color()
    background.setAlpha(225)
    return widget.addLegend(offset=offset, labelTextColor=palette.text().color(), brush=pg.mkBrush(background),
                            pen=pg.mkPen(palette.mid().color()))
