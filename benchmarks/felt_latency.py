"""What a user feels: from an action in the real window to the picture it asks for (issue 34).

Drives the main window in this process (under Xvfb, or offscreen) on these models: the demo (`tiny`, 32 px,
trained), its 4-step distilled student (`student4`: distilled with one update a round, for its time), `tiny` at 64 px,
`ddpm-cifar10` at 32 px and the paper's 256-px model (random weights: the time is the same). Every action is timed
from the input reaching the panel (a click, a slider's new value) to the panel showing the frame it asked for: the
first picture (the first step's x_t or x̂₀) and the finished one. Interpolate's sliders wait for the slider to rest
(DEBOUNCE_MS) before they start: that wait is part of what is felt and is in the times. The median of --repeats.

Launch → first images is a fresh process each time (the real entry point, a fresh settings folder): from starting
`python` to the Sample panel, which a first launch opens, showing the demo's first frame and its finished images.

    xvfb-run -a -s "-screen 0 1280x900x24" python benchmarks/felt_latency.py [--repeats 3] [--launches 3]
        [--models demo,student4,tiny64,cifar10,ddpm256] [--actions sample,vary,interpolate,inpaint]

Goals (issue 34, this 2-core CPU): first images ≤ 2 s after the window appears; slider → picture ≤ 300 ms
(≤ 100 ms with a distilled student); a strip of nine ≤ 0.5 s with a student.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_S = 600  # per action: ddpm-cifar10's strip takes a while on a CPU
FIRST_FRAME, FIRST_IMAGES, WINDOW_SHOWN = "first-frame", "first-images", "window-shown"

# The real entry point in a child process; the Sample panel reports its first frame and its finished images.
CHILD = f"""
import sys, time
from diffstudio.gui import app, main_window
from diffstudio.gui.job_names import SAMPLING

show = main_window.show_main_window
def show_and_watch(qt_app, runs_root):
    window = show(qt_app, runs_root)
    print("{WINDOW_SHOWN}", time.perf_counter(), flush=True)
    def on_progress(frame):
        if not getattr(window, "first_frame_seen", False):
            window.first_frame_seen = True
            print("{FIRST_FRAME}", time.perf_counter(), flush=True)
        if frame.images is not None:
            print("{FIRST_IMAGES}", time.perf_counter(), flush=True)
    # quit once the job has ended: quitting while it runs asks the user first
    window.runner.connect_job(SAMPLING, progress=on_progress, finished=lambda *_: qt_app.quit())
    return window
main_window.show_main_window = show_and_watch
sys.exit(app.main([]))
"""


def launch_times(launches: int) -> dict[str, list[float]]:
    """Seconds from starting the process to the window, its first sampled frame and its finished images."""
    times: dict[str, list[float]] = {WINDOW_SHOWN: [], FIRST_FRAME: [], FIRST_IMAGES: []}
    for _ in range(launches):
        env = {**os.environ, "DIFFSTUDIO_RUNS_DIR": tempfile.mkdtemp(), "XDG_CONFIG_HOME": tempfile.mkdtemp()}
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, env=env)
        for line in child.stdout:
            event, _, at = line.strip().partition(" ")
            if event in times:
                times[event].append(float(at) - start)  # perf_counter is system-wide on Linux
        child.wait(timeout=TIMEOUT_S)
    return times


def make_random_run(runs_dir: Path, name: str, preset_name: str, resolution: int) -> str:
    import torch

    from diffstudio.core.diffusion.schedule import ScheduleConfig
    from diffstudio.core.storage.checkpoint import create_run, run_config
    from diffstudio.core.unet import UNet, preset

    torch.manual_seed(0)
    model = UNet(preset(preset_name, resolution))
    return str(create_run(runs_dir / name, run_config(model.config, ScheduleConfig()), model.state_dict()))


def make_student(run: Path, steps: int) -> str:
    """A student of the run at `steps`, distilled with one update a round: its time is a trained student's."""
    import torch

    from diffstudio.core.distill_settings import DistillSettings
    from diffstudio.core.distillation import Distiller
    from diffstudio.core.storage.students import student_path

    settings = DistillSettings(steps=steps, teacher_steps=2 * steps, updates=1)
    for _ in Distiller(run, settings, torch.device("cpu")).run():
        pass
    return str(student_path(run, steps))


