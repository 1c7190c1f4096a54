"""Shared by the tests: running the real CLI in a child process, what a clear error looks like."""

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from diffstudio.core.diffusion.schedule import ScheduleConfig
from diffstudio.core.trainer import TrainConfig, Trainer

SHORT_SCHEDULE = ScheduleConfig(num_timesteps=100)  # keeps full DDPM runs of the tests short
# A test's `diffstudio train`: small images and batches, and a 2-step preview (the default 20 steps, autoguided,
# were four fifths of a 2-step training's time; previews have tests of their own).
QUICK_TRAIN = ("--resolution", "16", "--batch", "4", "--preview-steps", "2")


def run_cli(*args, ok=True) -> subprocess.CompletedProcess:
    """The CLI's `main` in this process, as `python -m diffstudio ARGS` would run it: its exit code and what it
    printed. An uncaught exception becomes exit code 1 and a traceback on stderr, as in a process of its own, so
    tests that look for "Traceback" see it. What the command changes of the process (torch's threads, the
    environment, signal handlers) is put back. Tests of signals, torchrun and the entry point use run_cli_process."""
    from diffstudio.cli import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    threads, environment = torch.get_num_threads(), dict(os.environ)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:  # argparse's errors and --help
                code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
            except Exception:  # noqa: BLE001 - what a process would print on its way out
                traceback.print_exc()
                code = 1
    finally:
        torch.set_num_threads(threads)
        os.environ.clear()
        os.environ.update(environment)
        for number, handler in handlers.items():
            signal.signal(number, handler)
    result = subprocess.CompletedProcess(["diffstudio", *argv], code, out.getvalue(), err.getvalue())
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def train_by_cli(runs_dir: Path, folder: Path, run: str, *flags: str) -> dict:
    """`diffstudio train` of one quick step (QUICK_TRAIN, then `flags`, which win), and the run's config.json."""
    run_cli("train", "--data", folder, "--run", run, "--steps", 1, *QUICK_TRAIN, *flags)
    return json.loads((runs_dir / run / "config.json").read_text())


def run_cli_process(*args, ok=True) -> subprocess.CompletedProcess:
    """`python -m diffstudio ARGS` in a child process: for what only a process shows (its imports, exit status)."""
    result = subprocess.run([sys.executable, "-m", "diffstudio", *map(str, args)], capture_output=True, text=True,
                            timeout=300)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def wait_until(condition, timeout: float = 60.0, what: str = "the condition") -> None:
    """Poll `condition` until it holds: a wait on a state, never on a guess of how long something takes."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:g} s"
        time.sleep(0.02)


def assert_clear_error(result: subprocess.CompletedProcess, *words: str) -> None:
    """Non-zero exit, one line on stderr saying what is wrong, no traceback."""
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def for_job(name: str):
    """A qtbot.waitSignal check: only signals about the named job count (others run beside it)."""
    return lambda job, *rest: job == name


def open_window(qtbot, runs_root: Path, auto_sample: bool | None = False):
    """The main window once its first runs list is read (the list is read in the background). The Sample panel
    samples by itself only if asked: other tests' jobs are then alone on the worker."""
    from PySide6.QtCore import QSettings

    from diffstudio.gui.main_window import MainWindow

    if auto_sample is not None:  # None: as remembered
        QSettings().setValue("sample/auto", auto_sample)
    window = MainWindow(runs_root)
    qtbot.waitUntil(lambda: window.runs.loaded, timeout=30_000)
    return window


def runs_read_after(window, qtbot, action, timeout: int = 30_000) -> None:
    """Do `action` and wait for the runs list it makes the window read again."""
    with qtbot.waitSignal(window.runs.changed, timeout=timeout):
        action()


def close(window) -> None:
    """Stop the runners first, so closing does not ask whether to stop a running job."""
    window.shutdown_runners(10_000)
    window.close()
    window.deleteLater()


def write_images(folder: Path, count: int, size: int = 20, seed: int = 0, mode: str = "RGB") -> Path:
    """`count` random PNGs: colour, or grayscale with mode "L"."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (size, size, 3) if mode == "RGB" else (size, size)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"img_{i}.png")
    return folder


def small_config(data: Path, **overrides) -> TrainConfig:
    settings = dict(data=str(data), resolution=16, batch=4, steps=6, warmup=2, dropout=0.1, save_every=3,
                    preview_every=3, preview_count=2, preview_steps=2)
    return TrainConfig(**{**settings, **overrides})


def train(trainer: Trainer) -> Trainer:
    for _ in trainer.run():
        pass
    trainer.close()
    return trainer


def sampler_label(kind: str) -> str:
    """The first label the panels offer for a sampler kind."""
    from diffstudio.gui.sampler_choices import SAMPLERS

    return next(label for label, fields in SAMPLERS.items() if fields["kind"] == kind)


DDPM = sampler_label("ddpm")
