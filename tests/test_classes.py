"""Issue 13: folders as classes. Subfolders of images are the classes of a class-conditional model; training
swaps a share p_uncond of the labels for "no class", seeded by step, so the one network also learns the
unconditional model that guidance needs."""

import json

import numpy as np
import pytest
import torch
from helpers import QUICK_TRAIN, assert_clear_error, run_cli, small_config, train
from PIL import Image

from diffstudio.core.data import load_image_folder
from diffstudio.core.errors import DiffstudioError
from diffstudio.core.trainer import Trainer

COLOURS = {"cat": (220, 30, 30), "dog": (30, 30, 220)}


def class_folder(root, counts: dict[str, int], loose: int = 0):
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((20, 20, 3), COLOURS[name], np.uint8)).save(root / name / f"{i}.png")
    for i in range(loose):
        Image.fromarray(np.full((20, 20, 3), 128, np.uint8)).save(root / f"loose_{i}.png")
    return root


def test_subfolders_are_classes_and_each_image_knows_its_own(tmp_path):
    dataset, report = load_image_folder(class_folder(tmp_path / "pets", {"cat": 3, "dog": 5}, loose=1), 16,
                                        classes=True, flip=False)
    assert dataset.class_names == ("cat", "dog") and report.class_counts == {"cat": 3, "dog": 5}
    x = dataset.batch_for_step(0, 9, seed=0)
    labels = dataset.labels_for_step(0, 9, seed=0)
    red = x[:, 0].mean((1, 2)) > 0.5
    blue = x[:, 2].mean((1, 2)) > 0.5
    assert torch.equal(labels == 0, red) and torch.equal(labels == 1, blue) and int((labels == 2).sum()) == 1
    assert "2 classes: cat (3), dog (5)" in report.summary()
    assert any("outside the class folders" in w for w in report.warnings)


def test_unbalanced_classes_are_warned_of_and_classes_can_be_off(tmp_path):
    folder = class_folder(tmp_path / "pets", {"cat": 2, "dog": 8})
    _, report = load_image_folder(folder, 16, classes=True)
    assert any("unbalanced: dog has 8 images, cat 2" in w for w in report.warnings)
    dataset, report = load_image_folder(folder, 16, classes=False)
    assert dataset.class_names == () and dataset.labels_for_step(0, 4, 0) is None and not report.class_counts


def test_one_class_folder_is_no_classes(tmp_path):
    dataset, _ = load_image_folder(class_folder(tmp_path / "pets", {"cat": 5}), 16, classes=True)
    assert dataset.class_names == ()


def test_a_class_conditional_run_trains_resumes_and_keeps_its_classes(tmp_path):
    folder = class_folder(tmp_path / "pets", {"cat": 4, "dog": 4})
    trainer = train(Trainer.create(tmp_path / "run", small_config(folder, steps=3, p_uncond=0.25),
                                   torch.device("cpu")))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["classes"] == ["cat", "dog"] and config["model"]["num_class_embeds"] == 3
    dropped = torch.cat([trainer.batch_for_step(step)[1] for step in range(300)])
    share = float((dropped == 2).double().mean())
    assert abs(share - 0.25) < 5 * (0.25 * 0.75 / len(dropped)) ** 0.5  # p_uncond of the labels are "no class"
    assert torch.equal(trainer.batch_for_step(7)[1], trainer.batch_for_step(7)[1])  # a pure function of the step
    resumed = Trainer.resume(tmp_path / "run", torch.device("cpu"), steps=4)
    assert resumed.model.config.num_class_embeds == 3
    train(resumed)


def test_resume_refuses_when_the_class_folders_changed(tmp_path):
    folder = class_folder(tmp_path / "pets", {"cat": 4, "dog": 4})
    train(Trainer.create(tmp_path / "run", small_config(folder, steps=2), torch.device("cpu")))
    (folder / "dog").rename(folder / "wolf")
    with pytest.raises(DiffstudioError, match="the class folders .* are now \\['cat', 'wolf'\\]"):
        Trainer.resume(tmp_path / "run", torch.device("cpu"), steps=3)


def test_classes_off_trains_an_unconditional_model_on_class_folders(tmp_path):
    folder = class_folder(tmp_path / "pets", {"cat": 4, "dog": 4})
    trainer = train(Trainer.create(tmp_path / "run", small_config(folder, steps=2, classes="off"),
                                   torch.device("cpu")))
    assert trainer.model.config.num_class_embeds is None
    assert "classes" not in json.loads((tmp_path / "run" / "config.json").read_text())


def test_the_cli_trains_classes_shows_them_and_samples_a_class_with_guidance(tmp_path):
    folder = class_folder(tmp_path / "pets", {"cat": 4, "dog": 4})
    run_cli("train", "--data", folder, "--run", "pets", "--steps", "2", *QUICK_TRAIN, "--save-every", "2",
            "--preview-every", "100")
    assert "classes     cat, dog" in run_cli("runs", "show", "pets").stdout
    grids = {}
    for choice, guidance in (("cat", "1"), ("cat", "3"), ("mixed", "2")):
        grid = tmp_path / f"{choice}-{guidance}.png"
        run_cli("sample", "--checkpoint", "pets", "--n", "4", "--sampler-steps", "3", "--class", choice,
                "--guidance", guidance, "--grid", grid)
        grids[choice, guidance] = np.asarray(Image.open(grid))
    assert not np.array_equal(grids["cat", "1"], grids["cat", "3"])  # the same seed, steered harder
    assert_clear_error(run_cli("sample", "--checkpoint", "pets", "--class", "wolf", "--grid", tmp_path / "w.png",
                               ok=False), "no class 'wolf'", "cat, dog")
    assert_clear_error(run_cli("sample", "--checkpoint", "pets", "--guidance", "3", "--grid", tmp_path / "g.png",
                               ok=False), "give --class")
    a, b = folder / "cat" / "0.png", folder / "dog" / "0.png"
    run_cli("interpolate", "--checkpoint", "pets", "--a", a, "--b", b, "--t", "50", "--lambdas", "3",
            "--sampler-steps", "3", "--class", "dog", "--guidance", "2", "--out", tmp_path / "strip.png")
    assert Image.open(tmp_path / "strip.png").size[0] > 16
    assert_clear_error(run_cli("interpolate", "--checkpoint", "pets", "--a", a, "--b", b, "--class", "mixed",
                               "--out", tmp_path / "m.png", ok=False), "one class")


def test_a_class_for_a_model_without_classes_is_refused(tiny_run, tmp_path):
    assert_clear_error(run_cli("sample", "--checkpoint", tiny_run, "--class", "cat", "--grid", tmp_path / "c.png",
                               ok=False), "trained without classes")