class Stopwatch:
    """The time from `start` to a job's first frame and to its finished frame, as the panel shows them."""

    def __init__(self, runner, job: str, finished) -> None:
        self.job, self.finished = job, finished
        self.started = self.first = self.done = None
        runner.connect_job(job, progress=self.on_progress)  # after the panel's own handler: its picture is set

    def start(self, action) -> None:
        self.first = self.done = None
        self.started = time.perf_counter()
        action()

    def on_progress(self, frame) -> None:
        now = time.perf_counter()
        if self.started is None or self.done is not None:
            return
        if self.first is None:
            self.first = now - self.started
        if self.finished(frame):
            self.done = now - self.started

    def wait(self) -> tuple[float, float]:
        from diffstudio.gui.waiting import wait_until

        if not wait_until(lambda: self.done is not None, TIMEOUT_S):
            raise SystemExit(f"{self.job}: no finished frame within {TIMEOUT_S} s")
        return self.first, self.done


def move(slider, one: int, other: int) -> None:
    """To whichever value it is not at: a value it already has would start nothing (the next model's first move)."""
    slider.setValue(other if slider.value() == one else one)


def settle(window) -> None:
    """Wait until no job runs and no slider waits to start one."""
    from diffstudio.gui.waiting import wait_until

    panel = window.interpolate_panel
    wait_until(lambda: not window.runner.busy and not panel.debounce.isActive(), TIMEOUT_S)


ACTIONS = ("sample", "vary", "interpolate", "inpaint")


