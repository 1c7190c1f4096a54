"""Diffusion models on the Hugging Face Hub, fetched into the Hub's own cache (issue 39).

Through huggingface_hub, as every tool of the ecosystem fetches: its cache (a second import of a repo downloads
nothing), its resumable downloads (a cancelled one goes on from where it stopped), HF_HOME and HF_HUB_OFFLINE.
Only a repo's JSON files and its safetensors weights are fetched: pickled weights (.bin, .pt) can run code when
opened, so they are never fetched nor opened. Where a repo holds only pickles, the Hub's safetensors conversion
may wait in an open pull request (its bot opens them, as for the paper's 256-px models): that one is used, and
said. The fetched folder is a diffusers folder as `import-diffusers DIR` reads it.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from diffstudio.core.errors import DiffstudioError
from diffstudio.core.progress import DownloadProgress

REPO_ID = re.compile(r"(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(@(?P<revision>[\w./-]+))?")
JSON_FILES = "*.json"
OFFLINE_ROUTE = ("to import without this app reaching the network: huggingface-cli download {repo} --include "
                 "\"*.json\" \"*.safetensors\", then import the folder it prints")
CONVERSION_TITLE = "safetensors"  # the Hub's conversion bot names its pull requests "Adding `safetensors` variant …"


@dataclass(frozen=True)
class HubRepo:
    repo_id: str  # "org/name"
    revision: str | None = None  # a branch, tag, commit or "refs/pr/N"; None: main

    def __str__(self) -> str:
        return self.repo_id + (f"@{self.revision}" if self.revision else "")


def parse_repo_id(text: str) -> HubRepo | None:
    """`org/name` or `org/name@revision`; None for anything else (a folder, say)."""
    match = REPO_ID.fullmatch(text.strip())
    return HubRepo(match["repo"], match["revision"]) if match else None


@dataclass(frozen=True)
class PaperModel:
    """One of the models Ho et al. (2020) released, as google/ publishes them in diffusers' format."""

    repo_id: str
    dataset: str
    resolution: int
    parameters_m: float
    download_mb: int  # the float32 weights
    licence: str


PAPER_MODELS = (
    PaperModel("google/ddpm-cifar10-32", "CIFAR-10", 32, 35.7, 143, "apache-2.0"),
    PaperModel("google/ddpm-celebahq-256", "CelebA-HQ", 256, 113.7, 455, "apache-2.0"),
    PaperModel("google/ddpm-church-256", "LSUN church", 256, 113.7, 455, "apache-2.0"),
    PaperModel("google/ddpm-bedroom-256", "LSUN bedroom", 256, 113.7, 455, "apache-2.0"),
    PaperModel("google/ddpm-cat-256", "LSUN cat", 256, 113.7, 455, "apache-2.0"),
)


@dataclass(frozen=True)
class Fetched:
    folder: Path  # the cache's snapshot of the repo: a diffusers folder
    commit: str  # the revision's commit, recorded in the run
    note: str = ""  # what the user should know, such as a conversion taken from a pull request


class DownloadCancelled(Exception):
    """Raised inside huggingface_hub's download loop when the user cancels; the partial file stays for a resume."""


@dataclass
class Transfer:
    """Bytes fetched so far of a download, written by the download thread and read by the job's."""

    total: int
    done: int = 0
    cancelled: bool = False


def offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


@dataclass(frozen=True)
class FetchPlan:
    repo: HubRepo
    commit: str
    files: tuple[tuple[str, int], ...]  # (path in the repo, bytes)
    note: str = ""

    @property
    def size(self) -> int:
        return sum(size for _, size in self.files)


def plan_fetch(repo: HubRepo) -> FetchPlan:
    """Which files of which commit to fetch: the JSON files and the weights in safetensors, from the revision asked
    for or, where that holds only pickles, from the Hub's safetensors conversion in an open pull request."""
    from diffstudio.core.storage.diffusers_interop import PICKLE_NAMES, WEIGHTS_NAMES  # torch: not in the GUI thread

    info = repo_files(repo)
    files = chosen_files(info)
    if weights_of(files) is not None:
        return FetchPlan(repo, info.sha, files)
    if not any(path.rsplit("/", 1)[-1] in PICKLE_NAMES for path, _ in info.files):
        raise DiffstudioError(f"{repo} is not a diffusers DDPMPipeline or UNet2DModel (no "
                              f"{WEIGHTS_NAMES[0]} in it): diffstudio imports those only")
    conversion = safetensors_pull_request(repo)
    if conversion is None:
        raise DiffstudioError(
            f"{repo} holds its weights only as pickles (.bin), which can run code when opened, so diffstudio neither "
            "downloads nor opens them, and the Hub has no safetensors conversion of it. Convert it once with "
            "diffusers (UNet2DModel.from_pretrained(REPO, subfolder='unet').save_pretrained(DIR)) and import DIR")
    number, info = conversion
    return FetchPlan(HubRepo(repo.repo_id, f"refs/pr/{number}"), info.sha, chosen_files(info),
                     f"{repo.repo_id} holds only pickled weights: using the Hub's safetensors conversion in its pull "
                     f"request #{number}")


@dataclass(frozen=True)
class RepoFiles:
    sha: str
    files: tuple[tuple[str, int], ...]


def repo_files(repo: HubRepo) -> RepoFiles:
    from huggingface_hub import HfApi

    with hub_errors(repo):
        info = HfApi().model_info(repo.repo_id, revision=repo.revision, files_metadata=True)
    return RepoFiles(info.sha, tuple((s.rfilename, s.size or 0) for s in info.siblings or ()))


