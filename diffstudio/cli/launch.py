"""Starting things from the command line: the window, torchrun's processes, and a training run that stops
cleanly on Ctrl-C (and on torchrun's signals)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from diffstudio.core.errors import DiffstudioError


def has_display() -> bool:
    """Whether a window can open: always on Windows and macOS; on Linux an X11 or Wayland display, or a Qt
    platform chosen explicitly (offscreen, vnc, ...)."""
    if not sys.platform.startswith("linux"):
        return True
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def open_gui(parser: argparse.ArgumentParser) -> int:
    if not has_display():
        print("diffstudio: no display to open the window on: use the headless commands (diffstudio --help), "
              "or run the app under a virtual display: xvfb-run -a diffstudio", file=sys.stderr)
        return 1
    try:
        from diffstudio.gui.app import main as gui_main
    except ImportError as e:
        print(f"diffstudio: the desktop app needs Qt ({e.name} is missing): pip install 'diffstudio[gui]'. "
              "The headless commands work without it:\n", file=sys.stderr)
        parser.print_help()
        return 2
    return gui_main([sys.argv[0]])


def train_under_torchrun(args: argparse.Namespace) -> int:
    """`train --gpus N`: this same command again as N processes under torchrun; its exit status. torchrun runs in a
    session of its own, so a Ctrl-C here goes to its processes alone (they save once and end), not to torchrun,
    which would report the signal with a traceback."""
    import signal
    import subprocess

    from diffstudio.core.batch_choice import batch_of_several_processes
    from diffstudio.core.command_line import torchrun_options
    from diffstudio.core.distributed import Ranks, launched_by_torchrun
    from diffstudio.core.train_config import recipe_config

    processes = args.gpus
    if getattr(sys, "frozen", False):  # the installer's bundle has no Python to start torchrun with
        raise DiffstudioError("--gpus needs diffstudio installed with pip (pip install diffstudio), where torchrun "
                              "can start it; the installed app trains in one process")
    if launched_by_torchrun():
        raise DiffstudioError("--gpus starts torchrun itself: leave it out when you start torchrun")
    if processes < 1:
        raise DiffstudioError(f"--gpus must be at least 1, got {processes}")
    if args.batch or not args.resume:  # a resumed run's own batch is checked by each process
        batch = args.batch or recipe_config(args.recipe or "diffstudio", data="").batch
        Ranks(world_size=processes).check_batch(batch_of_several_processes(batch))
    command = [sys.executable, "-m", "torch.distributed.run", *torchrun_options(processes),
               *without_option(sys.argv[1:], "--gpus")]
    torchrun = subprocess.Popen(command, start_new_session=True)
    while True:
        try:
            return torchrun.wait()
        except KeyboardInterrupt:
            for pid in child_processes(torchrun.pid) or [torchrun.pid]:
                os.kill(pid, signal.SIGINT)


def child_processes(pid: int) -> list[int]:
    """The processes `pid` started (Linux's /proc; elsewhere none are known)."""
    tasks = Path(f"/proc/{pid}/task")
    return [int(c) for t in tasks.glob("*") for c in (t / "children").read_text().split()] if tasks.is_dir() else []


def without_option(argv: list[str], option: str) -> list[str]:
    """argv less `option` and its value (as "--option N" or "--option=N")."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            kept.append(arg)
    return kept


def train_until_done_or_ctrl_c(trainer, run_name: str) -> None:
    """Train to the end; the first Ctrl-C finishes the current step, saves and stops, a second one interrupts.
    Under torchrun, which passes the terminal's Ctrl-C on to its processes once more, and whose processes are
    stopped with SIGTERM, every such signal only asks to stop: the run saves once."""
    import signal

    from diffstudio.terminal import ProgressLine

    ranks = trainer.ranks
    stop_signals = (signal.SIGINT, signal.SIGTERM) if ranks.distributed else (signal.SIGINT,)

    def request_stop(signum, frame):
        trainer.request_stop()
        if not ranks.distributed:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    previous_handlers = {s: signal.signal(s, request_stop) for s in stop_signals}
    progress = ProgressLine("step", trainer.config.steps, unit="steps", initial=trainer.step, quiet=not ranks.is_main)
    try:
        for event in trainer.run():
            progress.update(event.step, f"loss {event.loss:.4f}, {event.images_per_s:.0f} img/s", total=event.total)
            if event.stopped and ranks.is_main:
                progress.close()
                print(f"stopped at step {event.step}; checkpoint saved. Continue with: "
                      f"diffstudio train --run {run_name} --resume", file=sys.stderr)
    finally:
        progress.close()
        for s, handler in previous_handlers.items():
            signal.signal(s, handler)
        trainer.close()
