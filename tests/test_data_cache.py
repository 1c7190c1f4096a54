"""The disk cache of decoded images: the same batches as memory, rebuilt when a file changes, and training on a
folder larger than the memory a process may use."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from helpers import small_config, write_images
from PIL import Image

from diffstudio.core.data import load_image_folder, run_to_end
from diffstudio.core.distributed import Ranks
from diffstudio.core.image_cache import read_cached_folder
from diffstudio.core.training_data import load_training_folder


def cached(folder, resolution=16, **options):
    return run_to_end(read_cached_folder(folder, resolution, **options))


def assert_same_data(a, b, steps=4, batch=5):
    assert len(a) == len(b) and a.channels == b.channels and a.class_names == b.class_names
    for step in range(steps):
        assert torch.equal(a.batch_for_step(step, batch, seed=3), b.batch_for_step(step, batch, seed=3))
        assert (a.labels_for_step(step, batch, 3) is None and b.labels_for_step(step, batch, 3) is None) or \
            torch.equal(a.labels_for_step(step, batch, 3), b.labels_for_step(step, batch, 3))


def cache_files(root):
    return sorted(p.name for p in root.glob("*.npy"))


def test_the_cache_gives_the_batches_of_memory_for_colour_gray_and_class_folders(tmp_path):
    colour = write_images(tmp_path / "colour", 9, size=24)
    Image.new("RGB", (3, 3)).save(colour / "too_small.png")
    (colour / "broken.png").write_bytes(b"not an image")
    dataset, report = cached(colour)
    memory, memory_report = load_image_folder(colour, 16)
    assert_same_data(dataset, memory)
    assert report.summary() == memory_report.summary() and len(report.skipped) == 2

    gray = tmp_path / "gray"
    gray.mkdir()
    for i in range(6):
        Image.fromarray(np.full((20, 20), 40 * i, np.uint8), "L").save(gray / f"{i}.png")
    assert_same_data(cached(gray)[0], load_image_folder(gray, 16)[0])
    assert cached(gray)[0].channels == 1
    assert_same_data(cached(colour, channels=1)[0], load_image_folder(colour, 16, channels=1)[0])

    classes = tmp_path / "classes"
    write_images(classes / "cat", 4, seed=1)
    write_images(classes / "dog", 5, seed=2)
    assert_same_data(cached(classes, classes=True)[0], load_image_folder(classes, 16, classes=True)[0])


def test_the_cache_is_read_without_decoding_and_rebuilt_when_a_file_changes(tmp_path, monkeypatch):
    folder = write_images(tmp_path / "images", 6)
    root = tmp_path / "image-cache"
    first, _ = cached(folder)
    assert len(cache_files(root)) == 1

    import diffstudio.core.image_cache as image_cache

    def no_decoding(*args):
        raise AssertionError("decoded again")

    with monkeypatch.context() as m:
        m.setattr(image_cache, "decode_in_order", no_decoding)
        assert_same_data(cached(folder)[0], first)

    Image.new("RGB", (20, 20), (255, 0, 0)).save(folder / "img_0.png")  # a changed file
    os.utime(folder / "img_0.png", ns=(1, 1))
    changed, _ = cached(folder)
    assert len(cache_files(root)) == 1  # the stale cache is gone
    assert_same_data(changed, load_image_folder(folder, 16)[0])
    assert not all(torch.equal(changed.batch_for_step(s, 6, 0), first.batch_for_step(s, 6, 0)) for s in range(3))
    write_images(tmp_path / "more", 1, seed=9).joinpath("img_0.png").rename(folder / "added.png")
    assert len(cached(folder)[0]) == 7


def test_a_build_stopped_halfway_leaves_nothing_that_is_opened(tmp_path):
    folder = write_images(tmp_path / "images", 8)
    reader = read_cached_folder(folder, 16)
    next(reader), next(reader)
    reader.close()
    root = tmp_path / "image-cache"
    assert list(root.iterdir()) == []
    assert len(cached(folder)[0]) == 8


def test_the_ranks_shares_of_a_batch_make_up_the_whole_batch(tmp_path):
    dataset, _ = load_image_folder(write_images(tmp_path / "images", 10), 16)
    whole = dataset.batch_for_step(3, 8, seed=1)
    shares = [dataset.batch_for_step(3, 8, 1, Ranks(rank, 4).share(8)) for rank in range(4)]
    assert torch.equal(torch.cat(shares), whole) and all(len(s) == 2 for s in shares)


def test_data_cache_disk_trains_from_the_cache(tmp_path):
    folder = write_images(tmp_path / "images", 6)
    dataset, _ = load_training_folder(small_config(folder, data_cache="disk"))
    assert len(cache_files(tmp_path / "image-cache")) == 1
    assert_same_data(dataset, load_image_folder(folder, 16)[0])


TRAIN_UNDER_A_MEMORY_LIMIT = textwrap.dedent("""
    import resource, sys
    from pathlib import Path
    import torch
    from diffstudio.core.trainer import Trainer
    from diffstudio.core.training_data import load_training_folder
    from helpers import small_config, train

    folder, runs, cache = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    config = lambda data: small_config(data, resolution=128, batch=2, steps=2, preview_every=100, data_cache=cache)
    # the same work on four images first, so that what the limit leaves room for is the data set alone
    train(Trainer.create(runs / "warm-up", config(folder / "warm-up"), torch.device("cpu")))
    data_kb = int(next(l for l in open("/proc/self/status") if l.startswith("VmData")).split()[1])
    limit = (data_kb << 10) + (int(sys.argv[4]) << 20)
    # a soft limit while the data is loaded and every batch of an epoch read: a training step's own memory
    # depends on the CPU's kernels, not on the data, so the steps run without it
    resource.setrlimit(resource.RLIMIT_DATA, (limit, resource.RLIM_INFINITY))
    dataset, _ = load_training_folder(config(folder / "big"))
    for step in range(len(dataset) // 2):
        dataset.batch_for_step(step, 2, seed=0)
    resource.setrlimit(resource.RLIMIT_DATA, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    train(Trainer.create(runs / "big", config(folder / "big"), torch.device("cpu"), dataset))
    print(len(dataset), "images trained on")
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_DATA and /proc are Linux's")
@pytest.mark.slow  # two processes each decoding 2,500 images: 36 s of the default run
def test_a_folder_larger_than_the_memory_limit_trains_from_the_disk_cache(tmp_path):
    folder = tmp_path / "images"
    write_images(folder / "warm-up", 4, size=16)
    write_images(folder / "big", 2500, size=16)  # decoded at 128 px: 2500 × 3 × 128² = 123 MB, twice that to stack
    headroom_mb = 32  # past the warm-up the cache and an epoch's batches needed less than 8 MB here

    def train_in_a_limited_process(cache: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": os.path.dirname(__file__), "OMP_NUM_THREADS": "1"}
        script = [sys.executable, "-c", TRAIN_UNDER_A_MEMORY_LIMIT, str(folder), str(tmp_path / f"runs-{cache}"),
                  cache, str(headroom_mb)]
        return subprocess.run(script, capture_output=True, text=True, timeout=240, env=env)

    from_disk = train_in_a_limited_process("disk")
    assert from_disk.returncode == 0 and "2500 images trained on" in from_disk.stdout, from_disk.stderr[-2000:]
    in_memory = train_in_a_limited_process("memory")  # the control: the limit does bite
    assert in_memory.returncode != 0 and "MemoryError" in in_memory.stderr, in_memory.stderr[-2000:]


def test_each_epoch_is_one_permutation_drawn_once_not_one_per_step(tmp_path, monkeypatch):
    """Issue 36: every step drew a whole randperm(N), milliseconds a step on a large folder."""
    dataset, _ = load_image_folder(write_images(tmp_path / "images", 10), 16)
    expected = [dataset.indices_for_step(step, 4, seed=2) for step in range(25)]  # 10 epochs of 10 images
    fresh, _ = load_image_folder(tmp_path / "images", 16)
    draws = []
    randperm = torch.randperm
    monkeypatch.setattr(torch, "randperm", lambda *a, **k: draws.append(a) or randperm(*a, **k))
    assert [fresh.indices_for_step(step, 4, seed=2) for step in range(25)] == expected  # the same batches
    assert len(draws) == 10
    positions = sum(expected, [])  # image after image, 100 positions
    assert all(sorted(positions[10 * e: 10 * e + 10]) == list(range(10)) for e in range(10))  # each epoch all once


def test_the_training_curves_read_the_disk_cache_in_place(tmp_path):
    """Issue 36: --eval-every stacked a copy of every training image in memory, defeating the disk cache."""
    from helpers import train

    from diffstudio.core.trainer import Trainer

    config = small_config(write_images(tmp_path / "images", 12), steps=2, data_cache="disk", eval_every=2,
                          eval_samples=8, num_timesteps=50)
    trainer = train(Trainer.create(tmp_path / "run", config, torch.device("cpu")))
    assert trainer.curve_measure is not None
    cached_pixels = trainer.dataset.images.untyped_storage().data_ptr()
    assert trainer.curve_measure.training.untyped_storage().data_ptr() == cached_pixels  # a view, not a copy
