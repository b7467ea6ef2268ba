"""Benchmarks (pytest-benchmark), run by `nox -s bench`; skipped by the default test run."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import bench_reference
import numpy as np
import pytest
import torch

from ganbench.app.run import run
from ganbench.data import DATASETS
from ganbench.engine.train import Member, train_group
from ganbench.metrics.wasserstein import exact_w1
from ganbench.models import METHODS, NetworkSize
from ganbench.suite import load_suite

pytestmark = pytest.mark.bench


def test_exact_w1_at_2500(benchmark) -> None:
    """Exact W1 (POT network simplex) between 2,500 and 2,500 points, the suite's default size."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2500, 2)), rng.normal(size=(2500, 2)) + 0.5
    result = benchmark.pedantic(exact_w1, args=(x, y), rounds=5, iterations=1, warmup_rounds=1)
    assert result.exact and 0.3 < result.value < 0.8


# The networks of the `mode-collapse` suite (width, depth, batch and latent size from its file).
SUITE = load_suite("mode-collapse")
SUITE_SIZE = NetworkSize(SUITE.train.latent_dim, SUITE.train.width, SUITE.train.depth)
BENCH_STEPS = 30


def _members(seeds: int) -> list[Member]:
    data = {name: DATASETS.get(name).build(DATASETS.get(name).params()) for name in ("ring-8", "grid-25")}
    return [Member(seed, data[name]) for name in data for seed in range(seeds)]


