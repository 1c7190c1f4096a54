"""The background threads that run core jobs, each one job at a time.

A job is a typed request (`diffstudio.core.jobs.requests`), whose function is looked
up in the worker thread (so torch is imported there, never in the GUI thread); tests
may pass any generator function and its arguments instead. A second runner, on a
thread of its own, runs the torch-free run-folder requests (listing, rename, delete,
copies: `diffstudio.core.jobs.run_folders`), so they
never wait behind training and never block the window. superqt's GeneratorWorker runs
each on a thread pool of one long-lived thread (so one thread owns the model and
the device), forwards what the job yields as signals, and stops it between two
yields when cancelled. Yields closer together than MIN_INTERVAL_S are dropped,
except the last, so a fast job cannot flood the event loop.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator
from functools import partial

import shiboken6
from PySide6.QtCore import QObject, QThreadPool, Signal
from superqt.utils import GeneratorWorker

from diffstudio.core.jobs.requests import Request, run_request

MIN_INTERVAL_S = 1 / 30


class JobError(Exception):
    """A job's exception, carried across superqt, which drops RuntimeErrors (torch's errors) on the floor."""

    def __init__(self, message: str, details: str):
        super().__init__(message)
        self.details = details


Job = Callable[..., Iterator] | Request  # a request, or (tests) a generator function with its arguments


def guarded(job: Job, *args: object) -> Iterator:
    """job(*args)'s items, at most one per MIN_INTERVAL_S (never dropping the last); its errors as JobError.

    Closing this generator closes the job's explicitly, here in the worker thread, so that an error in the
    job's own cleanup (a stop-save on a full disk) reaches the panel rather than `sys.unraisablehook`.
    """
    last_emit, pending, items = 0.0, None, None
    try:
        items = run_request(job) if isinstance(job, Request) else job(*args)
        for item in items:
            now = time.monotonic()
            if now - last_emit >= MIN_INTERVAL_S:
                last_emit, pending = now, None
                yield item
            else:
                pending = item
        if pending is not None:
            yield pending
    except GeneratorExit:
        if items is not None:
            try:
                items.close()
            except Exception as e:  # noqa: BLE001 — the job's cleanup failed: say so
                raise JobError(str(e) or type(e).__name__, traceback.format_exc()) from None
        raise
    except Exception as e:  # noqa: BLE001 — every failure becomes a dialog, never a crash
        raise JobError(str(e) or type(e).__name__, traceback.format_exc()) from None


class ClosingGeneratorWorker(GeneratorWorker):
    """Closes the job's generator in the worker thread when it stops, cancelled or not, so the job's own
    cleanup (leaving torch.inference_mode, saving a checkpoint) runs there rather than whenever the
    garbage collector gets to it, in whatever thread."""

    def work(self):
        try:
            return super().work()
        finally:
            self._gen.close()

    def run(self) -> None:
        """superqt's WorkerBase.run without its warnings.catch_warnings(): that saves and restores the process-wide
        warnings state, which is not thread-safe, and installs a showwarning that holds the worker; two runners
        ending at once could leave it installed, and the worker's last reference would then drop on another
        thread (issue 36). A job's warnings go where Python sends them."""
        self.started.emit()
        self._running = True
        try:
            result = self.work()
            if isinstance(result, RuntimeError):  # superqt's sign of a deleted worker (jobs' errors are JobError)
                return
            if isinstance(result, Exception):
                raise result
            if not self.abort_requested:
                self.returned.emit(result)
        except Exception as exc:  # noqa: BLE001 - as superqt: every failure becomes the errored signal
            self.errored.emit(exc)
        self._running = False
        self.finished.emit()
        self._finished.emit(self)


class JobRelay(QObject):
    """Receives one worker's signals in the GUI thread (queued, in order) and re-emits them on the runner
    under the job's name; the outcome goes out only after the worker is done, so `runner.busy` is already
    false when panels hear it."""

    def __init__(self, runner: JobRunner, name: str, worker: ClosingGeneratorWorker):
        super().__init__(runner)
        self.runner, self.name, self.worker = runner, name, worker
        self.outcome: tuple = (runner.finished, name)
        worker.started.connect(self.on_started)
        worker.yielded.connect(self.on_yielded)
        worker.errored.connect(self.on_errored)
        worker.aborted.connect(self.on_aborted)
        worker.paused.connect(self.on_paused)
        worker.resumed.connect(self.on_resumed)
        worker.finished.connect(self.on_done)

    def on_started(self) -> None:
        self.runner.started.emit(self.name)

    def on_yielded(self, item: object) -> None:
        self.runner.progress.emit(self.name, item)

    def on_paused(self) -> None:
        self.runner.paused.emit(self.name)

    def on_resumed(self) -> None:
        self.runner.resumed.emit(self.name)

    def on_errored(self, error: Exception) -> None:
        self.outcome = (self.runner.failed, self.name, str(error), getattr(error, "details", repr(error)))

    def on_aborted(self) -> None:
        self.outcome = (self.runner.cancelled, self.name)

    def on_done(self) -> None:
        self.runner.job_done(self.worker)
        signal, *args = self.outcome
        signal.emit(*args)
        self.deleteLater()


