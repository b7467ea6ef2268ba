"""PacGAN: packing, the packed methods and the paper's 2-D networks."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.data import DATASETS
from ganbench.data.mixtures import GaussianMixture
from ganbench.engine.streams import generator as stream
from ganbench.engine.tracking import (
    CRITIC_ESTIMATE,
    D_LOSS,
    HQ_CURVE,
    MODES_CURVE,
    W1_CURVE,
    W1_EXACT,
    w1_observer,
)
from ganbench.engine.train import build_networks, train
from ganbench.metrics.wasserstein import exact_w1
from ganbench.models import METHODS, NetworkSize
from ganbench.models.pacgan import Maxout
from ganbench.models.packing import pack
from ganbench.run.driver import stack_groups
from ganbench.suite import load_suite, with_overrides

CPU = torch.device("cpu")
TINY = NetworkSize(latent_dim=2, width=8, depth=1)


def _ring() -> GaussianMixture:
    spec = DATASETS.get("ring-8")
    return spec.build(spec.params())


def test_pack_groups_consecutive_samples() -> None:
    x = torch.arange(12.0).reshape(6, 2)  # samples (0,1), (2,3), ..., (10,11)
    packed = pack(x, 3)
    assert packed.tolist() == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]
    assert pack(x, 1) is x
    images = torch.zeros(6, 1, 4, 4)
    assert pack(images, 3).shape == (2, 3, 4, 4)  # channels concatenate for images


def test_a_batch_that_does_not_divide_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot pack a batch of 7 samples by 3"):
        pack(torch.zeros(7, 2), 3)


@pytest.mark.parametrize("architecture", ["mlp", "pacgan"])
def test_discriminator_first_layer_sees_m_times_2_inputs(architecture: str) -> None:
    hp = dataclasses.replace(METHODS.get("pacgan3").defaults, architecture=architecture)
    generator, discriminator = build_networks(hp, TINY, (2,), 0, CPU)
    first = next(m for m in discriminator.modules() if isinstance(m, nn.Linear))
    assert first.in_features == 3 * 2
    assert generator(torch.zeros(5, 2)).shape == (5, 2), "the generator still makes single samples"


class _Marked(GaussianMixture):
    """ring-8 whose real samples are all exactly (100, 100), to tell them from generated ones."""

    def __init__(self) -> None:
        base = _ring()
        super().__init__(base.centers, base.std)
        self.sizes: list[int] = []

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        self.sizes.append(n)
        return torch.full((n, 2), 100.0)


def test_real_and_generated_packs_never_mix(monkeypatch: pytest.MonkeyPatch) -> None:
    import ganbench.engine.train as engine

    seen: list[torch.Tensor] = []
    stacked = []
    real_stack = engine.stack_or_single

    def recording_stack(members, shape):
        module, reason = real_stack(members, shape)
        if stacked:  # the second stack is the critic's
            module.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach()))
        stacked.append(module)
        return module, reason

    monkeypatch.setattr(engine, "stack_or_single", recording_stack)
    dataset = _Marked()
    m = METHODS.get("pacgan3")
    train(m, m.defaults, dataset, TINY, 2, 4, 0, CPU)
    # Each step: D on a real batch, D on a fake batch, D on a fake batch for G: 6 calls in 2 steps.
    assert len(seen) == 6
    for batch in seen:
        assert batch.shape == (1, 4, 6), "one member: 4 packs of 3 samples x 2 coordinates"
        is_real = batch == 100.0
        assert is_real.all() or not is_real.any(), "a pack mixes real and generated samples"
    assert [bool((b == 100.0).all()) for b in seen] == [True, False, False] * 2
    assert dataset.sizes[1:] == [12, 12], "m x batch_size real samples per step"


def test_pacgan_networks_have_the_papers_sizes() -> None:
    hp = dataclasses.replace(METHODS.get("pacgan2").defaults, architecture="pacgan")
    generator, discriminator = build_networks(hp, NetworkSize(latent_dim=2, width=400, depth=4), (2,), 0, CPU)
    g_linear = [m for m in generator if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in g_linear] == [
        (2, 400),
        (400, 400),
        (400, 400),
        (400, 400),
        (400, 2),
    ]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in generator) == 4
    assert sum(isinstance(m, nn.ReLU) for m in generator) == 4
    maxouts = [m for m in discriminator if isinstance(m, Maxout)]
    assert [(m.linear.in_features, m.units, m.pieces) for m in maxouts] == [
        (4, 200, 5),
        (200, 200, 5),
        (200, 200, 5),
    ]
    (head,) = [m for m in discriminator if isinstance(m, nn.Linear)]
    assert (head.in_features, head.out_features) == (200, 1)
    # Weights N(0, 0.02^2): the 400 x 400 matrices hold 160,000 draws, so their std is 0.02 +- 0.5%.
    assert g_linear[1].weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert maxouts[1].linear.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert all(m.bias.abs().max() == 0 for m in g_linear)


def test_maxout_takes_the_max_over_pieces() -> None:
    layer = Maxout(1, units=2, pieces=3)
    with torch.no_grad():
        layer.linear.weight.copy_(torch.tensor([[1.0], [-1.0], [2.0], [0.5], [0.0], [-3.0]]))
        layer.linear.bias.zero_()
    # x = 2: unit 0 pieces (2, -2, 4) -> 4; unit 1 pieces (1, 0, -6) -> 1.
    assert layer(torch.tensor([[2.0]])).tolist() == [[4.0, 1.0]]


def test_pacgan_methods_are_the_non_saturating_gan_with_packing() -> None:
    gan_ns = METHODS.get("gan-ns")
    for m in (2, 3, 4):
        method = METHODS.get(f"pacgan{m}")
        assert method.objective == gan_ns.objective
        assert method.defaults == dataclasses.replace(gan_ns.defaults, pack=m)


def test_packing_combines_with_wgan_gp() -> None:
    hp = dataclasses.replace(METHODS.get("wgan-gp").defaults, pack=2)
    result = train(METHODS.get("wgan-gp"), hp, _ring(), TINY, 2, 8, 0, CPU)
    assert result.status == "ok" and len(result.d_losses) == 1


def test_tracking_reads_packs_too() -> None:
    method = METHODS.get("pacgan3")
    ring = _ring()
    observer = w1_observer(method.objective, ring, 100, 2, 0, CPU, pack_size=3)
    generator, discriminator = build_networks(method.defaults, TINY, (2,), 0, CPU)
    values = observer(generator, discriminator)
    # Every curve is there (an empty or partial dict fails here), and each value is finite.
    assert set(values) == {D_LOSS, CRITIC_ESTIMATE, W1_CURVE, W1_EXACT, MODES_CURVE, HQ_CURVE}
    assert all(math.isfinite(v) for v in values.values())
    # The same values recomputed by hand from the observer's seeded sets: 100 real samples and
    # codes, the discriminator reading the first 99 of each as 33 packs of 3 (100 mod 3 = 1 left
    # out), W1 over all 100.
    real = ring.sample(100, stream(0, "track-real"))
    z = torch.randn(100, 2, generator=stream(0, "track-noise"))
    with torch.no_grad():
        fake = generator(z)
        d_real, d_fake = discriminator(pack(real[:99], 3)), discriminator(pack(fake[:99], 3))
    assert d_real.shape == d_fake.shape == (33, 1)
    expected_loss = method.objective.discriminator_loss(d_real, d_fake).item()
    assert values[D_LOSS] == pytest.approx(expected_loss, rel=1e-6)
    expected_estimate = (d_real.mean() - d_fake.mean()).item()
    assert values[CRITIC_ESTIMATE] == pytest.approx(expected_estimate, rel=1e-6, abs=1e-9)
    expected_w1 = exact_w1(fake.double().numpy(), real.double().numpy())
    assert values[W1_CURVE] == pytest.approx(expected_w1.value, rel=1e-9)
    assert values[W1_EXACT] == 1.0


def test_pacgan_suite_protocol_and_batching() -> None:
    suite = load_suite("mode-collapse-pacgan")
    assert suite.seeds == 10 and suite.eval.samples == 2500 and suite.train.batch_size == 100
    assert suite.train.steps == 400 * 100_000 // 100  # 400 epochs over 100,000 points at batch 100
    for method in suite.methods:
        hp = suite.hyperparameters(method)
        assert (hp.architecture, hp.lr, hp.beta1) == ("pacgan", 1e-4, 0.8)
    # Batch norm is stacked per member: one model per method, both datasets and all seeds in it.
    jobs = with_overrides(suite, seeds=2).jobs()
    groups = stack_groups(jobs, batch=True)
    assert [len(group) for group in groups] == [4] * 4
    assert all(len({job.method for job in group}) == 1 for group in groups)


@pytest.mark.e2e
def test_pacgan_suite_quick_run_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        "run",
        "--suite",
        "mode-collapse-pacgan",
        "--quick",
        "--seeds",
        "1",
        "--steps",
        "3",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    jobs = [json.loads(p.read_text()) for p in sorted((out / "jobs").glob("*.json"))]
    assert len(jobs) == 4 * 2 and all(job["status"] == "ok" for job in jobs)
    assert {job["config"]["hyperparameters"]["pack"] for job in jobs} == {1, 2, 3, 4}
    assert (out / "figures" / "samples.png").exists()
