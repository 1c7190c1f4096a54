"""Models from the Hugging Face Hub (issue 39), with no network: a Hub cache built here in the library's own layout,
and huggingface_hub's network calls replaced where a test needs the Hub to answer."""

import json
import os
import pickle
import shutil
import threading
import time

import huggingface_hub
import pytest
import torch
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
from helpers import assert_clear_error, for_job, run_cli, run_cli_process
from huggingface_hub import constants, errors

from diffstudio.core.jobs.requests import ImportHubRequest, run_request
from diffstudio.core.progress import DownloadProgress
from diffstudio.core.storage.checkpoint import load_denoiser
from diffstudio.core.storage.diffusers_interop import unet_config_to_diffusers
from diffstudio.core.storage.hub import parse_repo_id
from diffstudio.core.unet import preset

COMMIT = "0123456789abcdef0123456789abcdef01234567"
PR_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


def save_pipeline(folder):
    """A tiny DDPMPipeline as diffusers writes it (safetensors), T = 50."""
    torch.manual_seed(0)
    unet = UNet2DModel.from_config(unet_config_to_diffusers(preset("tiny", 16)))
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=50)).save_pretrained(folder)
    return folder


def cache_repo(hub_home, repo_id, commit=COMMIT):
    """The snapshot folder of `repo_id` at `commit` in a Hub cache, main pointing at it, as huggingface_hub lays
    it out (HF_HOME/hub/models--org--name/refs/main, snapshots/COMMIT/...)."""
    storage = hub_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    (storage / "refs").mkdir(parents=True, exist_ok=True)
    (storage / "refs" / "main").write_text(commit)
    return storage / "snapshots" / commit


@pytest.fixture
def hub_home(tmp_path, monkeypatch):
    """HF_HOME with org/tiny cached, offline: for this process (huggingface_hub read its settings at import) and for
    the CLIs a test starts."""
    home = tmp_path / "hf-home"
    save_pipeline(cache_repo(home, "org/tiny"))
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return home


def test_repo_ids_are_told_from_folders():
    assert parse_repo_id("google/ddpm-cifar10-32").repo_id == "google/ddpm-cifar10-32"
    repo = parse_repo_id("org/name@refs/pr/3")
    assert (repo.repo_id, repo.revision, str(repo)) == ("org/name", "refs/pr/3", "org/name@refs/pr/3")
    for not_an_id in ("/tmp/model", "model", "./org/name", "a/b/c", "org/name@"):
        assert parse_repo_id(not_an_id) is None, not_an_id


def test_import_from_the_hub_cache_offline_through_the_real_cli(hub_home, tmp_path):
    """HF_HOME and HF_HUB_OFFLINE as the user sets them: the run samples as diffusers does on the same noise."""
    result = run_cli_process("import-diffusers", "org/tiny", "--out", tmp_path / "tiny")
    assert "Imported org/tiny as tiny" in result.stdout
    config = json.loads((tmp_path / "tiny" / "config.json").read_text())
    assert config["imported_from"] == "https://huggingface.co/org/tiny" and config["revision"] == COMMIT
    theirs = UNet2DModel.from_pretrained(cache_repo(hub_home, "org/tiny") / "unet").eval()
    ours = load_denoiser(tmp_path / "tiny")
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([3, 40])
    with torch.no_grad():
        torch.testing.assert_close(ours.model(x, t), theirs(x, t).sample, atol=1e-5, rtol=1e-4)
    assert ours.schedule.config.num_timesteps == 50
    run_cli("sample", "--checkpoint", tmp_path / "tiny", "--n", 2, "--sampler-steps", 3, "--out", tmp_path / "s")
    assert len(list((tmp_path / "s").glob("*.png"))) >= 2


def test_a_hub_import_links_the_caches_file_and_outlives_the_cache(hub_home, tmp_path):
    """No second copy of the weights on disk: the run's checkpoint is the cache's file, hard-linked; and the run
    keeps its weights when the cache is cleaned."""
    result = run_cli("import-diffusers", "org/tiny", "--out", tmp_path / "tiny")
    assert "linked, not a second copy" in result.stdout
    cached = cache_repo(hub_home, "org/tiny") / "unet" / "diffusion_pytorch_model.safetensors"
    checkpoint = tmp_path / "tiny" / "checkpoints" / "step_00000000.safetensors"
    assert os.path.samefile(cached, checkpoint)
    before = load_denoiser(tmp_path / "tiny").model.state_dict()
    shutil.rmtree(hub_home / "hub")
    after = load_denoiser(tmp_path / "tiny").model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    run_cli("sample", "--checkpoint", tmp_path / "tiny", "--n", 1, "--sampler-steps", 2, "--out", tmp_path / "s")


