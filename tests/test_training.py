"""Issue 3: training on a folder. Exact resume, crash safety, NaN, bad data."""

import errno
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from helpers import small_config, train, wait_until, write_images
from PIL import Image

from diffstudio.core.data import load_image_folder
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.storage import atomic
from diffstudio.core.storage.checkpoint import latest_checkpoint, list_checkpoints, read_checkpoint
from diffstudio.core.trainer import Trainer, TrainingStopped

CPU = torch.device("cpu")




def test_resume_is_bit_identical(tmp_path):
    """2N steps straight == N steps, stop, resume, N steps: weights, EMA, optimizer and RNG states alike."""
    data = write_images(tmp_path / "data", 6)
    train(Trainer.create(tmp_path / "straight", small_config(data), CPU))
    train(Trainer.create(tmp_path / "split", small_config(data, steps=3), CPU))
    train(Trainer.resume(tmp_path / "split", CPU, steps=6))
    straight, _ = read_checkpoint(latest_checkpoint(tmp_path / "straight"))
    split, state = read_checkpoint(latest_checkpoint(tmp_path / "split"))
    assert state["step"] == 6
    assert set(straight) == set(split)
    assert any(k.startswith("optim.") for k in split) and any(k.startswith("ema.") for k in split)
    different = [k for k in straight if not torch.equal(straight[k], split[k])]
    assert not different
    # and training did move the weights
    first, _ = read_checkpoint(list_checkpoints(tmp_path / "straight")[0][1], "model.")
    assert any(not torch.equal(first[k], straight[k]) for k in first)


def test_a_run_stopped_before_its_first_periodic_checkpoint_resumes_exactly(tmp_path):
    """The step-0 checkpoint (no optimizer moments yet) is a training checkpoint: resuming from it with fresh
    moments is exact, since a step-0 optimizer has none."""
    data = write_images(tmp_path / "data", 6)
    train(Trainer.create(tmp_path / "straight", small_config(data, save_every=1000), CPU))
    Trainer.create(tmp_path / "killed", small_config(data, save_every=1000), CPU).close()  # killed before step 1
    from diffstudio.core.storage.runs import run_info
    assert run_info(tmp_path / "killed").resumable
    train(Trainer.resume(tmp_path / "killed", CPU))
    straight, _ = read_checkpoint(latest_checkpoint(tmp_path / "straight"))
    resumed, _ = read_checkpoint(latest_checkpoint(tmp_path / "killed"))
    assert [k for k in straight if not torch.equal(straight[k], resumed[k])] == []


def test_resume_drops_log_lines_past_the_checkpoint(tmp_path):
    data = write_images(tmp_path / "data", 6)
    trainer = Trainer.create(tmp_path / "run", small_config(data, steps=5, save_every=4), CPU)
    train(trainer)  # checkpoints at 4 and 5; pretend it crashed after step 5 but before its save
    (tmp_path / "run" / "checkpoints" / "step_00000005.safetensors").unlink()
    with open(tmp_path / "run" / "log.jsonl", "a") as log:
        log.write('{"step": 6, "lo')  # a line cut short by the crash
    resumed = Trainer.resume(tmp_path / "run", CPU)
    assert resumed.step == 4
    steps = [int(line.split('"step": ')[1].split(",")[0]) for line in (tmp_path / "run" / "log.jsonl").open()]
    assert steps == [1, 2, 3, 4]
    resumed.close()


def test_nan_loss_stops_and_keeps_the_last_checkpoint(tmp_path):
    data = write_images(tmp_path / "data", 6)
    trainer = Trainer.create(tmp_path / "run", small_config(data, steps=10, save_every=2), CPU)
    events = trainer.run()
    for _ in range(3):
        next(events)
    with torch.no_grad():
        trainer.model.conv_out.bias.fill_(float("nan"))
    expected = r"became nan at step 4.*step_00000002.safetensors\) is intact.*learning rate"
    with pytest.raises(TrainingStopped, match=expected):
        next(events)
    trainer.close()
    assert [s for s, _ in list_checkpoints(tmp_path / "run")] == [0, 2]
    weights, _ = read_checkpoint(latest_checkpoint(tmp_path / "run"), "model.")
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_disk_full_during_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    data = write_images(tmp_path / "data", 6)
    trainer = Trainer.create(tmp_path / "run", small_config(data, steps=2), CPU)
    train(trainer)
    before = latest_checkpoint(tmp_path / "run").read_bytes()

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    trainer.step += 1  # a later step to save
    with pytest.raises(DiffstudioError, match="No space left on device.*previous file is intact"):
        trainer.save()
    monkeypatch.undo()
    assert latest_checkpoint(tmp_path / "run").read_bytes() == before
    assert not [p for p in (tmp_path / "run" / "checkpoints").iterdir() if p.name.startswith(".")]  # no temp file left


CHECKPOINT_WRITER = textwrap.dedent("""
    import sys, torch
    from diffstudio.core.storage.checkpoint import list_checkpoints, write_checkpoint
    run, start = sys.argv[1], int(sys.argv[2])
    for step in range(start, start + 10_000):
        # every tensor holds the step number, so a checkpoint mixing two saves would show
        write_checkpoint(run, step, {"model.w": torch.full((1_000_000,), float(step)),
                                     "ema.w": torch.full((500_000,), float(step))}, {"loss": step}, keep=2)
        if step == start:  # one save done: from here on a kill lands in a later save, however slow the machine
            print("ready", flush=True)
""")


