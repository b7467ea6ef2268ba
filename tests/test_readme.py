"""The README's quick start is what CI runs."""

from __future__ import annotations

import re

from conftest import ROOT


def _commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick_start)


def test_quick_start_is_two_commands_run_and_test() -> None:
    run, test = _commands()
    assert run.endswith("ganbench run --suite mode-collapse")
    assert test.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    (_, test) = _commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test in ci, "the last step of .ci/run must be the README's test command"
    assert ci[-1] == test


def test_quick_start_shows_the_cpu_install() -> None:
    # A plain `pip install` takes the CUDA build of torch (about 6 GB): the quick start shows the CPU one.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in quick_start


def test_every_link_of_the_readme_resolves() -> None:
    # The README is the way into the documentation: its relative links (to docs/pages/*.md, figures)
    # must open on GitHub, where they are read as paths in the repository.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = [link.split("#")[0] for link in re.findall(r"\]\(([^)\s]+)\)", readme) if "://" not in link]
    assert any(link.startswith("docs/pages/") for link in links)
    assert [link for link in links if link and not (ROOT / link).exists()] == []
