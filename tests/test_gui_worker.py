"""The job runner: one worker thread, signals with plain data, errors as messages, stale jobs replaced."""

import time

from diffstudio.gui.worker import JobRunner


def counting(n, delay=0.0):
    for i in range(1, n + 1):
        time.sleep(delay)
        yield i


def failing():
    yield 1
    raise RuntimeError("CUDA out of memory (as torch says it)")  # superqt alone would swallow a RuntimeError


def collect(runner):
    events = []
    runner.progress.connect(lambda name, item: events.append((name, item)))
    for signal, kind in ((runner.finished, "finished"), (runner.cancelled, "cancelled")):
        signal.connect(lambda name, kind=kind: events.append((name, kind)))
    runner.failed.connect(lambda name, message, details: events.append((name, "failed", message, details)))
    return events


def test_a_job_reports_its_last_item_and_finishes(qtbot):
    runner = JobRunner()
    events = collect(runner)
    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.submit("count", counting, 500)
    items = [e[1] for e in events if e[0] == "count" and isinstance(e[1], int)]
    assert items[0] == 1 and items[-1] == 500  # the last item always arrives…
    assert len(items) < 500  # …but a fast job's burst is thinned out
    assert events[-1] == ("count", "finished") and not runner.busy


def test_runtime_errors_become_a_failure_with_details(qtbot):
    runner = JobRunner()
    events = collect(runner)
    with qtbot.waitSignal(runner.failed, timeout=5000):
        runner.submit("boom", failing)
    name, kind, message, details = events[-1]
    assert (name, kind) == ("boom", "failed") and "out of memory" in message and "RuntimeError" in details


def test_a_new_job_replaces_a_stale_one_of_its_name_and_queues_behind_others(qtbot):
    runner = JobRunner()
    events = collect(runner)
    runner.submit("slow", counting, 1000, 0.01)
    runner.submit("other", counting, 3)
    with qtbot.waitSignals([runner.cancelled, runner.finished], timeout=10_000):
        runner.submit("slow", counting, 2)  # the first "slow" is stale now
    qtbot.waitUntil(lambda: not runner.busy, timeout=10_000)
    outcomes = [e for e in events if e[1] in ("finished", "cancelled")]
    assert outcomes == [("slow", "cancelled"), ("other", "finished"), ("slow", "finished")]


def test_a_cancelled_job_cleans_up_in_the_worker_thread(qtbot):
    import threading

    cleaned_up_in = []

    def with_cleanup():
        try:
            yield from counting(10_000, 0.001)
        finally:
            cleaned_up_in.append(threading.current_thread())

    runner = JobRunner()
    with qtbot.waitSignal(runner.progress, timeout=5000):
        runner.submit("tidy", with_cleanup)
    with qtbot.waitSignal(runner.cancelled, timeout=5000):
        runner.cancel("tidy")
    assert cleaned_up_in and cleaned_up_in[0] is not threading.main_thread()



def test_finished_workers_are_destroyed_in_the_gui_thread(qtbot):
    """A worker's signals are a QObject of the GUI thread. Had the pool's thread, deleting a finished runnable,
    dropped the worker's last reference, that QObject would be destroyed there while the GUI thread handles its
    signals: the segfault seen about once in 18 runs of the GUI tests (both threads' stacks in ~QObject)."""
    import gc
    import threading
    import weakref

    from PySide6.QtCore import QCoreApplication, QEvent

    runner, destroyed_in = JobRunner(), []
    for _ in range(300):
        with qtbot.waitSignal(runner.finished, timeout=5000):
            runner.submit("tick", counting, 1)
            weakref.finalize(runner.jobs["tick"].signals, lambda: destroyed_in.append(threading.current_thread()))
    assert runner.shutdown(5000)
    runner.deleteLater()  # with its pool, whose wrapper holds on to some finished workers (a shiboken leak)
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    del runner
    gc.collect()
    assert len(destroyed_in) >= 200  # shiboken keeps a few invalid runnables' wrappers alive (not ours to free)
    assert [thread.name for thread in destroyed_in if thread is not threading.main_thread()] == []


def test_garbage_is_collected_on_the_gui_thread_only_however_much_a_worker_allocates(qtbot, trained_run,
                                                                                      gui_thread_gc):
    """Issue 36: a collection on a worker thread frees Qt objects off the GUI thread (a rare crash). Every
    collection that frees something, among a few hundred run listings with a low threshold, runs on the GUI
    thread."""
    import gc
    import threading

    from diffstudio.core.jobs.requests import ListRunsRequest
    from diffstudio.gui.job_names import RUN_LIST

    on_gui_thread = []

    def record(phase, info):
        if phase == "stop" and info["collected"]:
            on_gui_thread.append(threading.current_thread() is threading.main_thread())

    threshold = gc.get_threshold()
    gc.callbacks.append(record)
    gc.set_threshold(10)
    runner = JobRunner(None)
    try:
        for _ in range(200):
            cycle = [None]
            cycle[0] = cycle  # garbage that only a collection frees
            with qtbot.waitSignal(runner.finished, timeout=10_000):
                runner.submit(RUN_LIST, ListRunsRequest(str(trained_run.parent)))
        cycles = [[] for _ in range(2000)]
        for c in cycles:
            c.append(c)
        del cycles, c  # past the collector's threshold: its next look on the GUI thread collects them
        qtbot.waitUntil(lambda: len(on_gui_thread) > 0, timeout=10_000)
    finally:
        runner.shutdown()
        gc.callbacks.remove(record)
        gc.set_threshold(*threshold)
    assert all(on_gui_thread), f"{on_gui_thread.count(False)} of {len(on_gui_thread)} collections off the GUI thread"


def test_two_runners_ending_together_leave_the_warnings_module_as_it_was(qtbot):
    """Issue 36: superqt's worker wrapped every job in warnings.catch_warnings(), which is not thread-safe: two
    workers overlapping could leave one's showwarning installed, holding a finished worker."""
    import warnings

    before = warnings.showwarning
    first, second = JobRunner(), JobRunner()
    try:
        for _ in range(300):
            with qtbot.waitSignals([first.finished, second.finished], timeout=10_000):
                first.submit("a", counting, 20)
                second.submit("b", counting, 20)
            assert warnings.showwarning is before
    finally:
        first.shutdown()
        second.shutdown()
