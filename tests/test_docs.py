"""The documentation site builds with --strict, and every command it shows works.

Every `ganbench` (or `python -m ganbench`) command in a ```bash block of the README or a page, and in
the `run:` steps of the pages' GitHub workflows, must parse: the command exists, every option
exists, every suite, method, metric, dataset and published table it names exists. The cheap ones
run, in the order the pages show them, in one scratch folder: placeholders (RUN_DIR, BASELINE, ...)
become copies of the committed ci baseline, training runs get a smoke budget, and a folder one
command writes is the folder a later one reads. The others are listed in PARSE_ONLY with the reason
they are only parsed.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from conftest import DOCS, ROOT, docs_pages
from typer.testing import CliRunner

from ganbench.cli import app

PAGES = DOCS / "pages"
BASELINE = ROOT / ".ci" / "baseline" / "ci"

# Commands shown but only parsed (as the pages show them, after `ganbench`), each with its reason.
PARSE_ONLY = {
    "fid-sanity --samples 4000 --extractor lenet --data-root ../shared/data/mnist": (
        "needs the MNIST test set and trains the digit classifier; tests/test_fid_sanity.py runs the check"
    ),
    "fid-sanity --samples 4000 --extractor lenet --extractor inception --device cuda "
    "--out results/fid-sanity-inception": "needs a GPU and the Inception weights",
    "run --suite image-quality --quick --data-root ../shared/data/mnist": (
        "needs the MNIST test set; minutes of DCGAN training on a CPU (tests/test_image_quality.py)"
    ),
    "run --suite stacked-mnist --quick --data-root ../shared/data/mnist": (
        "needs the MNIST test set; minutes of DCGAN training on a CPU (tests/test_stacked_mnist.py)"
    ),
    "run --suite stacked-mnist-pacgan --data-root ../shared/data/mnist": (
        "a GPU run: 100,000 steps of PacGAN's networks, about 141 days on a 2-core CPU"
    ),
    "run --suite mode-collapse --executor ray": "needs Ray (tests/test_ray.py starts a local instance)",
    "run --suite mode-collapse --executor ray --address auto": "needs a running Ray cluster",
    "run --suite mode-collapse --executor ray --address ray://head:10001 --gpus-per-job 1": (
        "needs a Ray cluster with GPUs"
    ),
    "run --suite ci --threads 2 --out /tmp/ci-baseline": (
        "the ci suite (85-97 s): tests/test_mutations.py runs it at 200 steps, and tests/test_ci_baseline.py "
        "retrains the committed baseline's GAN-NS group"
    ),
    "run --suite ci --out candidate": "the ci suite, as for the baseline above",
    "eval --generator my_gans.models:generator --latent-dim 100 --checkpoint g.pt --suite stacked-mnist "
    "--label mygan": "the reader's own package and checkpoint, scored on the MNIST test set",
}

# `GANBENCH_DOCS_TIMES=1 pytest -s tests/test_docs.py` prints the CPU time of every command run.
# Training commands run at a smoke budget; --keep-generators changes no job's configuration, and lets
# a later `eval --from-run` read whichever run stood for the one it names.
SMOKE = ["--quick", "--seeds", "1", "--steps", "20", "--keep-generators"]
# Settings that do not change what a run trains: runs that differ only in them are run once.
SAME_RUN = {"--out": 1, "--threads": 1, "--keep-generators": 0, "--quick": 0, "--yes": 0, "-y": 0}

# A ring-8 generator for `eval --generator mygen:ring` (the page's own example of a factory in ./mygen.py).
MYGEN = """
import math

import torch
from torch import nn


class Ring(nn.Module):
    def forward(self, z):
        k = torch.floor((torch.atan2(z[:, 1], z[:, 0]) + math.pi) / (2 * math.pi) * 8)
        angle = k * 2 * math.pi / 8
        return torch.stack([torch.cos(angle), torch.sin(angle)], 1) + 0.01 * z


def ring():
    return Ring()
"""


@dataclass(frozen=True)
class Shown:
    """A command as a page shows it: its page, the command line, and the arguments after `ganbench`."""

    page: Path
    line: str
    args: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.args)

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}: ganbench {self.text}"


def _segments(line: str) -> list[list[str]]:
    """The simple commands of one shell line (split at &&, ||, ;, |), comments dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in {"&&", "||", ";", "|", "&"}:
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def _workflow_runs(block: str) -> list[str]:
    """The shell lines of a GitHub workflow's `run:` steps (`>` folded, `|` literal, or inline)."""
    lines, runs = block.splitlines(), []
    for i, line in enumerate(lines):
        match = re.match(r"^(\s*)(?:- )?run: ?(.*)$", line)
        if not match:
            continue
        indent, value = len(match.group(1)), match.group(2).strip()
        if value not in {">", "|"}:
            runs.append(value)
            continue
        body = []
        for more in lines[i + 1 :]:
            if more.strip() and len(more) - len(more.lstrip()) <= indent:
                break
            body.append(more.strip())
        runs += [" ".join(body)] if value == ">" else "\n".join(body).replace("\\\n", " ").splitlines()
    return runs