@dataclass(frozen=True)
class Model:
    label: str
    preset: str | None  # None: the demo run, trained; else random weights of this preset
    resolution: int
    images: int  # Sample's count, and twice Vary's: what a user asks of a model this size on a CPU

    def heading(self) -> str:
        return f"{self.label}: {self.images} image(s), vary ×{self.variations}"

    @property
    def variations(self) -> int:
        return max(2, self.images // 2)


MODELS = {"demo": Model("demo: tiny, 32 px", None, 32, 16),
          "student4": Model("the demo's 4-step distilled student", "student", 32, 16),
          "tiny64": Model("tiny, 64 px", "tiny", 64, 16),
          "cifar10": Model("ddpm-cifar10, 32 px", "ddpm-cifar10", 32, 16),
          "ddpm256": Model("ddpm-256 (the paper's LSUN / CelebA-HQ model)", "ddpm-256", 256, 1)}


def time_actions(window, run: str, model: Model, repeats: int, actions: tuple[str, ...] = ACTIONS
                 ) -> dict[str, list[tuple[float, float]]]:
    """Each action `repeats` times on one model: (first picture, finished) seconds."""
    from PySide6.QtGui import QColor, QPainter

    from diffstudio.gui.job_names import EDITING, INTERPOLATING, SAMPLING
    from diffstudio.gui.main_window import demo_images

    sample, interpolate, edit = window.sample_panel, window.interpolate_panel, window.edit_panel
    images_done = lambda frame: frame.images is not None  # noqa: E731
    sampling = Stopwatch(window.runner, SAMPLING, images_done)
    mixing = Stopwatch(window.runner, INTERPOLATING, lambda frame: frame.done)
    editing = Stopwatch(window.runner, EDITING, images_done)
    times: dict[str, list[tuple[float, float]]] = {}

    def timed(name: str, stopwatch: Stopwatch, action) -> None:
        if name.split(maxsplit=1)[0].strip(":").lower() not in actions:
            return
        settle(window)
        stopwatch.start(action)
        times.setdefault(name, []).append(stopwatch.wait())

    window.show_panel(sample)
    sample.auto_sample.setChecked(False)
    sample.checkpoint.select(run)
    sample.count.setValue(model.images)
    sample.variations.setValue(model.variations)
    interpolate.checkpoint.select(run)
    if "interpolate" in actions:  # its first look decodes a strip: minutes on the 256-px model
        window.show_panel(interpolate)
        settle(window)
    window.show_panel(edit)
    edit.checkpoint.select(run)
    edit.load(str(demo_images()[0]))
    edit.modes.setCurrentIndex(0)  # inpaint
    mask = edit.canvas.mask
    painter = QPainter(mask)
    painter.fillRect(mask.width() // 4, mask.height() // 4, mask.width() // 2, mask.height() // 2, QColor("white"))
    painter.end()

    for i in range(repeats):
        window.show_panel(sample)
        sample.seed.setValue(i)
        timed("sample", sampling, sample.start)
        sample.pick_image_index(0)
        sample.timeline.setValue(sample.timeline.maximum() // 2)
        timed("vary from here", sampling, sample.vary)
        if "interpolate" in actions:
            window.show_panel(interpolate)
            settle(window)
        timed("interpolate: t slider moved", mixing, lambda: move(interpolate.t_slider, 400, 500))
        timed("interpolate: λ slider moved", mixing, lambda: move(interpolate.lam_slider, 40, 50))
        window.show_panel(edit)
        timed("inpaint a square (Edit)", editing, edit.start)
    return times


def in_window_times(models: list[str], repeats: int, actions: tuple[str, ...]
                    ) -> dict[str, dict[str, list[tuple[float, float]]]]:
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp()
    from PySide6.QtWidgets import QApplication

    from diffstudio.core.storage.runs import DEMO_RUN, open_runs_root
    from diffstudio.gui.main_window import show_main_window
    from diffstudio.gui.waiting import wait_until

    app = QApplication.instance() or QApplication([])
    runs_dir = open_runs_root(tempfile.mkdtemp())
    runs = {"demo": str(runs_dir / DEMO_RUN)}
    for name in models:
        if MODELS[name].preset == "student":
            runs[name] = make_student(runs_dir / DEMO_RUN, steps=4)
        elif MODELS[name].preset is not None:
            runs[name] = make_random_run(runs_dir, name, MODELS[name].preset, MODELS[name].resolution)
    window = show_main_window(app, runs_dir)
    wait_until(lambda: window.device_name != "…", TIMEOUT_S)
    window.runs.refresh()
    settle(window)
    results = {name: time_actions(window, runs[name], MODELS[name], repeats, actions) for name in models}
    window.close()
    return results



def print_tables(launch: dict[str, list[float]], actions: dict, interpolate_debounce_ms: int) -> None:
    import torch

    from diffstudio.core.diffusion.sampler_settings import SamplerSettings

    default = SamplerSettings()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; the default sampler: {default.kind}, "
          f"{default.steps} steps, autoguidance where the run has a guide; Interpolate waits {interpolate_debounce_ms} "
          "ms for a slider to rest (included)\n")
    if launch[FIRST_IMAGES]:
        print("| launch (the demo) | median s | runs |\n|---|---:|---:|")
        for event, label in ((WINDOW_SHOWN, "window shown"), (FIRST_FRAME, "first sampled frame"),
                             (FIRST_IMAGES, "16 images finished")):
            print(f"| {label} | {statistics.median(launch[event]):.2f} | {len(launch[event])} |")
        print()
    if actions:
        models = list(actions)
        headings = " | ".join(MODELS[m].heading() for m in models)
        print(f"| action (first picture / finished, median s) | {headings} |")
        print("|---|" + "---:|" * len(models))
        for name in actions[models[0]]:
            cells = []
            for model in models:
                first, done = zip(*actions[model][name], strict=True)
                cells.append(f"{statistics.median(first):.2f} / {statistics.median(done):.2f}")
            print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--launches", type=int, default=3)
    parser.add_argument("--models", default="demo,student4,tiny64,cifar10")
    parser.add_argument("--actions", default=",".join(ACTIONS), help="of " + ", ".join(ACTIONS))
    args = parser.parse_args()
    from diffstudio.core.cpu_threads import let_waiting_threads_sleep

    let_waiting_threads_sleep()  # before torch loads OpenMP, as the app does
    from diffstudio.gui.panels.interpolate_panel import DEBOUNCE_MS

    launch = launch_times(args.launches)
    actions = in_window_times(args.models.split(","), args.repeats, tuple(args.actions.split(","))) \
        if args.models else {}
    print_tables(launch, actions, DEBOUNCE_MS)


if __name__ == "__main__":
    main()
