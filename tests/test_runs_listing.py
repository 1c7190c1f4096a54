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


@pytest.mark.parametrize("action", ["rename", "delete", "clean up"])
def test_no_trainer_can_start_between_a_runs_check_and_its_action(trained_run, monkeypatch, action):
    """Issue 36: rename and delete checked the lock and then acted, and the leftovers' cleanup could unlink a
    temp file of a trainer that started in between; now the lock is held across the act."""
    import os
    import shutil

    from diffstudio.core.storage.run_lock import RunLock, RunLocked

    trainer_starts = []

    def trainer_starting_now(path) -> None:
        lock = RunLock(trained_run)
        try:
            lock.acquire()
            lock.release()
            trainer_starts.append("started")
        except RunLocked:
            trainer_starts.append("refused")

    root = trained_run.parent
    if action == "rename":
        rename = os.rename
        monkeypatch.setattr(os, "rename", lambda a, b: trainer_starting_now(a) or rename(a, b))
        runs.rename_run(trained_run.name, "renamed", root)
    elif action == "delete":
        rmtree = shutil.rmtree
        monkeypatch.setattr(shutil, "rmtree", lambda p, *a, **k: trainer_starting_now(p) or rmtree(p, *a, **k))
        runs.delete_run(trained_run.name, root)
    else:
        (trained_run / ".config.json.1234.tmp").write_text("half a file")
        unlink = Path.unlink
        monkeypatch.setattr(Path, "unlink", lambda p, *a, **k: trainer_starting_now(p) or unlink(p, *a, **k))
        assert len(runs.remove_leftovers(root)) == 1
    assert trainer_starts == ["refused"]
