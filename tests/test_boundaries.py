"""The layers' rules, checked on the source: core/ never imports Qt or the GUI; the torch-free modules that the
GUI thread reads stay torch-free (the GUI's own rule is tested by importing it, in test_gui_main_window)."""

import ast
from pathlib import Path

import diffstudio

PACKAGE = Path(diffstudio.__file__).parent
QT = ("PySide6", "superqt", "pyqtgraph", "diffstudio.gui")
TORCH_FREE = ("choices.py", "train_config.py", "progress.py", "diffusion/sampler_settings.py", "storage/run_folder.py",
              "storage/runs.py", "storage/run_lock.py", "errors.py", "images.py", "storage/atomic.py",
              "storage/safetensors_io.py", "jobs/run_folders.py", "resources.py", "settings.py", "command_line.py",
              "jobs/requests.py", "jobs/messages.py", "diffusion/sampler_registry.py", "batch_choice.py",
              "expectations.py")


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


def test_every_request_names_a_job_that_takes_it():
    """A request names its job's function by string (torch stays out of the GUI thread): a typo would fail only
    when clicked. Every request's function exists and takes the request as its one argument."""
    import importlib
    import inspect
    import pkgutil

    import diffstudio.core.jobs as package
    from diffstudio.core.jobs import requests

    kinds = [c for c in vars(requests).values()
             if isinstance(c, type) and issubclass(c, requests.Request) and c is not requests.Request]
    named = set()
    for kind in kinds:
        job = requests.job_function(kind.__new__(kind))
        assert inspect.isgeneratorfunction(job) and list(inspect.signature(job).parameters) == ["r"], kind
        named.add(job)
    modules = [importlib.import_module(f"{package.__name__}.{m.name}") for m in pkgutil.iter_modules(package.__path__)]
    jobs = {f for m in modules for name, f in vars(m).items() if name.endswith("_job") and inspect.isfunction(f)}
    assert len(named) == len(kinds) and jobs == named  # one request per job, no job without one


def test_the_gui_names_no_job_function():
    """The GUI asks for work by request, never by a function's name."""
    spelled_out = set()
    for path in (PACKAGE / "gui").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith("_job"):
                spelled_out.add(f"{path.name}: {node.value}")
    assert spelled_out == set()


def test_a_panel_never_imports_another_panels_names():
    panels = {p.stem for p in (PACKAGE / "gui" / "panels").glob("*.py")}
    crossings = {p.stem: sorted(m for m in imports(p) if m.startswith("diffstudio.gui.panels."))
                 for p in (PACKAGE / "gui" / "panels").glob("*.py")}
    assert {k: v for k, v in crossings.items() if v} == {} and len(panels) == 8


def test_the_installer_bundles_every_module_imported_by_name():
    """PyInstaller cannot see an importlib import (a job's module, a sampler's step file): the spec bundles every
    module of the package, or one would fail only in the installed app."""
    spec = (PACKAGE.parent / "packaging" / "diffstudio.spec").read_text(encoding="utf-8")
    assert 'hiddenimports=collect_submodules("diffstudio")' in spec


def test_no_import_cycle_in_the_package():
    """Layers point one way: no module reaches itself through the modules it imports, counting imports inside
    functions too (a lazy import still ties the two modules' designs together); imports for type hints only
    (`if TYPE_CHECKING:`) are not imports at run time and do not count."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("diffstudio", *path.relative_to(PACKAGE).with_suffix("").parts))
        modules[name.removesuffix(".__init__")] = path
    graph = {}
    for name, path in modules.items():
        found = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                     and getattr(block.test, "id", "") == "TYPE_CHECKING" for n in ast.walk(block)}
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        graph[name] = {m for m in found if m in modules and m != name}
    cycles = []

    def visit(name: str, path: list[str], done: set[str]) -> None:
        if name in path:
            cycles.append(path[path.index(name):] + [name])
            return
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*path, name], done)
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        visit(name, [], done)
    assert cycles == []
