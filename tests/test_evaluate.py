"""Issue 14: `diffstudio evaluate` end to end, on a run trained for a few steps."""

import json
from types import SimpleNamespace

import torch
from helpers import assert_clear_error, run_cli, small_config, train, write_images

from diffstudio.core import evaluate as evaluate_module
from diffstudio.core.evaluate import split_real
from diffstudio.core.evaluate_settings import EvaluateSettings
from diffstudio.core.trainer import Trainer


def test_evaluate_prints_every_measure_with_its_sample_size_and_writes_its_files(tmp_path, isolated_runs_dir):
    data = write_images(tmp_path / "images", 40)
    train(Trainer.create(isolated_runs_dir / "small", small_config(data, steps=2, num_timesteps=100),
                         torch.device("cpu")))
    result = run_cli("evaluate", "--checkpoint", "small", "--n", "24", "--sampler-steps", "4", "--out",
                     tmp_path / "eval")
    for words in ("24 samples", "20 held-out real", "KID", "precision", "recall", "density", "coverage",
                  "copies (d1 < d2/3)", "FD not computed: it needs at least 2,000 samples"):
        assert words in result.stdout, words
    summary = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert summary["samples"]["count"] == 24 and summary["held_out"]["count"] == 20
    assert summary["samples"]["fd"] is None and summary["training_images"] == 40
    assert summary["samples"]["kid_subset_size"] == 10  # half the smaller set
    assert 0 <= summary["memorised_fraction"] <= 1 and (tmp_path / "eval" / "most_copied.png").is_file()


def test_evaluate_refuses_too_few_images_and_a_model_without_its_folder(tmp_path, isolated_runs_dir):
    data = write_images(tmp_path / "images", 6)
    train(Trainer.create(isolated_runs_dir / "few", small_config(data, steps=1, num_timesteps=100),
                         torch.device("cpu")))
    assert_clear_error(run_cli("evaluate", "--checkpoint", "few", "--n", "10", ok=False), "at least 20")
    assert_clear_error(run_cli("evaluate", "--checkpoint", "few", "--data", tmp_path / "nowhere", "--n", "10",
                               ok=False), "nowhere")


def test_a_model_that_returns_its_training_images_is_all_copies_and_the_split_is_seeded(monkeypatch):
    training = torch.randint(0, 256, (30, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    reference, held_out = split_real(30, seed=0)
    assert sorted(torch.cat([reference, held_out]).tolist()) == list(range(30))
    assert torch.equal(split_real(30, seed=0)[1], held_out) and not torch.equal(split_real(30, seed=1)[1], held_out)

    def copies(denoiser, settings):  # a model whose samples are its training images
        yield training[:settings.samples]

    monkeypatch.setattr(evaluate_module, "draw_samples", copies)
    copier = SimpleNamespace(config=SimpleNamespace(channels=3, resolution=16), device=torch.device("cpu"))
    result = list(evaluate_module.evaluate(copier, training, EvaluateSettings(samples=12)))[-1]
    assert result.memorised_fraction == 1.0 and torch.equal(result.neighbours.nearest, torch.arange(12))
    # d1 is 0 but for float32 rounding in cdist's |a|² + |b|² − 2ab, tiny beside the distances between images
    assert float(result.neighbours.d1.max()) < 0.01 * float(result.training_d1.min())


def test_training_logs_the_curves_every_eval_steps_without_changing_the_training(tmp_path):
    from diffstudio.core.metric_history import MetricHistory
    from diffstudio.core.storage.run_folder import read_log

    data = write_images(tmp_path / "images", 24)
    runs = {}
    for name, every in (("measured", 2), ("plain", 0)):
        config = small_config(data, steps=4, num_timesteps=100, eval_every=every, eval_samples=8)
        runs[name] = train(Trainer.create(tmp_path / name, config, torch.device("cpu"))).run_dir
    losses = {name: [e["loss"] for _, e in read_log(run / "log.jsonl") if "loss" in e] for name, run in runs.items()}
    assert losses["measured"] == losses["plain"] and len(losses["plain"]) == 4  # measuring draws no training noise
    steps, kid, kid_std, memorised = MetricHistory.from_log(runs["measured"] / "log.jsonl").arrays()
    assert steps.tolist() == [2, 4] and (kid_std > 0).all() and ((0 <= memorised) & (memorised <= 1)).all()
    assert MetricHistory.from_log(runs["plain"] / "log.jsonl").arrays()[0].size == 0
