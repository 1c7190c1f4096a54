"""Notes about run files (a `RunFileWarning`: a field this version does not know, a damaged guide) shown in the
window, from whichever thread read the file. `warnings.showwarning` is replaced once, when the app starts (per job
it would not be thread-safe, see worker.py); a signal carries each note to the GUI thread."""

from __future__ import annotations

import warnings
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from diffstudio.core.errors import RunFileWarning


class RunFileNotes(QObject):
    note = Signal(str)


def show_run_file_notes() -> tuple[RunFileNotes, Callable[[], None]]:
    """The notes' signal, and what puts Python's own `showwarning` back. Each note also goes to stderr, as
    before, and is said every time (a user may open several runs with the same problem)."""
    notes, shown = RunFileNotes(), warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, RunFileWarning):
            notes.note.emit(str(message))
        shown(message, category, filename, lineno, file, line)

    def restore() -> None:
        warnings.showwarning = shown

    warnings.simplefilter("always", RunFileWarning)
    warnings.showwarning = show
    return notes, restore
