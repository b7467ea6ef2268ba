"""Plugins the Python way: a package installed with pip whose entry points add a method, a metric and
an executor; runs made with it report and compare without it (run folders describe themselves)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_tiny_suite

pytestmark = pytest.mark.e2e  # each test installs or runs the example plugin in new processes

EXAMPLE = Path(__file__).parent / "example_plugin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/example_plugin installed by pip into a folder of its own (the test run's site)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(EXAMPLE)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    assert list(target.glob("ganbench_example_plugin-*.dist-info/entry_points.txt")), "entry points installed"
    return target


def ganbench(*args: str, site: Path | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`ganbench ARGS` in a fresh process, with the plugin's site on the path or not."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GANBENCH_PLUGINS")}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    command = [sys.executable, "-c", "from ganbench.cli import app; app()", *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_entry_point_plugins_register_a_method_a_metric_and_an_executor(
    installed: Path, tmp_path: Path
) -> None:
    listed = ganbench("list", site=installed, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    for line in ("lsgan-pearson", "center-distance", "processes"):
        assert any(row.split()[:1] == [line] for row in listed.stdout.splitlines()), line
    assert "lower is better" in next(r for r in listed.stdout.splitlines() if "center-distance" in r)
    without = ganbench("list", site=None, cwd=tmp_path)
    assert without.returncode == 0 and "lsgan-pearson" not in without.stdout


def test_a_plugin_run_in_worker_processes_then_reported_and_compared_without_the_plugin(
    installed: Path, tmp_path: Path
) -> None:
    suite = write_tiny_suite(tmp_path, methods=("lsgan-pearson", "gan"), seeds=2, steps=10)
    text = suite.read_text(encoding="utf-8").replace('"w1"]', '"w1", "center-distance"]')
    suite.write_text(text, encoding="utf-8")
    assert ganbench("validate", str(suite), site=installed, cwd=tmp_path).returncode == 0
    missing = ganbench("validate", str(suite), site=None, cwd=tmp_path)
    assert missing.returncode == 2 and "unknown method 'lsgan-pearson'" in missing.stderr

    out = tmp_path / "run"
    args = ["run", "--suite", str(suite), "--out", str(out), "--device", "cpu", "--executor", "processes"]
    result = ganbench(*args, site=installed, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "jobs").glob("*.json"))]
    assert sorted(r["method"] for r in records) == ["gan"] * 2 + ["lsgan-pearson"] * 2
    for record in records:
        assert record["status"] == "ok", record["reason"]
        value = record["metrics"]["center-distance"]
        assert value["value"] >= 0 and value["spec"]["higher_is_better"] is False
        assert record["manifest"]["device"]["type"] == "cpu", "the worker process's own manifest"

    # Without the plugin installed, the folder still reports and compares: units and directions
    # come from the records, not from the registry.
    report = ganbench("report", str(out), "--out", str(tmp_path / "report"), site=None, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "center-distance ↓" in (tmp_path / "report" / "summary.md").read_text(encoding="utf-8")
    compared = ganbench("compare", str(out), str(out), "--json", site=None, cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    rows = json.loads(compared.stdout)["rows"]
    assert {r["metric"] for r in rows} >= {"center-distance"} and {r["method"] for r in rows} == {
        "gan",
        "lsgan-pearson",
    }


def test_a_broken_plugin_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env_site = tmp_path / "site"
    env_site.mkdir()
    (env_site / "broken_plugin.py").write_text("raise ImportError('needs a thing')\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(env_site), "GANBENCH_PLUGINS": "broken_plugin"}
    for args in (["list"], ["report", str(tmp_path)], ["compare", str(tmp_path), str(tmp_path)]):
        command = [sys.executable, "-c", "from ganbench.cli import app; app()", *args]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.strip().splitlines() == [
            "error: GANBENCH_PLUGINS: cannot import plugin 'broken_plugin': needs a thing"
        ]
