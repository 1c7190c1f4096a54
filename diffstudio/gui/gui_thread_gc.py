"""Python's cyclic garbage collector, run on the GUI thread only.

The collector runs on whichever thread allocates past its threshold. A worker thread that lists runs allocates
thousands of objects, and a collection there frees the cyclic garbage of earlier windows and panels (pyqtgraph
plots, icons, pixmaps), whose C++ destructors must run on the GUI thread: a rare crash (issue 36). pyqtgraph's
GarbageCollector turns automatic collection off and collects from a timer on the GUI thread instead.
"""

from __future__ import annotations

from pyqtgraph.util.garbage_collector import GarbageCollector

INTERVAL_S = 1.0  # how often the GUI thread looks at the collector's counts (it collects only past a threshold)


def collect_on_gui_thread() -> GarbageCollector:
    """Call on the GUI thread once its QApplication exists; keep the result for as long as the app runs."""
    return GarbageCollector(interval=INTERVAL_S)
