"""The package's shape: no import cycles, layers that depend one way, and old run folders that still work."""

from __future__ import annotations

import ast
import json
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import ganbench
from ganbench.cli import app

PACKAGE = Path(ganbench.__file__).parent
SCHEMA2 = Path(__file__).parent / "data" / "schema2"
SCHEMA4 = Path(__file__).parent / "data" / "schema4"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every ganbench module -> the ganbench modules it imports: at the top, inside a function, or under
    `if TYPE_CHECKING:` (a typing-only import is a dependency too, and counts).

    `from ganbench.x import y` counts as importing `ganbench.x.y` when that is a module, else
    `ganbench.x`.
    """
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_imports_inside_functions_and_typing_imports() -> None:
    graph = import_graph()
    # cli imports the application layer's run module only inside the `run` command (--help stays fast).
    assert "ganbench.app.run" in graph["ganbench.cli"]
    assert "ganbench.run.worker" in graph["ganbench.run.executors"]
    # app.throughput imports the report only for a return type (and inside its function).
    assert "ganbench.report" in graph["ganbench.app.throughput"]


def test_no_import_cycles() -> None:
    assert find_cycle(import_graph()) is None


# The layers, lowest first; each part lists every part it may import, all of them lower in this list.
# The foundation modules (FOUNDATION) import only one another and may be imported from anywhere.
FOUNDATION = {
    "errors",
    "registry",
    "config",
    "paths",
    "device",
    "plugins",
    "files",
    "labels",
    "limits",
    "terminal",
}
LAYERS: dict[str, set[str]] = {
    "data": set(),  # datasets and their capabilities
    "models": {"data"},  # methods, architectures, objectives
    "metrics": {"data", "models"},
    "records": {"data", "metrics"},  # job records and the run folder; old records' specs from registries
    "engine": {"data", "models", "metrics", "records"},  # the training loop; tracking measures W1
    "tune": {"data", "models", "metrics"},  # a suite's [tune] table and the search's ranking
    "suite": {"data", "models", "metrics", "records", "tune"},  # job configs name the stream scheme
    "run": {"data", "models", "metrics", "records", "engine", "tune", "suite"},  # driver, executors, worker
    "throughput": {"data", "models", "metrics", "records", "engine", "suite", "run"},
    "report": {"data", "models", "metrics", "records"},  # reads records: no engine, no run machinery
    "app": {"data", "models", "metrics", "records", "engine", "tune", "suite", "run", "throughput", "report"},
    "cli": {"app"},
    "__main__": {"cli"},
}


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def test_every_part_has_a_layer() -> None:
    parts = {_part(module) for module in import_graph()} - {"__init__"}
    assert parts == FOUNDATION | set(LAYERS)


def test_the_layers_are_an_order() -> None:
    # Each part imports only parts listed before it: the list is an order, so no two parts import each other.
    order = list(LAYERS)
    for part, allowed in LAYERS.items():
        assert all(order.index(lower) < order.index(part) for lower in allowed), part


def test_layers_depend_one_way() -> None:
    wrong = sorted(
        f"{source} imports {target}"
        for source, targets in import_graph().items()
        for target in targets
        if _part(target) != _part(source)
        and _part(target)
        not in {"__init__"} | FOUNDATION | (LAYERS[_part(source)] if _part(source) in LAYERS else set())
    )
    assert wrong == []


def test_the_foundation_imports_only_itself() -> None:
    wrong = sorted(
        f"{source} imports {target}"
        for source, targets in import_graph().items()
        if _part(source) in FOUNDATION
        for target in targets
        if _part(target) not in FOUNDATION | {"__init__"}
    )
    assert wrong == []


def test_a_planted_upward_import_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # The check itself can fail: a report module importing the training engine is named.
    graph = {**import_graph(), "ganbench.report.tables": {"ganbench.engine.train"}}
    monkeypatch.setattr(sys.modules[__name__], "import_graph", lambda: graph)
    with pytest.raises(AssertionError, match="ganbench.report.tables imports ganbench.engine.train"):
        test_layers_depend_one_way()


def test_nothing_cites_a_document_outside_the_repository() -> None:
    root = PACKAGE.parent
    texts = [*PACKAGE.rglob("*.py"), *(root / "suites").glob("*.toml"), root / "README.md"]
    texts += [*(root / "tests").glob("*.py"), root / "results" / "README.md"]
    # the documentation site's pages, configuration and hook (not a built site under docs/site/)
    docs = [p for p in (root / "docs").rglob("*") if p.suffix in {".md", ".py", ".yml"}]
    texts += [p for p in docs if "site" not in p.relative_to(root / "docs").parts]
    design = "DESIGN" + ".md"  # spelled apart so that this file does not cite it either
    assert [str(p.relative_to(root)) for p in texts if design in p.read_text(encoding="utf-8")] == []


# --- run folders made before typed records (schema 2, by ganbench at the previous commit) ---


@pytest.fixture
def schema2(tmp_path: Path) -> Path:
    """A copy of the committed schema-2 folders: a 2 x 2-seed tiny training run and a throughput run."""
    shutil.copytree(SCHEMA2, tmp_path / "schema2")
    return tmp_path / "schema2"


def test_a_schema_2_training_folder_reports_as_it_did(schema2: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(schema2 / "train"), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    # The same means and stds as the table the old code wrote from these records (at its '.3g').
    old = (schema2 / "train" / "summary.md").read_text(encoding="utf-8").splitlines()
    metrics = [re.fullmatch(r"ring-8: (\S+) [↑↓]", c.strip()).group(1) for c in old[0].split("|")[2:-1]]
    shown = {
        (cells[0].strip(), metric): cell.strip(" *")
        for cells in (line.split("|")[1:-1] for line in old[2:4])
        for metric, cell in zip(metrics, cells[1:], strict=True)
    }
    summary = pd.read_csv(tmp_path / "report" / "summary.csv")
    assert len(shown) == len(summary) == 8
    for row in summary.itertuples():
        assert shown[(row.method, row.metric)] == f"{row.mean:.3g} ± {row.std:.3g}", (row.method, row.metric)
    # The new table: each cell's decimals from its own std (0.647 -> 2, 0.0133 -> 3; std 0 -> 3
    # significant digits of 0), every cell bold (two seeds: Welch's test tells no method apart).
    new = (tmp_path / "report" / "summary.md").read_text(encoding="utf-8").splitlines()
    assert [[c.strip() for c in line.split("|")[1:-1]] for line in new[2:4]] == [
        ["GAN", "**0 ± 0**", "**0 ± 0**", "**1.49 ± 0.65**", "**0.942 ± 0.013**"],
        ["WGAN", "**0 ± 0**", "**0 ± 0**", "**1.46 ± 0.69**", "**0.941 ± 0.017**"],
    ]
    assert (tmp_path / "report" / "figures" / "samples.png").is_file(), "centers rebuilt for the figure"


def test_a_schema_2_training_folder_is_not_resumed_under_the_new_streams(schema2: Path) -> None:
    # Its jobs drew from the old streams: adding jobs of the new scheme would mix two setups.
    before = {p.name: p.read_bytes() for p in (schema2 / "train" / "jobs").iterdir()}
    args = ["run", "--suite", str(schema2 / "tiny.toml"), "--out", str(schema2 / "train"), "--device", "cpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "was run with other settings: streams: 'offsets-v0' != 'seedsequence-v1' (folder" in result.output
    assert result.output.rstrip().endswith("choose another --out")
    assert {p.name: p.read_bytes() for p in (schema2 / "train" / "jobs").iterdir()} == before


@pytest.mark.e2e
def test_a_schema_2_folder_compares_with_a_new_one(schema2: Path, tmp_path: Path) -> None:
    # Old records against themselves, as a folder and as the old records.csv (without tolerances).
    for candidate in (schema2 / "train", schema2 / "train" / "records.csv"):
        result = CliRunner().invoke(app, ["compare", str(schema2 / "train"), str(candidate), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["summary"] == {
            "improved": 0,
            "unchanged": 8,
            "regressed": 0,
            "missing": 0,
            "new": 0,
        }
    # A new run of the same suite matches the old rows (same settings).
    new = tmp_path / "new"
    args = ["run", "--suite", str(schema2 / "tiny.toml"), "--out", str(new), "--device", "cpu"]
    assert CliRunner().invoke(app, args).exit_code == 0
    result = CliRunner().invoke(app, ["compare", str(schema2 / "train"), str(new), "--json"])
    assert result.exit_code in (0, 1), result.output
    assert json.loads(result.stdout)["summary"]["missing"] == 0


@pytest.mark.e2e
def test_a_schema_2_throughput_folder_reads_as_throughput_records(schema2: Path, tmp_path: Path) -> None:
    from ganbench.records.store import RunStore

    (record,) = RunStore(schema2 / "tput").records()
    assert (record.kind, record.seed, record.cell) == ("throughput", None, "mlp-2d-b4")
    assert "dataset" not in record.config and "seed" not in record.config
    result = CliRunner().invoke(app, ["report", str(schema2 / "tput"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "r" / "records.csv")
    assert set(frame["kind"]) == {"throughput"} and frame["seed"].isna().all()
    # Measuring into it again is refused (its keys are of the old form), with one line.
    args = ["throughput", "--suite", str(schema2 / "tiny-throughput.toml"), "--out", str(schema2 / "tput")]
    result = CliRunner().invoke(app, [*args, "--device", "cpu"])
    assert result.exit_code == 2 and "older ganbench" in result.stderr


# --- a folder of schema 4 written before the objective zoo's settings (lr_d, r1_gamma, unroll, ...) ---


@pytest.fixture
def schema4(tmp_path: Path) -> Path:
    """A copy of the committed schema-4 folder: gan and wgan-gp on ring-8, 2 seeds, 20 steps, written by
    the code before the settings that the objective zoo added existed."""
    shutil.copytree(SCHEMA4, tmp_path / "schema4")
    return tmp_path / "schema4"


@pytest.mark.e2e
def test_a_folder_from_before_the_added_settings_resumes_and_grows(schema4: Path) -> None:
    folder, suite = schema4 / "train", str(schema4 / "tiny.toml")
    before = {p.name: p.read_bytes() for p in (folder / "jobs").iterdir()}
    # Resumed as it is: every job is done, none is trained again, no record is rewritten.
    result = CliRunner().invoke(app, ["run", "--suite", suite, "--out", str(folder), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert {p.name: p.read_bytes() for p in (folder / "jobs").iterdir()} == before
    # A third seed joins the folder: its settings (with the new ones at their defaults) are the folder's.
    args = ["run", "--suite", suite, "--seeds", "3", "--out", str(folder), "--device", "cpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    added = {p.name for p in (folder / "jobs").iterdir()} - set(before)
    assert added == {"gan__ring-8__seed2.json", "wgan-gp__ring-8__seed2.json"}
    assert {name: (folder / "jobs" / name).read_bytes() for name in before} == before
    # A setting of the new kind turned on is another setup: refused, the folder untouched.
    changed = schema4 / "r1.toml"
    changed.write_text((schema4 / "tiny.toml").read_text() + "\n[method.gan]\nr1_gamma = 1.0\n")
    result = CliRunner().invoke(
        app, ["run", "--suite", str(changed), "--out", str(folder), "--device", "cpu"]
    )
    assert result.exit_code == 2 and "r1_gamma" in result.output, result.output


@pytest.mark.e2e
def test_a_folder_from_before_the_added_settings_compares_equal_to_a_new_run(
    schema4: Path, tmp_path: Path
) -> None:
    # The training step of gan and wgan-gp is unchanged: the same seeds give the same numbers, bit for bit.
    new = tmp_path / "new"
    args = ["run", "--suite", str(schema4 / "tiny.toml"), "--out", str(new), "--device", "cpu"]
    assert CliRunner().invoke(app, args).exit_code == 0
    result = CliRunner().invoke(app, ["compare", str(schema4 / "train"), str(new), "--json"])
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout)
    assert verdict["summary"] == {"improved": 0, "unchanged": 8, "regressed": 0, "missing": 0, "new": 0}
    assert all(row["baseline_mean"] == row["candidate_mean"] for row in verdict["rows"]), verdict["rows"]
