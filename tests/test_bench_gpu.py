"""GPU benchmarks, run by `nox -s gpu`: steps per second of each stacked group of `mode-collapse-pacgan`,
plain and under `torch.compile` (its default mode, and `reduce-overhead`, which replays CUDA graphs).

The device is $GANBENCH_BENCH_DEVICE (default cuda; the tests skip where it is missing), so the same
file runs on a CPU to check it: `GANBENCH_BENCH_DEVICE=cpu pytest tests/test_bench_gpu.py -m bench`.
"""

from __future__ import annotations

import os

import pytest
import torch

from ganbench.data import DATASETS
from ganbench.engine.train import Health, Member, build_group, training_step
from ganbench.models import METHODS, NetworkSize
from ganbench.suite import load_suite

pytestmark = pytest.mark.bench
DEVICE = torch.device(os.environ.get("GANBENCH_BENCH_DEVICE", "cuda"))
SUITE = load_suite("mode-collapse-pacgan")
STEPS = int(os.environ.get("GANBENCH_BENCH_STEPS", "50"))
COMPILE_MODES = ("none", "default", "reduce-overhead")


def suite_members() -> list[Member]:
    """Every seed of the suite on each of its datasets: one stacked group's members."""
    seeds = range(SUITE.first_seed, SUITE.first_seed + SUITE.seeds)
    data = [DATASETS.get(name).build(SUITE.dataset_params[name]) for name in SUITE.datasets]
    return [Member(seed, dataset) for dataset in data for seed in seeds]


@pytest.mark.parametrize("compile_mode", COMPILE_MODES)
@pytest.mark.parametrize("method", list(SUITE.methods))
def test_pacgan_suite_group_steps_per_second(benchmark, method: str, compile_mode: str) -> None:
    """`STEPS` training steps of one stacked group of the suite (its 10 seeds x 2 mixtures, its
    networks and batch); steps/s = STEPS / median. Compiling wraps the stacked networks."""
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device (set GANBENCH_BENCH_DEVICE=cpu to run on the CPU)")
    if compile_mode != "none" and DEVICE.type == "cpu" and os.environ.get("GANBENCH_BENCH_COMPILE") != "1":
        pytest.skip("torch.compile on a CPU takes minutes per group: set GANBENCH_BENCH_COMPILE=1")
    benchmark.group = f"mode-collapse-pacgan {method} ({len(suite_members())} members) on {DEVICE.type}"
    m, hp = METHODS.get(method), SUITE.hyperparameters(method)
    size = NetworkSize(SUITE.train.latent_dim, SUITE.train.width, SUITE.train.depth)
    _, nets, draws = build_group(hp, suite_members(), size, SUITE.train.batch_size, DEVICE)
    if compile_mode != "none":
        nets.generator = torch.compile(nets.generator, mode=compile_mode)
        nets.critic = torch.compile(nets.critic, mode=compile_mode)
    health = Health(len(draws.members), DEVICE)

    def steps() -> bool:
        for step in range(1, STEPS + 1):
            training_step(nets, m, nets.settings, draws, step, health)
        if DEVICE.type == "cuda":
            torch.cuda.synchronize(DEVICE)
        return bool(health.alive.all())

    # The first round compiles (and records CUDA graphs): it is the warm-up, not timed.
    alive = benchmark.pedantic(steps, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["steps_per_s"] = STEPS / benchmark.stats.stats.median
    assert alive
