"""Test tiers: the quick tier (`python -m pytest -m "not e2e and not slow"`) leaves out every test that
trains a run or spawns a process; the default run (what CI runs) keeps them.

The check reads the test files, it runs nothing: a test trains or spawns when it (or a function or
fixture of its module, or of a helper module it imports, that it uses) calls the CLI's `run`, `tune`,
`throughput` or `fid-sanity`, calls the functions behind them, or starts a process. Such a test
carries `pytest.mark.e2e` (or `slow`), on itself or on its module, unless it is listed in QUICK_RUNS
with the reason it trains nothing (a suite refused before its first step)."""

from __future__ import annotations

import ast
import functools
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import ROOT

TESTS = ROOT / "tests"
# CLI commands that train (run, tune, throughput) or score thousands of images (fid-sanity). `eval`
# scores what it is given: a test that trains what it scores calls `run` too.
HEAVY_COMMANDS = frozenset({"run", "tune", "throughput", "fid-sanity"})
# The functions behind them.
HEAVY_FUNCTIONS = frozenset(
    {
        "ganbench.app.run.run",
        "ganbench.app.run.tune",
        "ganbench.app.run.run_loaded",
        "ganbench.app.sanity.run",
        "ganbench.app.throughput.measure_suite",
        "ganbench.run.driver.run_suite",
        "ganbench.run.run_suite",
    }
)
# Names whose use starts a process.
SPAWNERS = frozenset({"subprocess", "multiprocessing", "Popen", "ProcessPoolExecutor", "fork", "spawn"})
# Marks that keep a test out of the quick tier.
OUT_OF_QUICK = frozenset({"e2e", "slow"})
# Tests that call a heavy command but stay quick: refused before anything trains or is scored.
QUICK_RUNS = {
    "test_cli.py::test_bad_input_is_one_line_and_exit_2": "each suite is refused at load",
    "test_cli.py::test_cuda_without_cuda_is_a_clear_error": "refused before the first step",
    "test_cli.py::test_unwritable_output_is_one_line": "refused before the first step",
    "test_cli.py::test_ray_options_need_the_ray_executor": "refused at option parsing",
    "test_dirac.py::test_a_suite_asking_mode_metrics_of_the_dirac_is_refused_before_training": "at load",
    "test_critic_metric.py::test_a_bad_first_seed_is_one_line": "refused at load",
    "test_capabilities.py::test_a_dataset_without_the_capability_a_metric_needs_is_refused_in_one_line": (
        "refused at load"
    ),
    "test_capabilities.py::test_a_declaration_without_the_attributes_it_promises_is_refused_in_one_line": (
        "refused at load"
    ),
    "test_fid_sanity.py::test_bad_input_is_one_line_and_exit_2": "refused before any feature is computed",
    "test_fid_sanity.py::test_more_samples_than_the_data_holds_is_one_line": "refused before any feature",
    "test_inception.py::test_a_changed_file_is_refused_before_it_is_loaded": "before the weights load",
    "test_cli.py::test_bad_suite_file_is_one_line_naming_file_and_key": "refused at load",
    "test_estimate.py::test_declining_stops_before_anything_is_written": "declined at the estimate",
    "test_fidelity_safety.py::test_bad_inception_weights_stop_the_run_before_training": "before training",
    "test_hostile_eval.py::test_the_folder_dataset_refuses_an_image_bomb": "refused while reading the images",
    "test_hostile_input.py::test_ctrl_c_outside_training_is_one_line": "interrupted before training",
    "test_hostile_input.py::test_huge_seed_counts_are_refused_before_any_folder_is_made": "refused at load",
    "test_image_quality.py::test_missing_inception_weights_stop_the_run_in_one_line": "before training",
    "test_image_quality.py::test_missing_mnist_files_stop_the_run_in_one_line": "refused before training",
    "test_layout.py::test_a_schema_2_training_folder_is_not_resumed_under_the_new_streams": "at resume",
    "test_throughput.py::test_suite_kinds_are_not_mixed": "each kind refused by the other command",
    "test_docs.py::test_the_checks_catch_a_wrong_command": "parses command lines, runs none",
}


@dataclass
class Module:
    """One Python file of tests/: its top-level functions, what its names import, its module marks."""

    name: str
    functions: dict[str, ast.FunctionDef] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)  # local name -> dotted origin
    marks: set[str] = field(default_factory=set)