class JobRunner(QObject):
    """Queues jobs for the one worker thread. A job replaces a queued or running job of the same name
    (a newer request makes the older one stale); jobs of other names wait their turn."""

    started = Signal(str)  # job name
    progress = Signal(str, object)  # job name, the job's latest item
    finished = Signal(str)  # ran to its end
    cancelled = Signal(str)
    failed = Signal(str, str, str)  # job name, short message, details
    paused = Signal(str)
    resumed = Signal(str)
    queued = Signal(str, str)  # job name, the name of the job it waits for

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.pool.setExpiryTimeout(-1)  # keep the thread: it owns the device
        self.jobs: dict[str, GeneratorWorker] = {}  # queued or running, by name
        self.retired: list[GeneratorWorker] = []  # finished, held until the pool has deleted them (see retire)
        self.current_name = ""  # the one running
        self.closed = False  # after shutdown no job starts (a late timer must not start a thread on quit)
        self.started.connect(lambda name: setattr(self, "current_name", name))

    @property
    def busy(self) -> bool:
        return bool(self.jobs)

    def is_active(self, name: str) -> bool:
        return name in self.jobs

    def submit(self, name: str, job: Job, *args: object) -> None:
        """Queue job(*args), cancelling a stale job of the same name (it stops at its next step)."""
        if self.closed:
            return
        self.cancel(name)
        waits_for = [other for other in self.jobs if other != name]
        worker = ClosingGeneratorWorker(guarded, job, *args)
        JobRelay(self, name, worker)
        self.jobs[name] = worker
        self.pool.start(worker)
        if waits_for:
            self.queued.emit(name, waits_for[0])

    def connect_job(self, name: str, *, started: Callable | None = None, progress: Callable | None = None,
                    finished: Callable | None = None, cancelled: Callable | None = None,
                    failed: Callable | None = None, paused: Callable | None = None,
                    resumed: Callable | None = None, ended: Callable | None = None) -> None:
        """Connect handlers to the signals of the jobs submitted as `name` only; each is called with the signal's
        arguments after the name (progress: the item; failed: message and details). `ended` hears every end:
        finished, cancelled or failed."""
        handlers = {self.started: started, self.progress: progress, self.finished: finished,
                    self.cancelled: cancelled, self.failed: failed, self.paused: paused, self.resumed: resumed}
        for signal, handler in handlers.items():
            if handler is not None:
                signal.connect(partial(call_for_job, name, handler))
        if ended is not None:
            for signal in (self.finished, self.cancelled, self.failed):
                signal.connect(partial(call_for_job, name, lambda *_: ended()))

    def cancel(self, name: str | None = None) -> None:
        """Cancel the named job, or every job."""
        for job_name, worker in list(self.jobs.items()):
            if name is None or job_name == name:
                worker.quit()

    def pause(self, name: str) -> None:
        """Hold the named job between two steps; jobs queued behind it wait too (one thread)."""
        if name in self.jobs:
            self.jobs[name].pause()

    def resume(self, name: str) -> None:
        if name in self.jobs:
            self.jobs[name].resume()

    def is_paused(self, name: str) -> bool:
        return name in self.jobs and self.jobs[name].is_paused

    def job_done(self, worker: GeneratorWorker) -> None:
        for name, queued in list(self.jobs.items()):
            if queued is worker:
                del self.jobs[name]
                if self.current_name == name:
                    self.current_name = ""
        self.retire(worker)

    def retire(self, worker: GeneratorWorker) -> None:
        """Keep a reference to a finished worker until the pool has deleted its runnable, so that the worker,
        and with it its signals (a QObject of this thread), is always freed here. Freed in the pool's thread,
        when the deletion there drops the last reference, it races this thread's handling of those signals:
        a segfault with both threads in ~QObject (tests/test_gui_worker.py)."""
        self.retired = [old for old in self.retired if shiboken6.isValid(old)] + [worker]

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel everything and wait for the thread to finish (on quit). The relays' queued reports are
        not waited for: with the pool done, nothing is busy."""
        self.closed = True
        self.cancel()
        done = self.pool.waitForDone(timeout_ms)
        if done:
            self.jobs.clear()
            self.current_name = ""
            self.retired = [old for old in self.retired if shiboken6.isValid(old)]
        return done


def call_for_job(name: str, handler: Callable, job: str, *args: object) -> None:
    if job == name:
        handler(*args)
