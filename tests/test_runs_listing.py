"""Listing runs never breaks: one damaged run, or a file vanishing mid-listing, costs that run's details only."""

import json
from pathlib import Path

import pytest

from diffstudio.core.storage import runs
from diffstudio.core.storage.runs import list_runs


@pytest.mark.parametrize("damage", [
    {"format_version": "x"},  # compared with a number
    {"model": {"resolution": "abc", "channels": 3}},
    {"model": None},
    {"training": ["not", "a", "dict"]},
])
def test_a_run_with_odd_json_is_listed_as_damaged_beside_the_good_ones(trained_run, damage):
    bad = trained_run.parent / "bad"
    bad.mkdir()
    config = json.loads((trained_run / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**config, **damage}))
    listed = {info.name: info for info in list_runs(trained_run.parent)}
    assert listed["trained"].error is None and listed["trained"].step == 2
    assert "bad" in listed and (listed["bad"].error or listed["bad"].resolution == "abc")


def test_files_vanishing_while_a_run_is_listed(trained_run, monkeypatch):
    """A save's temp file or a checkpoint removed by keep-K between rglob and stat."""
    real_stat = Path.stat

    def flaky_stat(self, *args, **kwargs):
        if self.suffix == ".safetensors" and "step_00000000" in self.name:
            raise FileNotFoundError(2, "No such file or directory", str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", flaky_stat)
    listed = list_runs(trained_run.parent)
    assert [info.name for info in listed] == ["trained"] and listed[0].size_bytes > 0
    assert runs.folder_size(trained_run) > 0


def test_the_list_shows_a_models_classes(tmp_path, tiny_model):
    from helpers import SHORT_SCHEDULE

    from diffstudio.core.storage.checkpoint import create_run, run_config
    from diffstudio.gui.runs_model import cell_texts

    create_run(tmp_path / "pets", run_config(tiny_model.config, SHORT_SCHEDULE, classes=["cat", "dog"]),
               tiny_model.state_dict())
    (info,) = list_runs(tmp_path)
    assert info.classes == ("cat", "dog") and "cat, dog" in cell_texts(info)
