"""`diffstudio --self-test`, from source (the frozen build runs the same in packaging/build_linux.sh)."""

from helpers import run_cli_process

from diffstudio.core import resources
from diffstudio.core.errors import DiffstudioError
from diffstudio.gui import self_test


def test_self_test_passes_and_writes_nothing_outside_temp(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    result = run_cli_process("--self-test")  # a QApplication of its own
    for check in ("resources", "Qt", "demo run", "main window", "torch", "sampling"):
        assert f"ok    {check}:" in result.stdout, result.stdout
    assert result.stdout.rstrip().endswith("self-test passed")
    assert not (tmp_path / "home").exists() and not (tmp_path / "runs").exists()  # nor the user's runs


def test_self_test_names_what_failed(qapp, monkeypatch, capsys):
    def missing():
        raise DiffstudioError("the app's resources folder is missing: reinstall diffstudio")

    monkeypatch.setattr(resources, "resources_dir", missing)
    assert self_test.self_test() == 1
    out = capsys.readouterr().out
    assert "FAIL  resources: the app's resources folder is missing" in out and "self-test FAILED" in out
