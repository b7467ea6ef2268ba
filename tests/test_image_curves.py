"""Image jobs' training curves and their convergence verdict: hand-made curves, then a tiny MNIST run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ganbench.cli import app
from ganbench.metrics.validity import (
    IMAGE_CURVES,
    NOT_CONVERGED,
    SYMBOLS,
    image_verdict,
    not_converged,
    occupancy_std,
)
from ganbench.suite import load_suite, with_overrides

STEPS = [float(s) for s in range(0, 2001, 100)]  # the image suites' 21 tracked points


def _curve(values) -> dict[str, list[float]]:
    return {"step": STEPS, "fid-lenet": [float(v) for v in values]}


def test_occupancy_std_by_hand_and_by_simulation() -> None:
    # One draw always hits one mode; two draws over two modes hit 1 or 2 with probability 1/2 each.
    assert occupancy_std(1, 1000) == pytest.approx(0.0, abs=1e-9)
    assert occupancy_std(2, 2) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    simulated = np.std([len(set(rng.integers(0, 1000, 2000))) for _ in range(3000)])
    assert occupancy_std(2000, 1000) == pytest.approx(simulated, rel=0.06)  # about 9 modes
    with pytest.raises(ValueError):
        occupancy_std(10, 0)


def test_a_falling_fid_is_not_converged_and_a_plateau_is() -> None:
    # Falling from 3,000 by 60 a tracked point: over the window (steps 1,400-2,000) FID drops 360, more
    # than 10% of its window mean (~1,980) and more than the true sample's level of 20.
    falling = _curve(3000 - 60 * np.arange(21))
    assert not_converged(falling, 2000, levels={"fid-lenet": 20.0}) == ["fid-lenet"]
    assert image_verdict(falling, {"fid-lenet": 20.0}, track_samples=2000) == [NOT_CONVERGED]
    # A plateau at 1,000 wobbling by +-30 (3%): within the 10% tolerance, no trend, no late departure.
    wobble = 30 * np.array([(-1) ** i for i in range(21)])
    plateau = _curve(1000 + wobble)
    assert image_verdict(plateau, {"fid-lenet": 20.0}, track_samples=2000) == []


def test_the_true_sample_level_is_the_floor_of_a_small_fid() -> None:
    # Near a perfect generator FID is mostly its own small-sample bias: a drift from 60 to 48 over the
    # window is 20% of the mean but below the true sample's level (50), so it is noise, not a trend.
    near = _curve(np.linspace(70, 48, 21))
    assert image_verdict(near, {"fid-lenet": 50.0}, track_samples=2000) == []
    assert image_verdict(near, {"fid-lenet": 1.0}, track_samples=2000) == [NOT_CONVERGED]


def test_a_late_jump_is_not_converged() -> None:
    values = [1000.0] * 20 + [1400.0]  # flat, then 40% up at the last point: a late collapse
    assert image_verdict(_curve(values), {"fid-lenet": 20.0}, track_samples=2000) == [NOT_CONVERGED]


def test_stacked_modes_judged_against_occupancy_noise() -> None:
    rising = {"step": STEPS, "stacked-modes": list(np.linspace(300, 800, 21))}
    assert image_verdict(rising, {}, track_samples=2000, modes=1000) == [NOT_CONVERGED]
    # 850 +- 8 modes (within one occupancy std, ~9 at 2,000 samples, and under 2% of 850): converged.
    flat = {"step": STEPS, "stacked-modes": [850.0 + 8 * (-1) ** i for i in range(21)]}
    assert image_verdict(flat, {}, track_samples=2000, modes=1000) == []
    # KL to uniform still halving: a distance, judged as FID.
    kl = {"step": STEPS, "stacked-kl": list(np.geomspace(4.0, 0.5, 21))}
    assert image_verdict(kl, {"stacked-kl": 0.25}, track_samples=2000) == [NOT_CONVERGED]


def test_image_suites_track_their_cheap_metrics() -> None:
    for name in ("image-quality", "stacked-mnist", "image-quality-inception"):
        suite = load_suite(name)
        assert suite.train.track_every == 100 and suite.eval.track_samples == 2000, name
        assert set(suite.metrics) & set(IMAGE_CURVES), f"{name} tracks none of its metrics"
        quick = with_overrides(suite, quick=True)
        points = quick.train.steps // quick.train.track_every + 1
        assert points >= 11, f"{name} --quick tracks {points} points: too few for the verdict"


TINY = """
name = "tiny-curves"
description = "DCGAN on MNIST at a learning rate that moves FID fast, tracked every 3 steps"
methods = ["dcgan"]
datasets = ["mnist"]
seeds = 1
metrics = ["fid-lenet"]

[method.dcgan]
lr = 2e-3

[dataset.mnist]
split = "test"
size = 28

[train]
steps = 45
batch_size = 32
latent_dim = 16
width = 8
log_every = 9
track_every = 3

[eval]
samples = 500
reference_samples = 1000
track_samples = 500
"""


@pytest.mark.e2e
def test_a_tiny_image_run_tracks_fid_and_flags_the_cell(tmp_path: Path, real_mnist: Path, cli) -> None:
    suite = tmp_path / "tiny-curves.toml"
    suite.write_text(TINY, encoding="utf-8")
    out = tmp_path / "run"
    result = cli.invoke(app, ["run", "--suite", str(suite), "--out", str(out), "--yes"])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "jobs" / "dcgan__mnist__seed0.json").read_text())
    fid = record["curves"]["fid-lenet"]
    assert record["curves"]["step"] == list(range(0, 46, 3))
    assert len(fid) == 16 and all(math.isfinite(v) for v in fid)
    # The level of 500 true images against the reference is that of a perfect generator: far below
    # the untrained generator's FID, and FID falls over these 45 steps (measured: 6,421 -> 4,904).
    level = record["extra"]["track_levels"]["fid-lenet"]
    assert 0 < level < fid[0] / 10
    assert fid[-1] < 0.9 * fid[0]
    # Still falling at the end: flagged, in the record, the table (mark and legend) and the last line.
    assert record["flags"] == [NOT_CONVERGED]
    assert image_verdict(record["curves"], {"fid-lenet": level}, track_samples=500) == [NOT_CONVERGED]
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert SYMBOLS[NOT_CONVERGED] in summary.split("\n\n")[0]
    assert f"{SYMBOLS[NOT_CONVERGED]} not-converged:" in summary
    assert "1 of 1 jobs flagged (not-converged 1)" in result.output.splitlines()[-1]
    # The curve is in curves.csv and drawn in figures/convergence; no W1 correlations for images.
    curves = pd.read_csv(out / "curves.csv")
    assert curves["fid-lenet"].tolist() == pytest.approx(fid)
    assert (out / "figures" / "convergence.png").is_file()
    assert not (out / "correlations.md").exists()
    # `compare` lists the flagged seed.
    compared = cli.invoke(app, ["compare", str(out), str(out), "--verbose"])
    assert compared.exit_code == 0, compared.output
    assert "dcgan mnist, candidate, not-converged: dcgan__mnist__seed0" in compared.output
