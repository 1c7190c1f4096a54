"""Waiting for the GUI to reach a state while its event loop keeps running (self-test, scripts)."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtWidgets import QApplication


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Process events until condition() holds; False if timeout_s passed first."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        QApplication.processEvents()
        time.sleep(0.01)
    return True
