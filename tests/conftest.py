import os
import tempfile

import pytest

from diffstudio.core.cpu_threads import let_waiting_threads_sleep, use_cpu_threads

let_waiting_threads_sleep()  # before torch loads OpenMP, as the app does
# One thread, here and in every CLI a test starts (they inherit OMP_NUM_THREADS): the tests' tiny models gain
# nothing from a second one (the suite took 5:00 against 4:50 idle), and beside a training process a test then
# never waits for a descheduled OpenMP thread at each of its thousands of parallel regions.
use_cpu_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
import torch  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="diffstudio-test-config-")  # QSettings land here
os.environ["HF_HUB_OFFLINE"] = "1"  # no test reaches the network (huggingface_hub reads it once, at import)

from helpers import SHORT_SCHEDULE, small_config, train, write_images  # noqa: E402

from diffstudio.core.storage.checkpoint import create_run, run_config  # noqa: E402
from diffstudio.core.trainer import Trainer  # noqa: E402
from diffstudio.core.unet import UNet, preset  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_runs_dir(tmp_path, monkeypatch):
    """Every test (and every CLI it starts) gets its own runs folder and image cache, never the user's."""
    monkeypatch.setenv("DIFFSTUDIO_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("DIFFSTUDIO_CACHE_DIR", str(tmp_path / "image-cache"))
    return tmp_path / "runs"


@pytest.fixture(autouse=True)
def gui_thread_gc(request):
    """GUI tests collect garbage on the GUI thread only, as the app does (gui_thread_gc.py); after each, what its
    windows left is collected here, before automatic collection is back for the tests without Qt."""
    if "qtbot" not in request.fixturenames:
        yield None
        return
    import gc

    from diffstudio.gui.gui_thread_gc import collect_on_gui_thread

    request.getfixturevalue("qapp")
    collector = collect_on_gui_thread()
    yield collector
    collector.timer.stop()
    gc.collect()
    gc.enable()


@pytest.fixture(autouse=True)
def fresh_settings():
    """What one test's panels remember (QSettings) does not reach the next test."""
    yield
    from PySide6.QtCore import QSettings

    QSettings().clear()


@pytest.fixture
def trained_run(tmp_path, isolated_runs_dir):
    """A run in the runs folder after 2 steps of training: it can be continued."""
    data = write_images(tmp_path / "trained-run-images", 6)
    trainer = Trainer.create(isolated_runs_dir / "trained", small_config(data, steps=2), torch.device("cpu"))
    return train(trainer).run_dir


@pytest.fixture(scope="session")
def tiny_model() -> UNet:
    torch.manual_seed(0)
    return UNet(preset("tiny")).eval()


@pytest.fixture
def tiny_run(tmp_path, tiny_model):
    """A randomly initialised tiny checkpoint (T = 100) as a run folder."""
    return create_run(tmp_path / "tiny-run", run_config(tiny_model.config, SHORT_SCHEDULE), tiny_model.state_dict())
