"""The frozen app's entry point: the same `diffstudio` command (no arguments opens the window)."""

from diffstudio.cli import main

raise SystemExit(main())