def test_a_hub_cache_on_another_disk_is_copied_and_says_so(hub_home, tmp_path, monkeypatch):
    def no_link(*_):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    result = run_cli("import-diffusers", "org/tiny", "--out", tmp_path / "tiny")
    assert "copied from the Hub cache, which is on another disk" in result.stdout
    cached = cache_repo(hub_home, "org/tiny") / "unet" / "diffusion_pytorch_model.safetensors"
    assert not os.path.samefile(cached, tmp_path / "tiny" / "checkpoints" / "step_00000000.safetensors")
    assert load_denoiser(tmp_path / "tiny").config.resolution == 16


def test_a_pickle_only_repo_is_refused_unopened(hub_home, tmp_path, monkeypatch):
    snapshot = cache_repo(hub_home, "org/pickled")
    shutil.copytree(cache_repo(hub_home, "org/tiny"), snapshot)
    (snapshot / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    (snapshot / "unet" / "diffusion_pytorch_model.bin").write_bytes(pickle.dumps({"not": "opened"}))
    opened = []
    monkeypatch.setattr(pickle, "load", lambda *a, **k: opened.append(a))
    monkeypatch.setattr(torch, "load", lambda *a, **k: opened.append(a))
    result = run_cli("import-diffusers", "org/pickled", "--out", tmp_path / "pickled", ok=False)
    assert_clear_error(result, "only pickled weights", "does not open them")
    assert not opened and not (tmp_path / "pickled").exists()


@pytest.mark.parametrize("source", ["org/unknown", "org/tiny@no-such-branch"])
def test_offline_without_it_in_the_cache_says_how_to_get_it(hub_home, tmp_path, source):
    result = run_cli("import-diffusers", source, "--out", tmp_path / "x", ok=False)
    assert_clear_error(result, source, "HF_HUB_OFFLINE is set", "huggingface-cli download")
    assert not (tmp_path / "x").exists()


# --- the Hub answering: huggingface_hub's network calls replaced ---


class Sibling:
    def __init__(self, path, size):
        self.rfilename, self.size = path, size


class Info:
    def __init__(self, sha, folder, exclude=()):
        self.sha = sha
        self.siblings = [Sibling(p.relative_to(folder).as_posix(), p.stat().st_size)
                         for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in exclude]


class Discussion:
    def __init__(self, num, title):
        self.num, self.title = num, title


@pytest.fixture
def online_hub(tmp_path, monkeypatch):
    """A Hub with org/tiny (safetensors), org/pickled (pickles on main, the conversion bot's pull request #3 with
    safetensors) and org/text (a language model): model_info, discussions and downloads answer from local folders,
    downloads in 1 kB chunks through the progress class huggingface_hub is given."""
    source = save_pipeline(tmp_path / "source")
    cache = tmp_path / "hf-home" / "hub"
    text_model = tmp_path / "text"
    text_model.mkdir()
    (text_model / "config.json").write_text('{"model_type": "gpt2"}')
    (text_model / "model.safetensors").write_bytes(b"0" * 10)
    repos = {("org/tiny", None): Info(COMMIT, source),
             ("org/pickled", None): Info(COMMIT, source, exclude=("diffusion_pytorch_model.safetensors",)),
             ("org/pickled", "refs/pr/3"): Info(PR_COMMIT, source),
             ("org/text", None): Info(COMMIT, text_model)}
    repos[("org/pickled", None)].siblings.append(Sibling("unet/diffusion_pytorch_model.bin", 100))
    calls = {"downloads": []}

    class Api:
        def model_info(self, repo_id, revision=None, files_metadata=False):
            if (repo_id, revision) not in repos:
                raise hub_error(errors.RepositoryNotFoundError if repo_id == "org/unknown"
                                else errors.RevisionNotFoundError)
            return repos[repo_id, revision]

        def get_repo_discussions(self, repo_id, discussion_type=None, discussion_status=None):
            return [Discussion(2, "Update README"), Discussion(3, "Adding `safetensors` variant of this model")]

    def download(repo_id, filename, revision=None, tqdm_class=None):
        calls["downloads"].append((repo_id, filename, revision))
        data = (source / filename).read_bytes()
        target = cache / repo_id / revision / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        with tqdm_class(total=len(data), initial=0, unit="B", desc=filename) as bar, open(target, "wb") as out:
            for start in range(0, len(data), 1024):
                out.write(data[start:start + 1024])
                bar.update(len(data[start:start + 1024]))
                calls.get("each_chunk", lambda bar: None)(bar)
        return str(target)

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    return calls


def hub_error(kind):
    """An error of the kind huggingface_hub raises (made without the HTTP response it carries)."""
    error = kind.__new__(kind)
    Exception.__init__(error, "from the Hub")
    return error


def test_a_download_reports_its_bytes_and_fetches_json_and_safetensors_only(online_hub, tmp_path):
    items = list(run_request(ImportHubRequest("org/tiny", str(tmp_path / "tiny"))))
    progress = [i for i in items if isinstance(i, DownloadProgress)]
    done = items[-1]
    assert done.message.startswith("Imported org/tiny as tiny (")
    assert load_denoiser(tmp_path / "tiny").config.resolution == 16
    fetched = [name for _, name, _ in online_hub["downloads"]]
    assert set(fetched) == {"model_index.json", "scheduler/scheduler_config.json", "unet/config.json",
                            "unet/diffusion_pytorch_model.safetensors"}
    assert progress and progress[-1].done == progress[-1].total > 100_000  # the weights, counted as they came
    assert "MB" in progress[-1].text()


def test_pickles_on_main_take_the_hubs_safetensors_conversion_and_say_so(online_hub, tmp_path):
    result = run_cli("import-diffusers", "org/pickled", "--out", tmp_path / "converted")
    assert "conversion in its pull request #3" in result.stdout and "Imported org/pickled as converted" in result.stdout
    assert all(revision == PR_COMMIT for _, _, revision in online_hub["downloads"])
    config = json.loads((tmp_path / "converted" / "config.json").read_text())
    assert config["revision"] == PR_COMMIT


@pytest.mark.parametrize("source, words", [
    ("org/unknown", ("no model org/unknown on the Hugging Face Hub",)),
    ("org/tiny@v9", ("org/tiny has no revision 'v9'",)),
    ("org/text", ("org/text is not a diffusers DDPMPipeline or UNet2DModel",)),
])
def test_what_the_hub_cannot_give_is_one_line(online_hub, tmp_path, source, words):
    result = run_cli("import-diffusers", source, "--out", tmp_path / "x", ok=False)
    assert_clear_error(result, *words)
    assert not (tmp_path / "x").exists() and not online_hub["downloads"]


def test_no_network_says_how_to_import_offline(online_hub, tmp_path, monkeypatch):
    httpx = pytest.importorskip("httpx2", reason="huggingface_hub's HTTP library before 2.x was requests")

    class Api:
        def model_info(self, *args, **kwargs):
            raise httpx.ConnectError("no route to host")

    monkeypatch.setattr(huggingface_hub, "HfApi", Api)
    result = run_cli("import-diffusers", "org/tiny", "--out", tmp_path / "x", ok=False)
    assert_clear_error(result, "the Hub could not be reached (ConnectError)", "huggingface-cli download org/tiny")


def stall_until_cancelled(started):
    """A download that stops coming after its first chunk, until it is cancelled (its progress bar raises then)."""
    def each_chunk(bar):
        started.set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            bar.update(0)  # raises once the job is closed
            time.sleep(0.01)

    return each_chunk


def test_closing_the_job_stops_the_download_and_makes_no_run(online_hub, tmp_path):
    """Cancel: the download's thread stops at its next chunk, before close returns; nothing of the run is left."""
    started = threading.Event()
    online_hub["each_chunk"] = stall_until_cancelled(started)
    job = run_request(ImportHubRequest("org/tiny", str(tmp_path / "tiny")))
    while not started.is_set():
        assert isinstance(next(job), DownloadProgress)
    job.close()
    assert not (tmp_path / "tiny").exists()
    assert len(online_hub["downloads"]) == 1  # the first file's download stopped; no other started


# --- the window's "Get from the Hub…" ---


@pytest.fixture
def hub_window(qtbot, isolated_runs_dir):
    from helpers import close, open_window

    window = open_window(qtbot, isolated_runs_dir)
    window.checkpoints_panel.get_from_hub()
    yield window, window.checkpoints_panel.hub_dialog
    close(window)


def test_the_dialog_imports_from_the_cache_and_the_run_is_listed(hub_window, hub_home, qtbot):
    window, dialog = hub_window
    assert dialog.repo.text() == "google/ddpm-cifar10-32" and dialog.name.text() == "ddpm-cifar10-32"
    assert dialog.table.rowCount() == 5 and "455 MB" in dialog.table.item(1, 4).text()
    dialog.repo.setText("org/tiny")
    dialog.repo.textEdited.emit("org/tiny")
    assert dialog.name.text() == "tiny"
    dialog.start_button.click()
    # the list the import makes the window read: another read (the window's own) may come first on a busy machine
    qtbot.waitUntil(lambda: window.runs.row_of("tiny") is not None and dialog.start_button.isEnabled(), timeout=60_000)
    assert dialog.state.text().startswith("Imported org/tiny as tiny (")


def test_cancel_in_the_dialog_stops_the_download_and_leaves_nothing(hub_window, online_hub, qtbot,
                                                                    isolated_runs_dir):
    from diffstudio.gui.job_names import DOWNLOADING

    window, dialog = hub_window
    started = threading.Event()
    online_hub["each_chunk"] = stall_until_cancelled(started)
    dialog.repo.setText("org/tiny")
    dialog.name.setText("tiny")
    dialog.start_button.click()
    qtbot.waitUntil(lambda: "downloading org/tiny" in dialog.state.text(), timeout=60_000)
    assert started.is_set() and not dialog.start_button.isEnabled()
    with qtbot.waitSignal(window.runner.cancelled, check_params_cb=for_job(DOWNLOADING), timeout=60_000):
        dialog.cancel_button.click()
    assert "Cancelled" in dialog.state.text() and dialog.start_button.isEnabled()
    assert not (isolated_runs_dir / "tiny").exists() and len(online_hub["downloads"]) == 1


# --- sharing back: the model card of an export ---


def test_an_export_carries_a_model_card_the_hub_reads_and_diffusers_still_loads(tmp_path, isolated_runs_dir):
    from helpers import small_config, train, write_images

    from diffstudio.core.trainer import Trainer

    data = write_images(tmp_path / "images", 6)
    run = train(Trainer.create(isolated_runs_dir / "shapes", small_config(data, steps=3), torch.device("cpu"))).run_dir
    assert (run / "preview.png").is_file()
    run_cli("export-diffusers", run, "--out", tmp_path / "out", "--license", "mit")
    card = (tmp_path / "out" / "README.md").read_text()
    header = card.split("---")[1].splitlines()
    assert {"library_name: diffusers", "pipeline_tag: unconditional-image-generation", "license: mit"} <= set(header)
    assert "# shapes" in card and "| trained steps | 3 |" in card and "| training images | 6 |" in card
    assert "| resolution | 16 px, 3 channel(s) |" in card and "![samples drawn during training](samples.png)" in card
    assert (tmp_path / "out" / "samples.png").read_bytes() == (run / "preview.png").read_bytes()
    pipeline = DDPMPipeline.from_pretrained(tmp_path / "out")
    assert pipeline.unet.config.sample_size == 16


def test_a_licence_that_is_no_hub_id_is_refused(tiny_run, tmp_path):
    result = run_cli("export-diffusers", tiny_run, "--out", tmp_path / "out", "--license", "My Licence", ok=False)
    assert_clear_error(result, "'My Licence' is not a Hub licence id", "apache-2.0")
    assert not (tmp_path / "out").exists()


def test_pickles_without_a_conversion_are_refused_before_any_download(online_hub, tmp_path, monkeypatch):
    api = huggingface_hub.HfApi
    monkeypatch.setattr(api, "get_repo_discussions", lambda self, *a, **k: [Discussion(2, "Update README")])
    result = run_cli("import-diffusers", "org/pickled", "--out", tmp_path / "x", ok=False)
    assert_clear_error(result, "holds its weights only as pickles", "no safetensors conversion", "save_pretrained")
    assert not online_hub["downloads"] and not (tmp_path / "x").exists()