@pytest.mark.parametrize("seeds", [3, 10])
@pytest.mark.parametrize("mode", ["loop", "vmap", "stacked"])
@pytest.mark.parametrize("method", list(SUITE.methods))
def test_suite_networks_steps_per_second(benchmark, method: str, mode: str, seeds: int) -> None:
    """30 generator steps of `seeds` seeds x (ring-8, grid-25) at the mode-collapse suite's size.

    `loop` trains the jobs one after another (the plain way, tests/bench_reference.py), `vmap` with
    the former seed batching (one vmapped model per dataset), `stacked` with the engine (one model
    for all). The ratio of the medians in one run is the speed-up; steps/s is members x 30 / median.
    """
    benchmark.group = f"{method}, {seeds} seeds x 2 datasets"
    m, hp, members = METHODS.get(method), SUITE.hyperparameters(method), _members(seeds)
    batch = SUITE.train.batch_size

    def loop() -> list[str]:
        return [
            bench_reference.loop(m, hp, j.dataset, SUITE_SIZE, BENCH_STEPS, batch, j.seed) for j in members
        ]

    def vmapped() -> list[str]:
        statuses = []
        for dataset in {id(j.dataset): j.dataset for j in members}.values():
            seeds_here = [j.seed for j in members if j.dataset is dataset]
            values = bench_reference.vmapped(m, hp, dataset, SUITE_SIZE, BENCH_STEPS, batch, seeds_here)
            statuses += ["ok" if math.isfinite(v) else "diverged" for v in values]
        return statuses

    def stacked() -> list[str]:
        results = train_group(m, hp, members, SUITE_SIZE, BENCH_STEPS, batch, torch.device("cpu"))
        return [r.status for r in results]

    run_mode = {"loop": loop, "vmap": vmapped, "stacked": stacked}[mode]
    statuses = benchmark.pedantic(run_mode, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["member_steps_per_s"] = len(members) * BENCH_STEPS / benchmark.stats.stats.median
    assert statuses == ["ok"] * len(members)


ZOO = ["lsgan", "hinge", "sngan", "gan-r1", "rpgan-r1r2", "dragan", "unrolled-gan"]


@pytest.mark.parametrize("mode", ["one-at-a-time", "stacked"])
@pytest.mark.parametrize("method", ZOO)
def test_objective_zoo_steps_per_second(benchmark, method: str, mode: str) -> None:
    """30 generator steps of 10 seeds x (ring-8, grid-25) of each zoo method at its defaults, on the
    mode-collapse suite's networks: one job after another (each a stack of one) against one stacked
    model. Spectral norm (sngan) and unrolling (unrolled-gan, 5 steps) are the ones to watch."""
    benchmark.group = f"objective zoo, {method}, 10 seeds x 2 datasets"
    m, members, batch = METHODS.get(method), _members(10), SUITE.train.batch_size
    cpu = torch.device("cpu")

    def one_at_a_time() -> list[str]:
        return [
            train_group(m, m.defaults, [j], SUITE_SIZE, BENCH_STEPS, batch, cpu)[0].status for j in members
        ]

    def stacked() -> list[str]:
        return [r.status for r in train_group(m, m.defaults, members, SUITE_SIZE, BENCH_STEPS, batch, cpu)]

    run_mode = one_at_a_time if mode == "one-at-a-time" else stacked
    statuses = benchmark.pedantic(run_mode, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["member_steps_per_s"] = len(members) * BENCH_STEPS / benchmark.stats.stats.median
    assert statuses == ["ok"] * len(members)


@pytest.mark.parametrize("seeds", [3, 10])
@pytest.mark.parametrize("mode", ["loop", "stacked"])
def test_pacgan_networks_steps_per_second(benchmark, mode: str, seeds: int) -> None:
    """30 steps of PacGAN2 on the PacGAN paper's networks (generator with batch norm), which ran one
    job at a time before the engine stacked batch norm per member."""
    suite = load_suite("mode-collapse-pacgan")
    benchmark.group = f"pacgan2 (batch norm), {seeds} seeds x 2 datasets"
    m, hp, members = METHODS.get("pacgan2"), suite.hyperparameters("pacgan2"), _members(seeds)
    size = NetworkSize(suite.train.latent_dim, suite.train.width, suite.train.depth)
    batch = suite.train.batch_size

    def loop() -> list[str]:
        return [bench_reference.loop(m, hp, j.dataset, size, BENCH_STEPS, batch, j.seed) for j in members]

    def stacked() -> list[str]:
        return [r.status for r in train_group(m, hp, members, size, BENCH_STEPS, batch, torch.device("cpu"))]

    statuses = benchmark.pedantic(
        loop if mode == "loop" else stacked, rounds=3, iterations=1, warmup_rounds=1
    )
    benchmark.extra_info["member_steps_per_s"] = len(members) * BENCH_STEPS / benchmark.stats.stats.median
    assert statuses == ["ok"] * len(members)


@pytest.mark.parametrize("mode", ["separate", "stacked"])
@pytest.mark.parametrize("method", ["gan-ns", "wgan", "wgan-gp"])
def test_tuning_search_of_8_configurations(benchmark, method: str, mode: str) -> None:
    """30 steps of the `mode-collapse-tuning` search's 8 configurations of a method (one tuning seed on
    grid-25): one stacked model with per-member step sizes, betas and penalty weights against 8
    separate runs. The ratio of the medians is what stacking saves the search."""
    from ganbench.tune import search_suite

    search = search_suite(load_suite("mode-collapse-tuning"))
    benchmark.group = f"tuning search, {method}, 8 configurations"
    tried = search.configurations[method]
    data = DATASETS.get("grid-25").build(DATASETS.get("grid-25").params())
    members = [Member(search.first_seed, data, hyperparameters=hp) for hp in tried]
    size = NetworkSize(search.train.latent_dim, search.train.width, search.train.depth)
    m, batch, cpu = METHODS.get(method), search.train.batch_size, torch.device("cpu")

    def separate() -> list[str]:
        return [
            train_group(m, j.hyperparameters, [j], size, BENCH_STEPS, batch, cpu)[0].status for j in members
        ]

    def stacked() -> list[str]:
        return [r.status for r in train_group(m, tried[0], members, size, BENCH_STEPS, batch, cpu)]

    statuses = benchmark.pedantic(
        separate if mode == "separate" else stacked, rounds=3, iterations=1, warmup_rounds=1
    )
    assert len(members) == 8 and statuses == ["ok"] * 8


def _suite_rounds(benchmark, tmp_path: Path, quick: bool, rounds: int, batch_seeds: bool = True) -> None:
    folders = (tmp_path / f"round{i}" for i in itertools.count())

    def fresh() -> tuple[tuple, dict]:
        return (), {"out": next(folders)}

    def one_run(out: Path):
        return run("mode-collapse", quick=quick, device="cpu", out=out, batch_seeds=batch_seeds)

    outcome, report = benchmark.pedantic(one_run, setup=fresh, rounds=rounds, iterations=1)
    assert len(outcome.ran) == SUITE.job_count() and (report.records["status"] == "ok").all()


def test_mode_collapse_quick_suite(benchmark, tmp_path: Path) -> None:
    """`ganbench run --suite mode-collapse --quick`, end to end; target at most 60 s."""
    _suite_rounds(benchmark, tmp_path, quick=True, rounds=3)


@pytest.mark.slow
@pytest.mark.parametrize("batch_seeds", [True, False], ids=["batched", "per-seed"])
def test_mode_collapse_default_suite(benchmark, tmp_path: Path, batch_seeds: bool) -> None:
    """`ganbench run --suite mode-collapse` end to end, stacked and one job at a time; target 30 min
    on a 2-core CPU (stacked). The per-job round takes longer: run it when you have the hour."""
    benchmark.group = "default mode-collapse suite"
    _suite_rounds(benchmark, tmp_path, quick=False, rounds=1, batch_seeds=batch_seeds)


def test_mode_collapse_metrics_on_100k_samples(benchmark) -> None:
    """modes covered, high-quality fraction and reverse KL on 100,000 samples of grid-25."""
    from ganbench.metrics.mode_collapse import high_quality_fraction, modes_covered, reverse_kl

    spec = DATASETS.get("grid-25")
    mixture = spec.build(spec.params())
    samples = mixture.sample(100_000, torch.Generator().manual_seed(0)).double().numpy()

    def all_three() -> tuple[int, float, float]:
        return (
            modes_covered(samples, mixture),
            high_quality_fraction(samples, mixture),
            reverse_kl(samples, mixture),
        )

    covered, _, kl = benchmark.pedantic(all_three, rounds=5, iterations=1, warmup_rounds=1)
    assert covered == 25 and kl < 0.001


def test_fid_statistics_on_10k_by_2048_features(benchmark) -> None:
    """Mean, covariance and the FID of 10,000 x 2,048 features, by torch-fidelity's own functions."""
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    generator = torch.Generator().manual_seed(0)
    first, second = (torch.randn(10_000, 2048, generator=generator, dtype=torch.float64) for _ in range(2))

    def fid() -> float:
        stats = fid_features_to_statistics(first), fid_features_to_statistics(second)
        return fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"]

    value = benchmark.pedantic(fid, rounds=3, iterations=1)
    assert 0 < value < 1_000


def test_dcgan_training_step_at_32_pixels(benchmark) -> None:
    """One GAN training iteration (1 critic step + 1 generator step) of DCGAN at 32x32, batch 64."""
    import dataclasses

    from ganbench.engine.stacked import Single
    from ganbench.engine.train import Health, Stack, build_networks, make_optimizer, training_step

    m = METHODS.get("gan")
    hp = dataclasses.replace(m.defaults, architecture="dcgan")
    cpu = torch.device("cpu")
    generator, discriminator = build_networks(hp, NetworkSize(100, 64, 0), (3, 32, 32), 0, cpu)
    opt_g, opt_d = (
        make_optimizer(list(generator.parameters()), "g", [hp]),
        make_optimizer(list(discriminator.parameters()), "d", [hp]),
    )
    real, codes = torch.randn(1, 64, 3, 32, 32), torch.randn(1, 64, 100)

    class Fixed:  # the same batches every step: only the networks' work is timed
        def real(self):
            return real

        def noise(self):
            return codes

        def uniform(self, shape):
            return torch.rand(1, *shape)

    nets, health = Stack(Single(generator), Single(discriminator), opt_g, opt_d), Health(1, cpu)
    losses: list[tuple[float, float]] = []

    def step() -> tuple[float, float]:
        d_loss, g_loss = training_step(nets, m, hp, Fixed(), len(losses) + 1, health)
        losses.append((d_loss.item(), g_loss.item()))
        return losses[-1]

    d_loss, g_loss = benchmark.pedantic(step, rounds=5, iterations=1, warmup_rounds=1)
    assert len(losses) == 6 and (d_loss, g_loss) == losses[-1]
    # "gan" is the minimax objective: D's loss softplus(-D(x)) + softplus(D(G(z))) is > 0 and G's
    # loss -softplus(D(G(z))) is < 0; a NaN or infinite loss fails too.
    assert all(math.isfinite(d) and math.isfinite(g) and d > 0 > g for d, g in losses)
    # A fresh discriminator (weights N(0, 0.02^2)) gives logits near 0: D = 1/2 on both batches, so
    # the first loss is near -(log 1/2 + log 1/2) = 2 log 2 ~= 1.386 (1.45 with seed 0).
    assert losses[0][0] == pytest.approx(2 * math.log(2), abs=0.3)
    # Every iteration steps both optimizers, so no two iterations see the same networks.
    assert len(set(losses)) == len(losses)