def shown_commands() -> list[Shown]:
    """Every ganbench command of a ```bash block or a workflow's `run:` step, in the pages' order."""
    shown = []
    for page in docs_pages():
        text = page.read_text(encoding="utf-8")
        for lang, block in re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M):
            if lang == "bash":
                lines = block.replace("\\\n", " ").splitlines()
            elif lang == "yaml":
                lines = _workflow_runs(block)
            else:
                continue
            for line in lines:
                for words in _segments(line):
                    if words[:3] == ["python", "-m", "ganbench"]:
                        words = ["ganbench", *words[3:]]
                    if words[0] == "ganbench":
                        shown.append(Shown(page, line.strip(), tuple(words[1:])))
    return shown


def _inline_commands() -> list[tuple[Path, list[str]]]:
    """`ganbench ...` in inline code outside code blocks: its words after `ganbench`."""
    found = []
    for page in docs_pages():
        text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
        for span in re.findall(r"`((?:python -m )?ganbench [^`]+)`", text.replace("\n", " ")):
            found.append((page, span.split()[2 if span.startswith("python") else 1 :]))
    return found


def _command(name: str) -> Any:
    """The click command of `ganbench NAME` (typer ships its own click: no isinstance checks here)."""
    group = typer.main.get_command(app)
    if name not in group.commands:
        raise AssertionError(f"no command `ganbench {name}` (commands: {', '.join(group.commands)})")
    return group.commands[name]


def _option_names(command: Any) -> set[str]:
    return {name for p in command.params for name in (*p.opts, *getattr(p, "secondary_opts", []))}


def _values(args: list[str], *options: str) -> list[str]:
    """The values given to any of `options` (as `--x v` or `--x=v`), comma lists split."""
    values = []
    for i, arg in enumerate(args):
        name, _, value = arg.partition("=")
        if name in options:
            value = value or (args[i + 1] if i + 1 < len(args) else "")
            values += [v for v in value.split(",") if v]
    return values


def _names_exist(args: list[str]) -> list[str]:
    """What a command names (suites, methods, metrics, datasets, published tables) that does not exist."""
    from ganbench.data import DATASETS
    from ganbench.metrics import METRICS
    from ganbench.metrics.published import published_names
    from ganbench.models import METHODS
    from ganbench.suite import suite_names

    wrong = []
    for suite in _values(args, "--suite", "-s"):
        if suite not in suite_names() and not (ROOT / suite).is_file():
            wrong.append(f"suite {suite!r}")
    for names, registry in (("--methods", METHODS), ("--metrics", METRICS), ("--dataset", DATASETS)):
        wrong += [f"{names[2:]} {v!r}" for v in _values(args, names) if v not in registry.names()]
    wrong += [f"published table {v!r}" for v in _values(args, "--against") if v not in published_names()]
    return wrong


def _parse(args: list[str]) -> None:
    """Parse `ganbench ARGS` as the program would, without running it: unknown options, missing
    arguments and bad values raise (click's UsageError)."""
    name, *rest = args
    _command(name).make_context(name, list(rest))


