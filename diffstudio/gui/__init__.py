"""The Qt desktop app (Qt only: no tensor math here)."""
