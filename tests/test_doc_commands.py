"""docs/figures.md's commands are commands the CLI takes: each one parses with the real parser, so a renamed flag
cannot leave the page behind. benchmarks/figure_times.py runs them for real (and times them)."""

import shlex
import sys
from pathlib import Path

import pytest

from diffstudio.cli.parser import build_parser

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from figure_times import doc_commands  # noqa: E402

FIGURES = ROOT / "docs" / "figures.md"


def test_the_figures_page_has_a_command_for_each_figure():
    headings = {heading.split(":")[0] for heading, _ in doc_commands(FIGURES.read_text())}
    assert headings == {"Fig. 6", "Fig. 7", "Fig. 8"}


@pytest.mark.parametrize("command", [command for _, command in doc_commands(FIGURES.read_text())])
def test_every_command_on_the_figures_page_parses(command):
    try:
        build_parser().parse_args(shlex.split(command)[1:])
    except SystemExit:
        pytest.fail(f"the CLI refuses `{command}`")
