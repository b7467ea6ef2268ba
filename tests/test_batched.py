"""Seed-batched training reproduces separate per-seed runs."""

from __future__ import annotations

import pytest
import torch
from conftest import point_methods

from ganbench.data import DATASETS
from ganbench.data.mixtures import GaussianMixture
from ganbench.engine.batched import train_seeds
from ganbench.engine.train import Streams, train
from ganbench.models import METHODS, NetworkSize

SIZE = NetworkSize(latent_dim=2, width=16, depth=2)
SEEDS = [0, 1, 5]
CPU = torch.device("cpu")


def _ring() -> GaussianMixture:
    spec = DATASETS.get("ring-8")
    return spec.build(spec.params())


def _assert_same_result(batched, separate) -> None:
    assert batched.status == separate.status and batched.diverged_step == separate.diverged_step
    assert batched.loss_steps == separate.loss_steps
    torch.testing.assert_close(
        torch.tensor(batched.d_losses), torch.tensor(separate.d_losses), rtol=1e-4, atol=1e-5
    )
    torch.testing.assert_close(
        torch.tensor(batched.g_losses), torch.tensor(separate.g_losses), rtol=1e-4, atol=1e-5
    )
    for (name, b), (_, s) in zip(
        batched.generator.state_dict().items(), separate.generator.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(b, s, rtol=1e-4, atol=1e-5, msg=f"generator parameter {name}")


@pytest.mark.parametrize("name", point_methods())
def test_batched_seeds_match_separate_runs(name: str) -> None:
    # Covers the plain objectives, weight clipping (wgan) and the gradient penalty (wgan-gp).
    method = METHODS.get(name)
    hp = method.defaults
    dataset = _ring()
    batched = train_seeds(method, hp, dataset, SIZE, 6, 32, SEEDS, CPU, log_every=2)
    for seed, result in zip(SEEDS, batched, strict=True):
        separate = train(method, hp, dataset, SIZE, 6, 32, seed, CPU, log_every=2)
        _assert_same_result(result, separate)
    # Different seeds really are different models (not one model copied K times).
    first, second = (r.generator.state_dict()["0.weight"] for r in batched[:2])
    assert not torch.equal(first, second)


def test_large_learning_rate_wgan_stays_clipped_per_seed() -> None:
    method = METHODS.get("wgan")
    hp = method.defaults.__class__(**{**method.defaults.__dict__, "lr": 0.05})
    dataset = _ring()
    batched = train_seeds(method, hp, dataset, SIZE, 5, 32, SEEDS, CPU, log_every=1)
    for seed, result in zip(SEEDS, batched, strict=True):
        _assert_same_result(result, train(method, hp, dataset, SIZE, 5, 32, seed, CPU, log_every=1))


class _PoisonedRing(GaussianMixture):
    """ring-8 whose data stream for one seed turns NaN from its n-th draw on."""

    def __init__(self, poisoned_seed: int, from_draw: int) -> None:
        base = _ring()
        super().__init__(base.centers, base.std)
        self.stream_seed = Streams.from_seed(poisoned_seed).data.initial_seed()
        self.from_draw = from_draw
        self.draws = 0

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        x = super().sample(n, generator)
        if n > 1 and generator.initial_seed() == self.stream_seed:
            self.draws += 1
            if self.draws >= self.from_draw:
                return x * float("nan")
        return x


def test_one_diverging_seed_leaves_the_others_untouched() -> None:
    # gan draws one real batch per step, so the 4th draw poisons step 4 of seed 1 only.
    method = METHODS.get("gan")
    hp = method.defaults
    batched = train_seeds(method, hp, _PoisonedRing(1, 4), SIZE, 6, 32, SEEDS, CPU, log_every=1)
    separate = [train(method, hp, _PoisonedRing(1, 4), SIZE, 6, 32, seed, CPU, log_every=1) for seed in SEEDS]
    assert [r.status for r in batched] == ["ok", "diverged", "ok"]
    assert batched[1].diverged_step == separate[1].diverged_step == 4
    assert batched[1].loss_steps == separate[1].loss_steps == [1, 2, 3]
    for k in (0, 2):
        _assert_same_result(batched[k], separate[k])


def test_suite_results_do_not_depend_on_seed_batching(tmp_path) -> None:
    import json

    import pandas as pd
    from conftest import write_tiny_suite
    from typer.testing import CliRunner

    from ganbench.cli import app

    suite = write_tiny_suite(tmp_path, methods=("gan", "wgan-gp"), seeds=3)
    frames = {}
    for flag in ("--batch-seeds", "--no-batch-seeds"):
        out = tmp_path / flag
        result = CliRunner().invoke(app, ["run", "--suite", str(suite), "--out", str(out), flag])
        assert result.exit_code == 0, result.output
        frames[flag] = pd.read_csv(out / "records.csv")
        job = json.loads((out / "jobs" / "wgan-gp__ring-8__seed2.json").read_text())
        assert job["seed_batch"] == ([0, 1, 2] if flag == "--batch-seeds" else [2])
    batched, separate = frames["--batch-seeds"], frames["--no-batch-seeds"]
    assert batched["key"].tolist() == separate["key"].tolist()
    assert (batched["status"] == "ok").all() and (separate["status"] == "ok").all()
    pd.testing.assert_series_equal(batched["value"], separate["value"], rtol=1e-4)
