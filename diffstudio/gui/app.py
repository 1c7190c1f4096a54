"""Starting the desktop app."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from diffstudio.core.resources import resources_dir
    from diffstudio.core.storage.runs import open_runs_root
    from diffstudio.gui.cpu_threads_setting import apply_remembered_cpu_threads
    from diffstudio.gui.gui_thread_gc import collect_on_gui_thread
    from diffstudio.gui.main_window import show_main_window
    from diffstudio.gui.run_file_notes import show_run_file_notes

    app = QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("diffstudio")
    app.setOrganizationName("diffstudio")
    app.setDesktopFileName("diffstudio")  # the .deb's diffstudio.desktop: its icon and name in docks and taskbars
    app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "diffstudio-256.png")))
    apply_remembered_cpu_threads()
    collector = collect_on_gui_thread()  # noqa: F841 (kept alive for the event loop)
    window = show_main_window(app, open_runs_root())
    notes, _ = show_run_file_notes()
    notes.note.connect(window.show_note)
    return app.exec()
