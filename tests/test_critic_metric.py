"""The critic's gradient norm (`critic-grad-norm`) and reruns at other seeds (`--first-seed`)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_tiny_suite
from torch import nn
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.data.mixtures import RingParams, build_ring
from ganbench.engine.train import Member, train_group
from ganbench.metrics import METRICS, EvalContext
from ganbench.metrics.base import NOT_APPLICABLE
from ganbench.metrics.critic import CRITIC_GRAD_NORM
from ganbench.models import METHODS, NetworkSize
from ganbench.records.store import RunStore
from ganbench.suite import load_suite, with_overrides

RING = build_ring(RingParams())


def _context(critic: nn.Module | None, pack: int = 1, n: int = 300) -> EvalContext:
    samples = np.random.default_rng(0).normal(size=(n, 2))
    return EvalContext(samples, RING, seed=3, critic=critic, pack=pack)


def _linear(w: tuple[float, float]) -> nn.Module:
    critic = nn.Linear(2, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([w]))
    return critic


def test_a_linear_critic_has_the_norm_of_its_weights_everywhere() -> None:
    # D(x) = 3 x0 + 4 x1 + b: its gradient is (3, 4) at every point, of norm 5.
    value = METRICS.get(CRITIC_GRAD_NORM).compute(_context(_linear((3.0, 4.0))))
    assert value.value == pytest.approx(5.0)
    assert value.counts == {"generated": 300, "reference": 300}


def test_a_quadratic_critic_gives_the_mean_norm_over_the_interpolates() -> None:
    # D(x) = |x|^2 / 2 has gradient x: the metric is the mean |x_hat| over the interpolates, which the
    # test draws exactly as the metric does (the reference draw, then e ~ U[0, 1] seeded by ctx.seed).
    class Half(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x**2).sum(dim=1, keepdim=True) / 2

    ctx = _context(Half(), n=200)
    real = torch.from_numpy(ctx.reference(200)).float()
    fake = torch.from_numpy(ctx.samples).float()
    eps = torch.rand(200, 1, generator=torch.Generator().manual_seed(ctx.seed))
    expected = float((eps * real + (1 - eps) * fake).norm(dim=1).mean())
    assert METRICS.get(CRITIC_GRAD_NORM).compute(ctx).value == pytest.approx(expected, rel=1e-6)


def test_without_a_critic_or_under_packing_it_is_not_applicable() -> None:
    metric = METRICS.get(CRITIC_GRAD_NORM)
    for value in (metric.compute(_context(None)), metric.compute(_context(_linear((1.0, 0.0)), pack=2))):
        assert math.isnan(value.value) and value.note.startswith(NOT_APPLICABLE)
    assert not METRICS.get(CRITIC_GRAD_NORM).higher_is_better  # a steeper critic is the regression


def test_training_hands_back_each_members_own_critic() -> None:
    method = METHODS.get("wgan")
    results = train_group(
        method, method.defaults, [Member(0, RING), Member(1, RING)], NetworkSize(2, 8, 1), 3, 16,
        torch.device("cpu"),
    )  # fmt: skip
    critics = [result.critic for result in results]
    assert all(isinstance(c, nn.Module) for c in critics)
    # Weight clipping (0.01) holds for each member's unstacked critic, and the two members differ.
    for critic in critics:
        assert max(float(p.detach().abs().max()) for p in critic.parameters()) <= 0.01 + 1e-9
    assert not torch.equal(next(critics[0].parameters()), next(critics[1].parameters()))


@pytest.mark.e2e
def test_a_run_records_the_norm_and_a_clipped_critic_is_flatter(tmp_path: Path) -> None:
    suite = write_tiny_suite(tmp_path, methods=("gan", "wgan"), seeds=2, steps=20)
    suite.write_text(suite.read_text().replace('"w1"]', f'"w1", "{CRITIC_GRAD_NORM}"]'), encoding="utf-8")
    result = CliRunner().invoke(app, ["run", "--suite", str(suite), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    norms = {r.key: r.metrics[CRITIC_GRAD_NORM].value for r in RunStore(tmp_path / "run").records()}
    assert len(norms) == 4 and all(v >= 0 for v in norms.values())
    # A critic with every weight in [-0.01, 0.01] (WGAN) is orders of magnitude flatter than GAN's.
    assert max(v for k, v in norms.items() if k.startswith("wgan")) < 0.01 * min(
        v for k, v in norms.items() if k.startswith("gan__")
    )


# --- reruns at other seeds ---


def test_first_seed_shifts_the_seeds_of_every_job(tmp_path: Path) -> None:
    path = write_tiny_suite(tmp_path, methods=("gan",), seeds=3)
    path.write_text(path.read_text().replace("seeds = 3", "seeds = 3\nfirst_seed = 5"), encoding="utf-8")
    suite = load_suite(str(path))
    assert [job.seed for job in suite.jobs()] == [5, 6, 7]
    assert suite.jobs()[0].key == "gan__ring-8__seed5"
    again = with_overrides(suite, first_seed=100, seeds=2)
    assert [job.key for job in again.jobs()] == ["gan__ring-8__seed100", "gan__ring-8__seed101"]
    assert again.job_count() == 2


def test_a_bad_first_seed_is_one_line(tmp_path: Path) -> None:
    path = write_tiny_suite(tmp_path, methods=("gan",))
    result = CliRunner().invoke(
        app, ["run", "--suite", str(path), "--first-seed", "-1", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["error: --first-seed must be >= 0 (got -1)"]
    assert not (tmp_path / "r").exists()
    path.write_text(path.read_text().replace("seeds = 2", 'seeds = 2\nfirst_seed = "x"'), encoding="utf-8")
    bad = CliRunner().invoke(app, ["validate", str(path)])
    assert bad.exit_code == 2 and "first_seed" in bad.output
