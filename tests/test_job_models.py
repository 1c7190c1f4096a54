"""The model kept between jobs (core/jobs/models.py): read once for the same files, read again when one changes."""

import json
import os

import pytest

from diffstudio.core.errors import DiffstudioError
from diffstudio.core.jobs.models import job_denoiser
from diffstudio.core.storage.run_folder import CONFIG_FILE


def test_the_same_checkpoint_is_read_once_and_again_when_a_file_changes(tiny_run, tmp_path):
    first = job_denoiser(str(tiny_run), "cpu")
    assert job_denoiser(str(tiny_run), "cpu") is first
    config = tiny_run / CONFIG_FILE
    data = json.loads(config.read_text())
    config.write_text(json.dumps(data, indent=1))  # the same settings, a new file
    os.utime(config, ns=(config.stat().st_atime_ns, config.stat().st_mtime_ns + 1_000_000))
    again = job_denoiser(str(tiny_run), "cpu")
    assert again is not first and again.config == first.config


def test_a_run_moved_away_is_not_served_from_memory(tiny_run, tmp_path):
    job_denoiser(str(tiny_run), "cpu")
    tiny_run.rename(tmp_path / "elsewhere")
    with pytest.raises(DiffstudioError, match="no checkpoint"):
        job_denoiser(str(tiny_run), "cpu")
