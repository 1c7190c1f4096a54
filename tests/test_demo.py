"""Issue 3, acceptance 5: the bundled demo run installs on first use and samples demo-like images."""

import json

import numpy as np
from helpers import run_cli
from PIL import Image

from diffstudio.core.demo_data import is_demo_like
from diffstudio.core.resources import resources_dir

DEMO = resources_dir() / "demo"


def test_demo_is_small_and_says_how_it_was_made():
    size = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert size < 10e6
    config = json.loads((DEMO / "run" / "config.json").read_text())
    assert "make_demo.py" in config["made_by"] and config["training"]["preset"] == "tiny"
    assert len(list((DEMO / "images").glob("*.png"))) == config["data"]["count"]


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

    assert listed_names() == ["demo"]
    run_cli("runs", "rm", "demo", "--yes")
    assert run_cli("runs", "list").stdout.startswith("no runs in")