def chosen_files(info: RepoFiles) -> tuple[tuple[str, int], ...]:
    """The JSON files and one safetensors weights file per folder (full precision where both are there)."""
    json_files = tuple((p, s) for p, s in info.files if fnmatch(p, JSON_FILES))
    weights = weights_of(info.files)
    return json_files + ((weights,) if weights else ())


def weights_of(files: tuple[tuple[str, int], ...]) -> tuple[str, int] | None:
    """The U-Net's safetensors weights (unet/ of a pipeline, else the top folder of a bare UNet2DModel)."""
    from diffstudio.core.storage.diffusers_interop import WEIGHTS_NAMES  # torch: not in the GUI thread

    by_path = dict(files)
    for folder in ("unet/", ""):
        for name in WEIGHTS_NAMES:
            if folder + name in by_path:
                return folder + name, by_path[folder + name]
    return None


def safetensors_pull_request(repo: HubRepo) -> tuple[int, RepoFiles] | None:
    """The newest open pull request of the repo that holds safetensors weights, as the Hub's conversion bot makes."""
    from huggingface_hub import HfApi

    with hub_errors(repo):
        requests = [d for d in HfApi().get_repo_discussions(repo.repo_id, discussion_type="pull_request",
                                                             discussion_status="open")
                    if CONVERSION_TITLE in d.title.lower()]
    for request in sorted(requests, key=lambda d: d.num, reverse=True):
        info = repo_files(HubRepo(repo.repo_id, f"refs/pr/{request.num}"))
        if weights_of(info.files) is not None:
            return request.num, info
    return None


def download(plan: FetchPlan, transfer: Transfer) -> Fetched:
    """Each planned file into the cache, one after another, counting bytes into `transfer`."""
    from huggingface_hub import hf_hub_download

    path = None
    for name, size in plan.files:
        if transfer.cancelled:
            raise DownloadCancelled
        already = transfer.done
        with hub_errors(plan.repo):
            path = hf_hub_download(plan.repo.repo_id, name, revision=plan.commit,
                                   tqdm_class=progress_class(transfer, already))
        transfer.done = already + size
    folder = Path(path).parents[len(Path(plan.files[-1][0]).parts) - 1]  # the snapshot the last file is in
    return Fetched(folder, plan.commit, plan.note)


def progress_class(transfer: Transfer, start: int) -> type:
    """A tqdm for huggingface_hub's download loop that counts into `transfer` and draws nothing; raising in its
    update is how a cancel stops the download (the partial file is resumed next time)."""
    from tqdm import tqdm

    class Counting(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)
            super().__init__(*args, **{**kwargs, "file": io.StringIO(), "disable": False})

        def update(self, n: float | None = 1) -> bool | None:
            if transfer.cancelled:
                raise DownloadCancelled
            shown = super().update(n)
            transfer.done = start + int(self.n)
            return shown

    return Counting


def cached_snapshot(repo: HubRepo) -> Fetched:
    """Offline (HF_HUB_OFFLINE=1): the repo as the cache holds it, or what to do."""
    from huggingface_hub import snapshot_download

    with hub_errors(repo):
        folder = Path(snapshot_download(repo.repo_id, revision=repo.revision, local_files_only=True,
                                        allow_patterns=[JSON_FILES, "*.safetensors"]))
    return Fetched(folder, folder.name)


@contextmanager
def hub_errors(repo: HubRepo) -> Iterator[None]:
    """huggingface_hub's errors as one line that says what to do."""
    from huggingface_hub import errors

    try:
        yield
    except errors.RevisionNotFoundError:
        raise DiffstudioError(f"{repo.repo_id} has no revision {repo.revision!r}: name a branch, tag or commit it "
                              "has, or leave @revision out for main") from None
    except errors.GatedRepoError:
        raise DiffstudioError(f"{repo.repo_id} is gated: accept its terms on huggingface.co and log in with "
                              "`huggingface-cli login`") from None
    except errors.RepositoryNotFoundError:
        raise DiffstudioError(f"no model {repo.repo_id} on the Hugging Face Hub (a private one needs "
                              "`huggingface-cli login`): check the name, as org/name") from None
    except Exception as error:
        if not unreachable(error):
            raise
        where = ("HF_HUB_OFFLINE is set and the Hub cache does not hold it" if offline()
                 else f"the Hub could not be reached ({type(error).__name__})")
        raise DiffstudioError(f"{repo}: {where}; " + OFFLINE_ROUTE.format(repo=repo)) from None


def unreachable(error: Exception) -> bool:
    """Offline, or no connection: huggingface_hub's own error, or its HTTP library's (httpx or requests)."""
    from huggingface_hub import errors

    names = [kind.__name__ for kind in type(error).__mro__]
    return isinstance(error, errors.LocalEntryNotFoundError) or any("Connect" in n or "Timeout" in n for n in names)


def watch(fetching: Callable[[], Fetched], transfer: Transfer, what: str, every_s: float = 0.2
          ) -> Generator[DownloadProgress, None, Fetched]:
    """Run `fetching` on a thread of its own, yielding its progress while it runs; return what it fetched (or raise
    its error). Closing the generator cancels the download: its partial file stays in the cache for a resume."""
    result: dict = {}

    def work() -> None:
        try:
            result["fetched"] = fetching()
        except BaseException as error:  # noqa: BLE001 (handed to the job's thread)
            result["error"] = error

    start, thread = time.monotonic(), threading.Thread(target=work, name="hub download", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(every_s)
            yield DownloadProgress(what, transfer.done, transfer.total, time.monotonic() - start)
    finally:
        transfer.cancelled = True
        thread.join()
    if "error" in result:
        raise result["error"]
    return result["fetched"]
