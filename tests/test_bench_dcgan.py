"""Benchmark (pytest-benchmark), run by `nox -s bench`; skipped by the default test run: DCGAN training
steps per second, K seeds stacked (one grouped-convolution model) against the same K jobs one at a time.

The networks and batch are the image-quality suite's (width 32, batch 64, latent 100, 28x28x1 images);
the data is synthetic (uniform noise images), which costs the same per step as MNIST.
"""

from __future__ import annotations

import pytest
import torch

from ganbench.engine.train import Member, train, train_group
from ganbench.models import METHODS, NetworkSize
from ganbench.suite import load_suite

pytestmark = pytest.mark.bench

SUITE = load_suite("image-quality")
SIZE = NetworkSize(SUITE.train.latent_dim, SUITE.train.width, SUITE.train.depth)
SHAPE = (1, 28, 28)
BENCH_STEPS = 8
CPU = torch.device("cpu")


class _Images:
    """Uniform noise images in [-1, 1], MNIST's size."""

    modality = "images"

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(n, *SHAPE, generator=generator) * 2 - 1


@pytest.mark.parametrize("seeds", [1, 3, 10])
@pytest.mark.parametrize("mode", ["one-at-a-time", "stacked"])
@pytest.mark.parametrize("method", ["dcgan"])
def test_dcgan_steps_per_second(benchmark, method: str, mode: str, seeds: int) -> None:
    """`BENCH_STEPS` generator steps of `seeds` DCGAN jobs: one after another (`train`, each job a
    stack of one, as the driver runs a job alone) or as one stacked model (`train_group`).

    The ratio of the two medians in one run is stacking's speed-up; member steps/s is seeds x steps /
    median. With seeds = 1 both modes are the same job alone.
    """
    if seeds == 1 and mode == "stacked":
        pytest.skip("one seed: stacked is one job alone")
    benchmark.group = f"{method}, {seeds} seeds"
    m, hp, data = METHODS.get(method), SUITE.hyperparameters(method), _Images()
    batch = SUITE.train.batch_size

    def one_at_a_time() -> list[str]:
        return [train(m, hp, data, SIZE, BENCH_STEPS, batch, seed, CPU).status for seed in range(seeds)]

    def stacked() -> list[str]:
        members = [Member(seed, data) for seed in range(seeds)]
        return [r.status for r in train_group(m, hp, members, SIZE, BENCH_STEPS, batch, CPU)]

    run_mode = {"one-at-a-time": one_at_a_time, "stacked": stacked}[mode]
    statuses = benchmark.pedantic(run_mode, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["member_steps_per_s"] = seeds * BENCH_STEPS / benchmark.stats.stats.median
    assert statuses == ["ok"] * seeds
