"""The layers' rules, checked on the source: core/ never imports Qt or the GUI; the torch-free modules that the
GUI thread reads stay torch-free (the GUI's own rule is tested by importing it, in test_gui_main_window)."""

import ast
from pathlib import Path

import diffstudio

PACKAGE = Path(diffstudio.__file__).parent
QT = ("PySide6", "superqt", "pyqtgraph", "diffstudio.gui")
TORCH_FREE = ("choices.py", "train_config.py", "progress.py", "diffusion/sampler_settings.py", "storage/run_folder.py",
              "storage/runs.py", "storage/run_lock.py", "errors.py", "images.py", "storage/atomic.py",
              "storage/safetensors_io.py", "storage/run_jobs.py", "resources.py", "settings.py", "command_line.py")


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_core_never_imports_qt_or_the_gui():
    offenders = {str(p.relative_to(PACKAGE)): sorted(m for m in imports(p) if m.startswith(QT))
                 for p in (PACKAGE / "core").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_gui_never_imports_the_cli():
    """The CLI and the GUI are two shells over the same core: neither leans on the other."""
    offenders = {str(p.relative_to(PACKAGE)): sorted(m for m in imports(p) if m.startswith("diffstudio.cli"))
                 for p in (PACKAGE / "gui").rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_modules_the_gui_thread_reads_do_not_import_torch_at_module_level():
    core = PACKAGE / "core"
    offenders = {name: sorted(m for m in imports(core / name, top_level_only=True) if m.split(".")[0] == "torch")
                 for name in TORCH_FREE}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_every_job_the_gui_names_exists_where_its_runner_looks():
    """The GUI names jobs by string (torch stays out of its thread): a typo would fail only when clicked. Every
    name is a constant of gui/job_names.py, and each is a function of the module its runner imports."""
    from diffstudio.core import jobs
    from diffstudio.core.storage import run_jobs
    from diffstudio.gui import job_names

    for module, names in ((jobs, job_names.CORE_JOB_NAMES), (run_jobs, job_names.RUN_FOLDER_JOB_NAMES)):
        assert sorted(name for name in names if not callable(getattr(module, name, None))) == []
    declared = {v for k, v in vars(job_names).items() if k.endswith("_JOB")}
    assert declared == {*job_names.CORE_JOB_NAMES, *job_names.RUN_FOLDER_JOB_NAMES}
    spelled_out = set()  # a job name written as a string anywhere else in the GUI bypasses the constants
    for path in (PACKAGE / "gui").rglob("*.py"):
        if path.name != "job_names.py":
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith("_job"):
                    spelled_out.add(f"{path.name}: {node.value}")
    assert spelled_out == set()


def test_a_panel_never_imports_another_panels_names():
    panels = {p.stem for p in (PACKAGE / "gui" / "panels").glob("*.py")}
    crossings = {p.stem: sorted(m for m in imports(p) if m.startswith("diffstudio.gui.panels."))
                 for p in (PACKAGE / "gui" / "panels").glob("*.py")}
    assert {k: v for k, v in crossings.items() if v} == {} and len(panels) == 8


def test_the_installer_bundles_every_jobs_module_the_runners_import_by_name():
    """PyInstaller cannot see an importlib import: a jobs module missing from the spec's hidden imports would
    fail only in the installed app."""
    from diffstudio.gui.worker import CORE_JOBS, RUN_FOLDER_JOBS

    spec = (PACKAGE.parent / "packaging" / "diffstudio.spec").read_text(encoding="utf-8")
    assert f'"{CORE_JOBS}"' in spec and f'"{RUN_FOLDER_JOBS}"' in spec