# --- the site ---------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_site_builds_strict(tmp_path: Path) -> None:
    # --strict: a broken link or anchor, a page outside the nav, an API object that does not resolve.
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(DOCS / "mkdocs.yml")]
        + ["--site-dir", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    # The CLI reference's tables come from the program: every option of `run` is on the page.
    cli_page = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    assert all(name in cli_page for name in _option_names(_command("run")))


def test_every_page_is_in_the_nav() -> None:
    config = (DOCS / "mkdocs.yml").read_text(encoding="utf-8")
    in_nav = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", config, flags=re.M))
    pages = {str(p.relative_to(PAGES)) for p in PAGES.rglob("*.md")}
    assert pages == in_nav


# --- commands: every one parses ---------------------------------------------------------------------


def test_the_pages_show_commands() -> None:
    shown = shown_commands()
    assert len(shown) >= 20
    # The quick start's run command is collected from inside its `... && ganbench run ...` line.
    assert any(s.page.name == "README.md" and s.args == ("run", "--suite", "mode-collapse") for s in shown)


@pytest.mark.parametrize("shown", shown_commands(), ids=str)
def test_every_shown_command_parses(shown: Shown) -> None:
    args = [_placeholder(a, dict(FOLDERS)) for a in shown.args]
    try:
        _parse(args)
    except Exception as err:  # click's UsageError (typer's own copy of click)
        pytest.fail(f"{shown}: {getattr(err, 'format_message', err.__str__)()}")
    assert _names_exist(args) == [], shown


def test_inline_commands_name_real_commands_and_options() -> None:
    wrong = []
    for page, words in _inline_commands():
        if words[0] in {"COMMAND"}:  # `ganbench COMMAND --help`: any command
            continue
        try:
            command = _command(words[0])
        except AssertionError as err:
            wrong.append(f"{page.name}: {err}")
            continue
        options = {w.split("=")[0] for w in words if w.startswith("-")}
        unknown = options - _option_names(command)
        wrong += [f"{page.name}: ganbench {' '.join(words)}: no option {o}" for o in sorted(unknown)]
        wrong += [f"{page.name}: ganbench {' '.join(words)}: no {w}" for w in _names_exist(words)]
    assert wrong == []


def test_the_parse_only_table_names_shown_commands() -> None:
    # A command that left the pages leaves the table too; each entry says why it does not run.
    shown = {s.text for s in shown_commands()}
    assert set(PARSE_ONLY) <= shown
    assert all(reason for reason in PARSE_ONLY.values())


# --- commands: the cheap ones run -------------------------------------------------------------------


# What the pages' placeholders and folders stand for in the scratch folder. The workflows' `candidate` is
# the ci suite at its full budget (85-97 s): a smoke run would share no row with the baseline, so a copy
# of the baseline stands for it, as for BASELINE, CANDIDATE and the run folders of `report`.
FOLDERS = {
    "RUN_DIR": "run",
    "RUN": "run",
    "BASELINE": "run",
    "CANDIDATE": "candidate-run",
    "candidate": "candidate-run",
    "my_plugin": "ganbench_example_plugin",
}


def _placeholder(arg: str, folders: dict[str, str]) -> str:
    """A page's placeholder or folder name -> what the scratch folder holds for it."""
    key = arg.rstrip("/")
    if key in folders:
        return folders[key]
    if not arg.startswith("-") and not Path(arg).is_absolute() and key and (ROOT / key).exists():
        return str(ROOT / key)  # a file of the repository (suites/..., .ci/baseline/ci/)
    if arg.startswith("/tmp/"):
        return arg[len("/tmp/") :]  # into the scratch folder
    return arg


def _without(args: list[str], options: dict[str, int]) -> tuple[str, ...]:
    kept, skip = [], 0
    for arg in args:
        if skip:
            skip -= 1
        elif arg in options:
            skip = options[arg]
        else:
            kept.append(arg)
    return tuple(kept)


@pytest.mark.e2e
def test_the_cheap_commands_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One scratch folder for every command, in the pages' order: placeholders are copies of the
    # committed ci baseline (a run folder of records), the pages' own inputs are written here.
    monkeypatch.chdir(tmp_path)
    shutil.copytree(BASELINE, tmp_path / "run")
    shutil.copytree(BASELINE, tmp_path / "candidate-run")
    (tmp_path / "mygen.py").write_text(MYGEN, encoding="utf-8")
    rng = np.random.default_rng(0)
    angles = rng.integers(0, 8, 500) * 2 * np.pi / 8
    points = np.stack([np.cos(angles), np.sin(angles)], 1) + 0.01 * rng.standard_normal((500, 2))
    np.save(tmp_path / "mine.npy", points.astype(np.float32))
    folders = dict(FOLDERS)
    runs: dict[tuple[str, ...], str] = {}
    ran, failures = [], []
    for index, shown in enumerate(shown_commands()):
        if shown.text in PARSE_ONLY or shown.args in {s.args for s in ran}:
            continue
        args = list(shown.args)
        if args[0] in {"run", "tune"}:
            same = _without(args, SAME_RUN)
            folder = runs.get(same) or f"runs/{len(runs)}"
            for out in _values(args, "--out"):  # a later command reads this folder by the page's name
                folders.setdefault(out.rstrip("/"), folder)
            if same in runs:  # the same training as one already run
                continue
            runs[same] = folder
            smoke = SMOKE if args[0] == "run" else ["--quick", "--steps", "20"]  # tune has its own seeds
            # the smoke budget comes last: where a page sets --seeds or --steps, the last value counts
            args = [*_without(args, {"--out": 1, "--keep-generators": 0}), *smoke, "--out", folder]
        args = [_placeholder(a, folders) for a in args]
        args = [f"out-{index}" if a == "DIR" else a for a in args]
        began = time.process_time()
        result = CliRunner().invoke(app, args)
        if os.environ.get("GANBENCH_DOCS_TIMES"):
            print(f"{time.process_time() - began:6.1f} s cpu  ganbench {' '.join(args)}")
        ran.append(shown)
        if result.exit_code != 0:
            failures.append(f"{shown}\n  ran: ganbench {' '.join(args)}\n  exit {result.exit_code}: "
                            + (result.output[-800:] or repr(result.exception)))  # fmt: skip
    assert failures == [], "\n".join(failures)
    commands = {s.args[0] for s in ran}
    assert {"run", "eval", "report", "compare", "list", "validate"} <= commands, commands
    assert (tmp_path / "results" / "mc-w1" / "jobs").is_dir()  # eval --from-run read the run's generators


# --- what the pages name exists ---------------------------------------------------------------------


def test_suite_files_shown_in_full_validate(tmp_path: Path) -> None:
    # A ```toml block with `methods = ` is a whole suite: it must be one `ganbench validate` accepts.
    checked = 0
    for page in docs_pages():
        for block in re.findall(r"^```toml\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.S | re.M):
            if re.search(r"^methods = ", block, flags=re.M):
                suite = tmp_path / f"suite{checked}.toml"
                suite.write_text(block, encoding="utf-8")
                result = CliRunner().invoke(app, ["validate", str(suite)])
                assert result.exit_code == 0, f"{page.name}: {result.output}"
                checked += 1
    assert checked >= 1


def test_the_code_the_pages_name_exists() -> None:
    # Paths `ganbench/x/y.py` and dotted names `ganbench.x.y` (modules, or objects in them).
    wrong = []
    for page in docs_pages():
        text = page.read_text(encoding="utf-8")
        for path in sorted(set(re.findall(r"\bganbench/[\w/]+\.py\b", text))):
            if not (ROOT / path).is_file():
                wrong.append(f"{page.name}: {path}")
        for dotted in sorted(set(re.findall(r"(?<![\w/.-])ganbench(?:\.\w+)+", text))):
            if not _resolves(dotted):
                wrong.append(f"{page.name}: {dotted}")
    assert wrong == []


def _resolves(dotted: str) -> bool:
    """Whether `ganbench.a.b.c` is a module, or a name defined at the top of one (read, not imported)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:cut])
        module = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if module.is_file():
            rest = parts[cut:]
            if not rest:
                return True
            tree = ast.parse(module.read_text(encoding="utf-8"))
            names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
            for node in tree.body:
                if isinstance(node, ast.Assign | ast.AnnAssign):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names |= {target.id for target in targets if isinstance(target, ast.Name)}
            names |= {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
            return rest[0] in names
    return False


def test_the_architecture_page_states_the_layers_of_test_layout() -> None:
    from test_layout import FOUNDATION, LAYERS

    page = (PAGES / "architecture.md").read_text(encoding="utf-8")
    section = page.split("<!-- layers: start -->", 1)[1].split("<!-- layers: end -->", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (.*) \|$", section, flags=re.M)
    assert [layer for layer, _ in rows] == list(LAYERS)
    for layer, allowed in rows:
        assert set(re.findall(r"`(\w+)`", allowed)) == LAYERS[layer], layer
    foundation = section.split("The foundation", 1)[1]
    assert set(re.findall(r"`(\w+)`", foundation)) == FOUNDATION


def test_the_checks_catch_a_wrong_command() -> None:
    with pytest.raises(Exception, match="--bogus"):
        _parse(["run", "--suite", "mode-collapse", "--bogus"])
    with pytest.raises(AssertionError, match="no command"):
        _parse(["train", "--suite", "mode-collapse"])
    assert _names_exist(
        ["run", "--suite", "mode-colapse", "--methods", "gan,wgan-xx", "--metrics", "w2"]
    ) == [
        "suite 'mode-colapse'",
        "methods 'wgan-xx'",
        "metrics 'w2'",
    ]
    line = "OMP_NUM_THREADS=1 x && python -m ganbench list | tee out  # list"
    assert [c for c in _segments(line) if "ganbench" in c] == [["python", "-m", "ganbench", "list"]]
    workflow = (
        "steps:\n  - run: ganbench run --suite ci\n  - run: >\n      ganbench compare a b\n      --verbose\n"
    )
    assert _workflow_runs(workflow) == ["ganbench run --suite ci", "ganbench compare a b --verbose"]
