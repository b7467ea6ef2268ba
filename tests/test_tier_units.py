"""Cheap unit tests of the modules that the other quick-tier tests (`-m "not e2e and not slow"`) reach
only through end-to-end ones: `python -m ganbench`, the Dirac phase plane, kept generators and the Ray
executor's bookkeeping. Each is a hand-worked answer, in-process, without training."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import write_tiny_suite

from ganbench.data.dirac import PSI, THETA
from ganbench.errors import GanbenchError
from ganbench.models import ARCHITECTURES, NetworkSize
from ganbench.report.phase_plane import make_phase_plane_figure
from ganbench.run import generators
from ganbench.run.ray_executor import MAX_RETRIES, RayExecutor, _crashed
from ganbench.run.worker import Outcome
from ganbench.suite import load_suite


def test_python_m_ganbench_is_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    suite = write_tiny_suite(tmp_path, methods=("gan", "wgan", "wgan-gp"), datasets=("ring-8", "grid-25"))
    monkeypatch.setattr(sys, "argv", ["ganbench", "validate", str(suite)])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module("ganbench", run_name="__main__")
    assert exit_.value.code == 0
    # 3 methods x 2 datasets x 2 seeds (write_tiny_suite's default) = 12 jobs.
    assert capsys.readouterr().out.strip().endswith("12 jobs (3 methods x 2 datasets x 2 seeds)")


def test_the_phase_plane_draws_each_seed_on_square_axes_around_the_equilibrium() -> None:
    # One method, two seeds tracked at steps 0, 10, 20: the largest |theta| or |psi| is 2.0 (seed 0,
    # step 20), so both axes span -2.2 to 2.2 (10% beyond it).
    curves = pd.DataFrame(
        {
            "key": ["gan-0"] * 3 + ["gan-1"] * 3,
            "method": ["gan"] * 6,
            "dataset": ["dirac"] * 6,
            "seed": [0, 0, 0, 1, 1, 1],
            "step": [0, 10, 20] * 2,
            THETA: [1.0, 0.5, -2.0, 1.0, 0.0, 0.5],
            PSI: [-1.0, 0.0, 1.0, -1.0, -1.5, 0.2],
        }
    )
    fig = make_phase_plane_figure(curves)
    (ax,) = [ax for ax in fig.axes if ax.get_visible()]
    assert ax.get_xlim() == pytest.approx((-2.2, 2.2)) and ax.get_ylim() == pytest.approx((-2.2, 2.2))
    assert ax.get_title() == "GAN"
    # Per seed: its path, a circle at its start and a square at its end; then the X at (0, 0).
    # (The legend's proxies, one per seed in its style, are empty lines.)
    paths = [line for line in ax.lines if line.get_marker() in ("None", None) and len(line.get_xdata())]
    assert [list(line.get_xdata()) for line in paths] == [[1.0, 0.5, -2.0], [1.0, 0.0, 0.5]]
    assert [line.get_linestyle() for line in paths] == ["-", "--"]
    starts = [list(line.get_xdata()) for line in ax.lines if line.get_marker() == "o"]
    ends = [list(line.get_xdata()) for line in ax.lines if line.get_marker() == "s"]
    assert starts == [[1.0], [1.0]] and ends == [[-2.0], [0.5]]
    assert [
        (list(line.get_xdata()), list(line.get_ydata())) for line in ax.lines if line.get_marker() == "X"
    ] == [([0], [0])]
    caption = " ".join(" ".join(text.get_text() for text in fig.texts).split())
    assert "every 10 steps" in caption and "n = 2 seeds" in caption
    assert make_phase_plane_figure(curves.drop(columns=[PSI])) is None


def _generator() -> tuple[torch.nn.Module, dict]:
    torch.manual_seed(0)
    size = NetworkSize(latent_dim=2, width=8, depth=2)
    generator, _ = ARCHITECTURES.get("mlp").build(size, (2,), (2,))
    return generator, generators.settings_of("mlp", 2, 8, 2, (2,), 1)


def test_a_kept_generator_reloads_to_the_same_function(tmp_path: Path) -> None:
    generator, settings = _generator()
    assert settings == {
        "architecture": "mlp",
        "latent_dim": 2,
        "width": 8,
        "depth": 2,
        "data_shape": [2],
        "pack": 1,
    }
    path = generators.save(tmp_path, "gan-ring-8-0", generator, settings)
    assert path == tmp_path / "gan-ring-8-0.pt"
    loaded, latent_dim = generators.load(path)
    z = torch.randn(5, 2)
    assert latent_dim == 2 and not loaded.training
    assert torch.equal(loaded(z), generator.eval()(z))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other"}, "is not a ganbench generator file"),
        ({"data_shape": [2, 2]}, "data_shape [2, 2] is neither points"),
        ({"width": 9}, "does not rebuild"),
    ],
)
def test_a_kept_file_that_does_not_fit_is_one_error(tmp_path: Path, change: dict, message: str) -> None:
    generator, settings = _generator()
    path = generators.save(tmp_path, "job", generator, settings)
    kept = torch.load(path, weights_only=True)
    torch.save({**kept, **change}, path)
    with pytest.raises(GanbenchError, match=f"kept generator {path}.*{message}".replace("[", r"\[")):
        generators.load(path)


def test_a_group_whose_ray_worker_died_is_recorded_failed(tmp_path: Path) -> None:
    (job, *_) = load_suite(str(write_tiny_suite(tmp_path))).jobs()
    record, generator = _crashed(job, RuntimeError("killed"))
    assert generator is None and record.key == job.key
    assert (record.status, record.reason) == ("failed", f"worker died {MAX_RETRIES + 1} times (RuntimeError)")
    assert MAX_RETRIES + 1 == 3
    outcome: Outcome = (record, generator)
    assert outcome[0].batch == [job.key]


def test_the_ray_executor_without_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    executor = RayExecutor(cpus=2)
    assert (executor.address, executor.cpus, executor.gpus, executor.local) == (None, 2, 0, False)
    with pytest.raises(GanbenchError, match=r'pip install "ganbench\[ray\]"'):
        next(executor.run([], context=None, progress=None))  # type: ignore[arg-type]