def _mark_names(node: ast.expr) -> set[str]:
    """`pytest.mark.X` (called or not), or a list or tuple of them -> {X, ...}."""
    if isinstance(node, (ast.List, ast.Tuple)):
        return set().union(*(_mark_names(e) for e in node.elts)) if node.elts else set()
    if isinstance(node, ast.Call):
        node = node.func
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "mark"
    ):
        return {node.attr}
    return set()


def parse_module(name: str, source: str) -> Module:
    tree = ast.parse(source)
    module = Module(name)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            module.functions[node.name] = node
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            module.marks |= _mark_names(node.value)
    for node in ast.walk(tree):  # imports inside functions too
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                module.imports[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                module.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return module


def _dotted(node: ast.expr, module: Module) -> str | None:
    """Where a name or attribute chain comes from: `driver.run_suite` -> ganbench.run.driver.run_suite."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    head = module.imports.get(node.id, node.id)
    return ".".join([head, *reversed(parts)])


def _own_reasons(function: ast.FunctionDef, module: Module) -> tuple[set[str], set[tuple[str, str]]]:
    """What `function` itself does that is heavy, and the functions it uses: (reasons, {(module, name)})."""
    reasons: set[str] = set()
    uses: set[tuple[str, str]] = set()
    for argument in function.args.args:  # fixtures of the same module
        if argument.arg in module.functions:
            uses.add((module.name, argument.arg))
    for decorator in function.decorator_list:  # @pytest.mark.usefixtures("name")
        if isinstance(decorator, ast.Call) and _dotted(decorator.func, module) == "pytest.mark.usefixtures":
            for arg in decorator.args:
                if isinstance(arg, ast.Constant) and arg.value in module.functions:
                    uses.add((module.name, arg.value))
    for node in ast.walk(function):
        if isinstance(node, ast.Name):
            if node.id in SPAWNERS or module.imports.get(node.id, "").split(".")[0] in SPAWNERS:
                reasons.add(f"starts a process ({node.id})")
            elif node.id in module.functions and node.id != function.name:
                uses.add((module.name, node.id))
            elif "." in module.imports.get(node.id, ""):
                uses.add(tuple(module.imports[node.id].rsplit(".", 1)))  # type: ignore[arg-type]
        elif isinstance(node, ast.Attribute):
            origin = _dotted(node, module) or ""
            if node.attr in SPAWNERS:
                reasons.add(f"starts a process ({node.attr})")
            elif origin in HEAVY_FUNCTIONS:
                reasons.add(f"calls {origin}")
            elif origin.count(".") == 1:
                uses.add(tuple(origin.split(".")))  # type: ignore[arg-type]
        if isinstance(node, ast.Call):
            origin = _dotted(node.func, module)
            if origin in HEAVY_FUNCTIONS:
                reasons.add(f"calls {origin}")
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if "invoke" in callee:  # cli.invoke(app, ["run", ...]) or a helper's _invoke(cli, "run", ...)
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and arg.value in HEAVY_COMMANDS:
                        reasons.add(f"invokes `ganbench {arg.value}`")
        # A command line: ["run", "--suite", ...], however it is invoked later.
        if isinstance(node, ast.List) and len(node.elts) > 1 and isinstance(node.elts[0], ast.Constant):
            first, second = node.elts[0].value, node.elts[1]
            if first in HEAVY_COMMANDS and not (
                isinstance(second, ast.Constant) and second.value in HEAVY_COMMANDS
            ):
                reasons.add(f"invokes `ganbench {first}`")
    return reasons, uses


def heavy_reasons(modules: dict[str, Module], name: str, function: str) -> set[str]:
    """Why the test `function` of `modules[name]` trains or spawns, following what it uses; empty if not."""
    reasons: set[str] = set()
    seen: set[tuple[str, str]] = set()
    todo = [(name, function)]
    while todo:
        key = todo.pop()
        if key in seen or key[0] not in modules or key[1] not in modules[key[0]].functions:
            continue
        seen.add(key)
        module = modules[key[0]]
        own, uses = _own_reasons(module.functions[key[1]], module)
        reasons |= own
        todo.extend(uses)
    return reasons


def marks_of(module: Module, function: str) -> set[str]:
    own = set().union(*(_mark_names(d) for d in module.functions[function].decorator_list), set())
    return own | module.marks


def out_of_quick(module: Module, function: str) -> bool:
    """Marked e2e or slow, or a benchmark: addopts' --benchmark-skip (kept under any -m) skips those."""
    marks = marks_of(module, function)
    takes = {argument.arg for argument in module.functions[function].args.args}
    return bool(marks & OUT_OF_QUICK) or ("bench" in marks and "benchmark" in takes)


@functools.cache
def load_modules(folder: Path) -> dict[str, Module]:
    return {
        path.stem: parse_module(path.stem, path.read_text(encoding="utf-8")) for path in folder.glob("*.py")
    }


def unmarked_heavy_tests(modules: dict[str, Module]) -> dict[str, set[str]]:
    """`file::test` -> reasons, for each test that trains or spawns and would run in the quick tier."""
    found = {}
    for name, module in modules.items():
        if not name.startswith("test_"):
            continue
        for function in module.functions:
            if not function.startswith("test_") or out_of_quick(module, function):
                continue
            key = f"{name}.py::{function}"
            reasons = heavy_reasons(modules, name, function)
            if reasons and key not in QUICK_RUNS:
                found[key] = reasons
    return found


def _pytest_options() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"][
        "ini_options"
    ]


