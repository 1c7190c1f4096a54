"""Issue 3, acceptance 5: the bundled demo run installs on first use and samples demo-like images; issue 13:
its class-conditional sibling (discs and squares) samples the class asked for."""

import json

import numpy as np
import pytest
from helpers import run_cli
from PIL import Image

from diffstudio.core.demo_data import is_demo_like
from diffstudio.core.resources import resources_dir
from diffstudio.core.storage.runs import DEMO_RUNS

DEMO = resources_dir() / "demo"


def test_the_demos_are_small_together_and_say_how_they_were_made():
    demos = [resources_dir() / name for name in DEMO_RUNS]
    assert sum(p.stat().st_size for demo in demos for p in demo.rglob("*") if p.is_file()) < 10e6
    for demo in demos:
        config = json.loads((demo / "run" / "config.json").read_text())
        assert "make_demo.py" in config["made_by"] and config["training"]["preset"] == "tiny"
        assert len(list((demo / "images").rglob("*.png"))) == config["data"]["count"]
    assert json.loads((demos[1] / "run" / "config.json").read_text())["classes"] == ["disc", "square"]


def bright_box_fill(images: np.ndarray) -> np.ndarray:
    """Per image: the bright pixels' share of their bounding box (a disc π/4 ≈ 0.79, a square 1)."""
    bright = images.max(axis=3) > 150
    fills = []
    for mask in bright:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = (rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1) if len(rows) else 1
        fills.append(mask.sum() / box)
    return np.array(fills)


def sample_images(folder, *args) -> np.ndarray:
    run_cli("sample", "--n", "16", "--sampler-steps", "20", "--out", folder, *args)
    return np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("sample_*.png"))])


@pytest.mark.slow  # samples the demo and scores them: CI runs it (-m slow)
def test_the_class_demo_draws_the_class_asked_for(tmp_path, isolated_runs_dir):
    discs = sample_images(tmp_path / "disc", "--checkpoint", "demo-classes", "--class", "disc", "--guidance", "2")
    squares = sample_images(tmp_path / "square", "--checkpoint", "demo-classes", "--class", "square", "--guidance", "2")
    assert is_demo_like(discs).mean() >= 0.6 and is_demo_like(squares).mean() >= 0.6
    disc_fill, square_fill = bright_box_fill(discs), bright_box_fill(squares)
    assert np.median(disc_fill) < 0.85 < np.median(square_fill), (disc_fill, square_fill)


@pytest.mark.slow  # samples the demo and scores them: CI runs it (-m slow)
def test_demo_samples_look_like_the_demo_set(tmp_path, isolated_runs_dir):
    run_cli("sample", "--checkpoint", "demo", "--n", "32", "--sampler", "ddim", "--sampler-steps", "50",
            "--out", tmp_path)
    images = np.stack([np.asarray(Image.open(p)) for p in sorted(tmp_path.glob("sample_*.png"))])
    assert images.shape == (32, 32, 32, 3)
    noise = np.random.default_rng(0).integers(0, 256, images.shape, dtype=np.uint8)
    assert is_demo_like(noise).mean() == 0
    assert is_demo_like(images).mean() >= 0.6
    assert (isolated_runs_dir / "demo").is_dir()  # installed into the runs folder on first use


def test_deleted_demo_stays_deleted(isolated_runs_dir):
    def listed_names():
        return [line.split()[0] for line in run_cli("runs", "list").stdout.splitlines() if line.strip()]

    assert sorted(listed_names()) == sorted(DEMO_RUNS)
    for name in DEMO_RUNS:
        run_cli("runs", "rm", name, "--yes")
    assert run_cli("runs", "list").stdout.startswith("no runs in")