@pytest.mark.slow  # a kill loop: CI runs it (-m slow)
def test_sigkill_while_saving_always_leaves_a_loadable_checkpoint(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(CHECKPOINT_WRITER)
    run = tmp_path / "run"
    rng = random.Random(0)
    start = 1
    for _ in range(6):
        process = subprocess.Popen([sys.executable, str(script), str(run), str(start)], stdout=subprocess.PIPE)
        assert process.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        checkpoints = list_checkpoints(run)
        assert checkpoints, "no checkpoint survived"
        step, path = checkpoints[-1]
        tensors, state = read_checkpoint(path)
        assert state["step"] == step == state["loss"]
        assert all(bool((t == step).all()) for t in tensors.values())
        start = step + 1


def test_data_report_names_what_it_skipped(tmp_path):
    folder = write_images(tmp_path / "mixed", 4, size=24)
    good = (folder / "img_0.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    (folder / "notes.jpg").write_text("not a jpeg at all")
    (folder / "empty.png").write_bytes(b"")
    Image.new("RGB", (1, 1), (255, 0, 0)).save(folder / "dot.png")
    Image.fromarray(np.linspace(0, 65535, 24 * 24).astype(np.uint16).reshape(24, 24)).save(folder / "deep16.png")
    Image.new("CMYK", (24, 24), (0, 255, 255, 0)).save(folder / "print.jpg")
    Image.new("RGB", (24, 24), (0, 128, 0)).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "anim.gif")
    Image.new("RGBA", (24, 24), (255, 0, 0, 128)).save(folder / "alpha.png")
    (folder / "sub").mkdir()
    Image.new("RGB", (30, 24), (9, 9, 9)).save(folder / "sub" / "ünïcødé 画像.png")

    dataset, report = load_image_folder(folder, resolution=16)
    skipped = {s.path.name: s.reason for s in report.skipped}
    assert skipped == {"truncated.png": "truncated or damaged", "notes.jpg": "not an image format Pillow reads",
                       "empty.png": "empty file", "dot.png": "too small: 1×1"}
    assert len(dataset) == report.count == 4 + 5
    assert report.channels == 3 and "memorise" in report.warnings[0]
    summary = report.summary(max_names=10)
    assert "skipped 4 files" in summary and "truncated.png (truncated or damaged)" in summary

    batch = dataset.batch_for_step(0, 9, seed=0)
    assert batch.shape == (9, 3, 16, 16) and batch.min() >= -1 and batch.max() <= 1


def test_grayscale_folders_train_one_channel(tmp_path):
    folder = tmp_path / "gray"
    folder.mkdir()
    for i in range(4):
        Image.new("L", (16, 16), 40 * i).save(folder / f"{i}.png")
    Image.fromarray(np.full((16, 16), 30000, np.uint16)).save(folder / "deep.png")
    dataset, report = load_image_folder(folder, resolution=16)
    assert report.channels == 1 and dataset.batch_for_step(0, 2, 0).shape == (2, 1, 16, 16)


def test_empty_missing_and_tiny_folders_are_clear_errors(tmp_path):
    with pytest.raises(DiffstudioError, match="no folder at"):
        load_image_folder(tmp_path / "missing", 16)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DiffstudioError, match="holds no image files"):
        load_image_folder(tmp_path / "empty", 16)
    write_images(tmp_path / "two", 2)
    with pytest.raises(DiffstudioError, match="2 usable images.*at least 4"):
        load_image_folder(tmp_path / "two", 16)


def test_batches_are_a_function_of_seed_and_step(tmp_path):
    dataset, _ = load_image_folder(write_images(tmp_path / "d", 5), 16)
    assert torch.equal(dataset.batch_for_step(7, 4, seed=1), dataset.batch_for_step(7, 4, seed=1))
    assert not torch.equal(dataset.batch_for_step(7, 4, seed=1), dataset.batch_for_step(8, 4, seed=1))
    # one epoch visits every image once (a sum of absolute values is blind to flips)
    def fingerprint(x):
        return round(float(x.abs().sum()), 2)

    epoch = {fingerprint(dataset.batch_for_step(s, 1, seed=3)) for s in range(5)}
    assert epoch == {fingerprint(dataset.images[i].float() / 127.5 - 1) for i in range(5)}


def test_one_channel_from_colour_images_is_their_luminance(tmp_path):
    """--channels 1 on colour images: gray as Pillow's "L" makes it (0.299 R + 0.587 G + 0.114 B), not red."""
    folder = tmp_path / "colour"
    folder.mkdir()
    for i, color in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (40, 40, 40)]):
        Image.new("RGB", (16, 16), color).save(folder / f"{i}.png")
    dataset, _ = load_image_folder(folder, resolution=16, channels=1, flip=False)
    values = sorted(int(dataset.images[i, 0, 0, 0]) for i in range(4))
    assert values == sorted([76, 150, 29, 40])


def test_reading_a_folder_reports_progress_and_stops_when_closed(tmp_path, monkeypatch):
    """Cancel (closing the reader) drops the queued decodes: only the few running ones finish."""
    import threading

    from diffstudio.core import data

    folder = write_images(tmp_path / "many", 200, size=16)
    first_file, release = data.list_training_files(folder, False)[0][0], threading.Event()
    started, finished = [], []
    real_decode = data.decode

    def held_decode(path, *args):
        started.append(path)
        if path != first_file:
            release.wait()  # every decode after the first is still running when the reader is closed
        finished.append(path)
        return real_decode(path, *args)

    monkeypatch.setattr(data, "decode", held_decode)
    reader = data.read_image_folder(folder, 16)
    first = next(reader)
    assert first.result is None and first.total == 200 and "reading the images… 1 of 200" in first.text()
    reader.close()
    release.set()
    wait_until(lambda: len(finished) == len(started), what="the running decodes to end")
    assert len(started) <= 1 + data.DECODE_THREADS