def test_the_e2e_marker_is_registered_and_the_default_run_keeps_e2e_tests() -> None:
    options = _pytest_options()
    assert any(marker.split(":")[0].strip() == "e2e" for marker in options["markers"])
    addopts = shlex.split(options["addopts"])
    selection = addopts[addopts.index("-m") + 1]
    assert "e2e" not in selection, "the default run (what CI runs) must keep the e2e tests"
    assert "not slow" in selection


def test_every_test_that_trains_or_spawns_is_out_of_the_quick_tier() -> None:
    found = unmarked_heavy_tests(load_modules(TESTS))
    assert not found, (
        "mark these pytest.mark.e2e (or list them in QUICK_RUNS, saying why they stay quick):\n"
        + ("\n".join(f"  {key}: {', '.join(sorted(reasons))}" for key, reasons in sorted(found.items())))
    )


def test_each_quick_run_exists_and_still_calls_a_heavy_command() -> None:
    # A stale entry would let a later test of the same name train in the quick tier unnoticed.
    modules = load_modules(TESTS)
    for key in QUICK_RUNS:
        file, function = key.split("::")
        name = file.removesuffix(".py")
        if name not in modules:  # a test file not in this tree (yet)
            continue
        assert function in modules[name].functions, f"{key} is gone: take it out of QUICK_RUNS"
        assert heavy_reasons(modules, name, function), f"{key} no longer trains: take it out of QUICK_RUNS"


SAMPLE = """
import subprocess
import pytest
from ganbench.cli import app
from ganbench.run import driver
from helper import train_it

@pytest.fixture
def trained(tmp_path, cli):
    cli.invoke(app, ["run", "--suite", "x", "--out", str(tmp_path)])
    return tmp_path

def _spawn():
    subprocess.run(["true"])

def test_reads_a_trained_run(trained): ...
def test_spawns(): _spawn()
def test_drives(): driver.run_suite(None)
def test_calls_a_helper_module(): train_it()
def test_validates(cli): cli.invoke(app, ["validate", "x"])
@pytest.mark.e2e
def test_marked(trained): ...
"""
HELPER = """
from ganbench.app.run import run as run_suite
def train_it():
    run_suite("x")
"""


@pytest.mark.parametrize(
    "module_marks", ["", "pytestmark = [pytest.mark.filterwarnings('x'), pytest.mark.e2e]"]
)
def test_the_check_finds_training_through_fixtures_helpers_and_imports(module_marks: str) -> None:
    modules = {
        "test_sample": parse_module("test_sample", SAMPLE + module_marks),
        "helper": parse_module("helper", HELPER),
    }
    found = unmarked_heavy_tests(modules)
    if module_marks:
        assert found == {}
        return
    assert sorted(found) == [
        "test_sample.py::test_calls_a_helper_module",
        "test_sample.py::test_drives",
        "test_sample.py::test_reads_a_trained_run",
        "test_sample.py::test_spawns",
    ]
    assert found["test_sample.py::test_reads_a_trained_run"] == {"invokes `ganbench run`"}
    assert found["test_sample.py::test_spawns"] == {"starts a process (subprocess)"}
    assert found["test_sample.py::test_calls_a_helper_module"] == {"calls ganbench.app.run.run"}
