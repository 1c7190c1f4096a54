"""The app's bundled files (resources/): found beside the package, or inside a frozen (PyInstaller) build."""

from __future__ import annotations

import sys
from pathlib import Path

from diffstudio.core.errors import DiffstudioError


def resources_dir() -> Path:
    frozen = getattr(sys, "_MEIPASS", None)
    candidates = ([Path(frozen) / "resources"] if frozen else []) + [Path(__file__).resolve().parents[2] / "resources"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise DiffstudioError("the app's resources folder is missing: reinstall diffstudio")
