"""How responsive the desktop app stays: event-loop latency under load, and launch to first window.

Event-loop latency is the lateness of a 10 ms timer in the GUI thread (how much later
than asked each tick arrives), measured while the window sits idle, while the worker
trains the tiny model on the demo images through the Train panel, and while it
samples through the Sample panel. Launch to first window is the wall time from
starting `python -m diffstudio` to the main window's first paint, over several launches.

    xvfb-run -a -s "-screen 0 1280x800x24" python benchmarks/ui_latency.py [--seconds 30] [--launches 5]

Goals (issue 4): p99 lateness under 50 ms, first window under 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TICK_MS = 10
FIRST_PAINT = "first-paint"
TIMEOUT_S = 120  # per wait for the app to reach a state

# Run in a child process: the real entry point, with the window reporting its first paint and closing.
CHILD = f"""
import sys
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
from diffstudio.gui import app, main_window

class FirstPaint(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint:
            print("{FIRST_PAINT}", flush=True)
            QTimer.singleShot(0, QApplication.instance().quit)
            watched.removeEventFilter(self)
        return False

show = main_window.show_main_window
def show_and_watch(qt_app, runs_root):
    window = show(qt_app, runs_root)
    window.installEventFilter(qt_app.first_paint)
    return window
main_window.show_main_window = show_and_watch
QApplication.first_paint = FirstPaint()
sys.exit(app.main([]))
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def launch_to_first_window(launches: int, runs_dir: Path) -> list[float]:
    times = []
    env = {**os.environ, "DIFFSTUDIO_RUNS_DIR": str(runs_dir), "XDG_CONFIG_HOME": tempfile.mkdtemp()}
    for _ in range(launches):
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, env=env)
        for line in child.stdout:
            if line.strip() == FIRST_PAINT:
                times.append(time.perf_counter() - start)
                break
        child.wait(timeout=60)
    return times


def tick_lateness(seconds: float, app, busy=None) -> list[float]:
    """Lateness (ms) of every tick of a TICK_MS timer over `seconds`, while busy() says the load is on."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer

    late: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]
    loop = QEventLoop()

    def tick() -> None:
        now = clock.nsecsElapsed()
        late.append(max(0.0, (now - last[0]) / 1e6 - TICK_MS))
        last[0] = now
        if clock.elapsed() > seconds * 1000 or (busy is not None and not busy()):
            loop.quit()

    timer = QTimer(interval=TICK_MS, timerType=Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)
    timer.start()
    loop.exec()
    timer.stop()
    return late


def event_loop_latency(seconds: float, runs_dir: Path) -> dict[str, list[float]]:
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp()
    from PySide6.QtWidgets import QApplication

    from diffstudio.core.storage.runs import open_runs_root
    from diffstudio.gui.main_window import show_main_window
    from diffstudio.gui.waiting import wait_until

    app = QApplication([])
    window = show_main_window(app, open_runs_root(runs_dir))
    runner = window.runner
    wait_until(lambda: window.device_name != "…", TIMEOUT_S)
    results = {"idle": tick_lateness(min(seconds, 5), app)}

    window.show_panel(window.train_panel)
    train = window.train_panel
    wait_until(lambda: train.thumbnails.pixmap_full is not None, TIMEOUT_S)
    train.steps.setValue(100_000)
    train.preview_every.setValue(100)  # a preview (16 DDIM-50 samples) every ~minute on this CPU
    train.start()
    wait_until(lambda: train.monitor.progress.value() >= 1, TIMEOUT_S)
    results["training (tiny, 32 px, batch 32)"] = tick_lateness(seconds, app)
    runner.cancel("train")
    wait_until(lambda: not runner.is_active("train"), TIMEOUT_S)

    window.show_panel(window.sample_panel)
    sample = window.sample_panel
    sample.checkpoint.select(str(runs_dir / "demo"))
    sample.sampler_controls.sampler.setCurrentText("DDPM, σ² = β̃ (posterior)")  # 1000 steps, each a frame
    sample.count.setValue(16)
    sample.start()
    wait_until(lambda: len(sample.frames) >= 1, TIMEOUT_S)
    results["sampling (DDPM, 16 images)"] = tick_lateness(seconds, app, busy=lambda: runner.is_active("sample"))
    runner.shutdown()
    window.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30, help="measuring time per load (default 30)")
    parser.add_argument("--launches", type=int, default=5, help="app launches to time (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        launches = launch_to_first_window(args.launches, Path(scratch) / "launch-runs")
        latency = event_loop_latency(args.seconds, Path(scratch) / "runs")
    print(f"platform: {os.environ.get('QT_QPA_PLATFORM', 'default')}, {os.cpu_count()} CPUs\n")
    print("| load | ticks | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    for load, late in latency.items():
        print(f"| {load} | {len(late)} | {percentile(late, 50):.1f} | {percentile(late, 99):.1f} | {max(late):.1f} |")
    print(f"\nlaunch to first window over {len(launches)} launches: median {statistics.median(launches):.2f} s, "
          f"min {min(launches):.2f} s, max {max(launches):.2f} s")
    print("(the first launch also installs the demo run into a fresh runs folder)")


if __name__ == "__main__":
    main()
