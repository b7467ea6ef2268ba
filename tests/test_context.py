"""The worker's typed context: what it carries from the driver, and that applying it makes a process match."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest
import torch

from ganbench import paths, plugins
from ganbench.run.context import WorkerContext


def test_the_driver_context_carries_what_is_set_and_pickles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(tmp_path / "data"))
    monkeypatch.delenv(paths.INCEPTION_WEIGHTS_ENV, raising=False)
    monkeypatch.delenv(paths.CACHE_DIR_ENV, raising=False)
    context = WorkerContext.of_driver("cpu", tmp_path / "checkpoints", tmp_path / "generators")
    assert context.device == "cpu"
    assert context.checkpoints == (tmp_path / "checkpoints").resolve()
    assert context.generators == (tmp_path / "generators").resolve()
    # Only what the driver set travels; unset paths stay None (each process's own default).
    assert context.paths == paths.Paths(tmp_path / "data", None, None)
    assert context.threads == torch.get_num_threads()
    assert pickle.loads(pickle.dumps(context)) == context  # Ray and process pools pickle it


def test_applying_a_context_sets_paths_plugins_and_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A plugin module only the context names (not in GANBENCH_PLUGINS here): applying imports it.
    (tmp_path / "context_plugin_mod.py").write_text("LOADED = True\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(plugins.ENV_VAR, raising=False)
    monkeypatch.delitem(sys.modules, "context_plugin_mod", raising=False)
    monkeypatch.delenv(paths.DATA_ROOT_ENV, raising=False)
    before = torch.get_num_threads()
    try:
        WorkerContext(
            paths=paths.Paths(data_root=tmp_path / "elsewhere"), plugins=("context_plugin_mod",), threads=1
        ).apply()
        assert "context_plugin_mod" in sys.modules
        assert paths.data_root() == (tmp_path / "elsewhere").resolve()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
        plugins._loaded.discard("context_plugin_mod")


def test_no_worker_setting_travels_in_environment_variables() -> None:
    # The run machinery hands settings to workers only in the context. The one environment variable
    # left is PYTHONPATH in Ray's runtime_env: Ray's workers need it to import ganbench at all.
    root = Path(__file__).parents[1] / "ganbench" / "run"
    uses = [
        (path.name, line.strip())
        for path in sorted(root.glob("*.py"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if "os.environ" in line
    ]
    assert uses == [
        ("ray_executor.py", 'env = {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}')
    ]
