"""The stacked engine: K jobs trained as one model reproduce their separate runs, with no host sync."""

from __future__ import annotations

import dataclasses
import os
import sys
from contextlib import contextmanager

import pytest
import torch
from conftest import point_methods
from torch import nn

import ganbench
from ganbench.data import DATASETS
from ganbench.data.mixtures import GaussianMixture
from ganbench.engine import streams
from ganbench.engine.stacked import CannotStack, StackedBatchNorm1d, stack, unstack
from ganbench.engine.train import (
    Health,
    Member,
    Stack,
    StreamDraws,
    build_networks,
    generate,
    make_optimizer,
    stacking_problem,
    train,
    train_group,
    training_step,
)
from ganbench.models import METHODS, NetworkSize

SIZE = NetworkSize(latent_dim=2, width=16, depth=2)
CPU = torch.device("cpu")
SEEDS = [0, 1, 5]


def _data(name: str) -> GaussianMixture:
    spec = DATASETS.get(name)
    return spec.build(spec.params())


def _members() -> list[Member]:
    """Seeds 0, 1, 5 on ring-8 and on grid-25: one stacked model of six members."""
    return [Member(seed, _data(name)) for name in ("ring-8", "grid-25") for seed in SEEDS]


def _assert_same_result(together, alone, weights_atol: float = 1e-5) -> None:
    assert together.status == alone.status and together.diverged_step == alone.diverged_step
    assert together.loss_steps == alone.loss_steps
    torch.testing.assert_close(
        torch.tensor(together.d_losses), torch.tensor(alone.d_losses), rtol=1e-4, atol=1e-5
    )
    torch.testing.assert_close(
        torch.tensor(together.g_losses), torch.tensor(alone.g_losses), rtol=1e-4, atol=1e-5
    )
    together_state, alone_state = together.generator.state_dict(), alone.generator.state_dict()
    assert together_state.keys() == alone_state.keys()
    for name, value in together_state.items():
        torch.testing.assert_close(
            value, alone_state[name], rtol=1e-4, atol=weights_atol, msg=f"generator {name}"
        )


@pytest.mark.e2e
@pytest.mark.parametrize("name", point_methods())
def test_stacked_seeds_and_datasets_match_separate_runs(name: str) -> None:
    # Covers the plain objectives, clipping (wgan), the gradient penalty (wgan-gp) and packing (pacgan*).
    method = METHODS.get(name)
    members = _members()
    together = train_group(method, method.defaults, members, SIZE, 6, 32, CPU, log_every=2)
    for member, result in zip(members, together, strict=True):
        alone = train(method, method.defaults, member.dataset, SIZE, 6, 32, member.seed, CPU, log_every=2)
        _assert_same_result(result, alone)
    # Members really are different models, and a seed on two datasets learns two things.
    weights = [r.generator.state_dict()["0.weight"] for r in together]
    assert not torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], weights[3])


@pytest.mark.e2e
def test_pacgan_batch_norm_members_keep_their_own_statistics() -> None:
    # The PacGAN paper's generator has batch norm: running statistics, batch statistics and eval mode
    # must each be the member's own.
    method = METHODS.get("pacgan2")
    hp = dataclasses.replace(method.defaults, architecture="pacgan")
    size = NetworkSize(latent_dim=2, width=24, depth=2)
    members = _members()
    together = train_group(method, hp, members, size, 5, 20, CPU, log_every=1)
    for member, result in zip(members, together, strict=True):
        alone = train(method, hp, member.dataset, size, 5, 20, member.seed, CPU, log_every=1)
        # The state dict holds running_mean, running_var and counts. A bias feeding batch norm has a
        # true gradient of 0, which Adam turns from float noise (~1e-9) into steps of ~lr/10: such
        # biases agree to 1e-4 only (and do not change the outputs, compared below to 1e-5).
        _assert_same_result(result, alone, weights_atol=1e-4)
        assert int(result.generator.state_dict()["1.num_batches_tracked"]) == 5 * 2  # D step + G step
        torch.testing.assert_close(
            generate(result.generator, 300, 2, member.seed, CPU),
            generate(alone.generator, 300, 2, member.seed, CPU),
            rtol=1e-4,
            atol=1e-5,
        )
    means = [r.generator.state_dict()["1.running_mean"] for r in together]
    assert not torch.allclose(means[0], means[3])  # ring and grid members: different statistics


def test_stacked_batch_norm_is_torch_batch_norm_per_member() -> None:
    layers = [nn.BatchNorm1d(4, momentum=0.3) for _ in range(3)]
    for k, layer in enumerate(layers):
        nn.init.normal_(layer.weight, 1.0, 0.5, generator=torch.Generator().manual_seed(k))
    stacked = StackedBatchNorm1d(layers)
    x = torch.randn(3, 10, 4, generator=torch.Generator().manual_seed(0)) * torch.tensor(
        [1.0, 5.0, 0.1]
    ).view(3, 1, 1)
    for _ in range(2):
        out = stacked(x)
        expected = torch.stack([layer(x[k]) for k, layer in enumerate(layers)])
        torch.testing.assert_close(out, expected)
    stacked.eval()
    for layer in layers:
        layer.eval()
    torch.testing.assert_close(stacked(x), torch.stack([layer(x[k]) for k, layer in enumerate(layers)]))
    copies = [unstack(stacked, k, nn.BatchNorm1d(4, momentum=0.3)) for k in range(3)]
    for copy, layer in zip(copies, layers, strict=True):
        for key, value in layer.state_dict().items():
            torch.testing.assert_close(copy.state_dict()[key], value)


class _Mixing(nn.Module):
    """A layer that flattens the leading axis: correct alone, wrong when stacked."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + x.sum(dim=0, keepdim=True).mean()


def test_layers_without_a_stacked_form_and_mixing_layers_are_refused() -> None:
    with pytest.raises(CannotStack, match="Conv1d has no stacked form"):
        stack([nn.Sequential(nn.Conv1d(1, 1, 3)) for _ in range(2)], (1, 5))
    with pytest.raises(CannotStack, match="mixes members"):
        stack([_Mixing() for _ in range(2)], (3,))
    assert stacking_problem(METHODS.get("gan").defaults, SIZE, (2,)) is None
    dcgan = dataclasses.replace(METHODS.get("gan").defaults, architecture="dcgan")
    assert stacking_problem(dcgan, NetworkSize(8, 8, 0), (1, 28, 28)) is None  # stacked convolutions


class _PoisonedMixture(GaussianMixture):
    """A mixture whose data stream for one seed turns NaN from its n-th draw on."""

    def __init__(self, name: str, poisoned_seed: int, from_draw: int) -> None:
        base = _data(name)
        super().__init__(base.centers, base.std)
        self.poisoned = streams.stream_seed(poisoned_seed, "data")
        self.from_draw, self.draws = from_draw, 0

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        x = super().sample(n, generator)
        if n > 1 and generator.initial_seed() == self.poisoned:
            self.draws += 1
            if self.draws >= self.from_draw:
                return x * float("nan")
        return x


# The installed package's own folder: a caller's file counts as ganbench's code only inside it. A
# test of "/ganbench/" in the path also matched torch's files in a clone named ganbench with its
# .venv inside (ganbench/.venv/.../torch/optim/optimizer.py), and failed there but not in CI.
PACKAGE = os.path.realpath(os.path.dirname(ganbench.__file__)) + os.sep


def _in_package(filename: str) -> bool:
    """Whether a code object's file is one of ganbench's own modules."""
    return os.path.realpath(filename).startswith(PACKAGE)


@contextmanager
def _count_host_reads(calls: list[str]):
    """Record every host read-back (item, tolist, cpu, numpy, bool, float, int) made by ganbench's code."""
    names = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__")
    originals = {name: getattr(torch.Tensor, name) for name in names}
    package_files: dict[str, bool] = {}

    def counting(name):
        def read(self, *args, **kwargs):
            filename = sys._getframe(1).f_code.co_filename
            if package_files.setdefault(filename, _in_package(filename)):
                calls.append(name)
            return originals[name](self, *args, **kwargs)

        return read

    for name in names:
        setattr(torch.Tensor, name, counting(name))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def test_host_reads_are_told_apart_by_the_package_folder_not_a_folder_name(tmp_path) -> None:
    # A user's clone named ganbench holds the README's .venv, so torch's own files lie under
    # ".../ganbench/.venv/...": they are not ganbench's code. A module of the package is.
    venv_torch = tmp_path / "ganbench" / ".venv" / "lib" / "python3.11" / "site-packages" / "torch"
    scope = {"tensor": torch.ones(1)}
    calls: list[str] = []
    with _count_host_reads(calls):
        exec(compile("tensor.item()", str(venv_torch / "optim" / "optimizer.py"), "exec"), scope)
        assert calls == []
        exec(compile("tensor.item()", os.path.join(PACKAGE, "engine", "train.py"), "exec"), scope)
    assert calls == ["item"]


@pytest.mark.e2e
def test_a_member_turning_nan_is_diverged_at_that_step_and_the_others_match() -> None:
    # gan draws one real batch per step, so the 4th draw of seed 1's stream poisons its step 4.
    method = METHODS.get("gan")
    ring = _PoisonedMixture("ring-8", 1, 4)
    members = [Member(seed, ring) for seed in SEEDS] + [Member(1, _data("grid-25"))]
    together = train_group(method, method.defaults, members, SIZE, 6, 32, CPU, log_every=1)
    assert [r.status for r in together] == ["ok", "diverged", "ok", "ok"]
    assert together[1].diverged_step == 4 and together[1].loss_steps == [1, 2, 3]
    alone = train(method, method.defaults, _PoisonedMixture("ring-8", 1, 4), SIZE, 6, 32, 1, CPU, log_every=1)
    assert (alone.status, alone.diverged_step, alone.loss_steps) == ("diverged", 4, [1, 2, 3])
    for member, result in zip(members, together, strict=True):
        if result.status == "ok":
            _assert_same_result(
                result,
                train(method, method.defaults, member.dataset, SIZE, 6, 32, member.seed, CPU, log_every=1),
            )


@pytest.mark.parametrize("name", ["gan", "wgan-gp"])
def test_the_step_function_reads_nothing_back_to_the_host(name: str) -> None:
    method = METHODS.get(name)
    members = _members()
    plain = [build_networks(method.defaults, SIZE, (2,), m.seed, CPU) for m in members]
    generator, critic = stack([g for g, _ in plain], (2,)), stack([d for _, d in plain], (2,))
    nets = Stack(
        generator,
        critic,
        make_optimizer(list(generator.parameters()), "g", [method.defaults]),
        make_optimizer(list(critic.parameters()), "d", [method.defaults]),
    )
    draws, health, calls = StreamDraws(members, 32, 2, CPU), Health(len(members), CPU), []
    with _count_host_reads(calls):
        for step in range(1, 4):
            training_step(nets, method, method.defaults, draws, step, health)
    assert calls == []


@pytest.mark.e2e
def test_host_reads_happen_at_logging_points_only() -> None:
    # The number of read-backs depends on the number of logging points, not on the number of steps.
    method = METHODS.get("wgan-gp")
    counts = []
    for steps in (3, 12):
        calls: list[str] = []
        with _count_host_reads(calls):
            train_group(method, method.defaults, _members(), SIZE, steps, 16, CPU, log_every=steps)
        counts.append(len(calls))
    assert counts[0] == counts[1] <= 4


def test_no_two_seed_purpose_streams_coincide() -> None:
    firsts = {
        (seed, purpose): tuple(torch.rand(4, generator=streams.generator(seed, purpose)).tolist())
        for seed in range(100)
        for purpose in streams.PURPOSES
    }
    assert len(set(firsts.values())) == len(firsts) == 100 * len(streams.PURPOSES)
    # The old offsets made seed 1's initialization replay seed 0's noise stream; no longer.
    assert streams.stream_seed(1, "init") != streams.stream_seed(0, "noise")
    with pytest.raises(ValueError, match="unknown random stream"):
        streams.stream_seed(0, "dropout")


def test_initialization_does_not_touch_the_global_generator() -> None:
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    build_networks(METHODS.get("gan").defaults, SIZE, (2,), 7, CPU)
    assert torch.equal(torch.rand(3), before)


@pytest.mark.e2e
def test_suite_results_do_not_depend_on_stacking(tmp_path) -> None:
    import json

    import pandas as pd
    from conftest import write_tiny_suite
    from typer.testing import CliRunner

    from ganbench.cli import app

    suite = write_tiny_suite(tmp_path, methods=("gan", "wgan-gp"), datasets=("ring-8", "grid-25"), seeds=2)
    frames = {}
    for flag in ("--batch-seeds", "--no-batch-seeds"):
        out = tmp_path / flag
        result = CliRunner().invoke(app, ["run", "--suite", str(suite), "--out", str(out), flag])
        assert result.exit_code == 0, result.output
        frames[flag] = pd.read_csv(out / "records.csv")
        job = json.loads((out / "jobs" / "wgan-gp__grid-25__seed1.json").read_text())
        stacked = [f"wgan-gp__{d}__seed{s}" for d in ("ring-8", "grid-25") for s in (0, 1)]
        assert job["batch"] == (stacked if flag == "--batch-seeds" else ["wgan-gp__grid-25__seed1"])
        assert job["config"]["streams"] == streams.SCHEME
    together, alone = frames["--batch-seeds"], frames["--no-batch-seeds"]
    assert together["key"].tolist() == alone["key"].tolist()
    assert (together["status"] == "ok").all() and (alone["status"] == "ok").all()
    pd.testing.assert_series_equal(together["value"], alone["value"], rtol=1e-4)


def test_the_driver_stacks_each_method_and_says_once_what_it_cannot(tmp_path, monkeypatch) -> None:
    from conftest import write_fake_mnist

    from ganbench.run.driver import stack_groups
    from ganbench.suite import load_suite, with_overrides

    jobs = load_suite("mode-collapse").jobs()
    groups = stack_groups(jobs, batch=True)
    # One model per method: its seeds on ring-8 and grid-25 together.
    suite_jobs = len(jobs) // 5
    assert [(g[0].method, len(g), {j.dataset for j in g}) for g in groups] == [
        (m, suite_jobs, {"ring-8", "grid-25"}) for m in ("gan", "gan-ns", "pacgan2", "wgan", "wgan-gp")
    ]
    assert [len(g) for g in stack_groups(jobs, batch=False)] == [1] * len(jobs)
    # Convolutional nets stack too (ganbench.engine.stacked): a model per method, its two seeds, no note.
    suite = with_overrides(load_suite("image-quality"), seeds=2)
    notes: list[str] = []
    monkeypatch.setenv("GANBENCH_DATA_ROOT", str(write_fake_mnist(tmp_path)))
    image_groups = stack_groups(suite.jobs(), batch=True, note=notes.append)
    assert [(g[0].method, len(g)) for g in image_groups] == [(m, 2) for m in suite.methods]
    assert notes == []


def test_a_raising_generator_loss_leaves_the_critic_trainable() -> None:
    from ganbench.models.base import Objective
    from ganbench.models.objectives import gan_discriminator_loss

    def raising(d_fake):
        raise RuntimeError("broken objective")

    method = dataclasses.replace(METHODS.get("gan"), objective=Objective(gan_discriminator_loss, raising))
    members = _members()[:2]
    plain = [build_networks(method.defaults, SIZE, (2,), m.seed, CPU) for m in members]
    generator, critic = stack([g for g, _ in plain], (2,)), stack([d for _, d in plain], (2,))
    nets = Stack(generator, critic, make_optimizer(list(generator.parameters()), "g", [method.defaults]),
                 make_optimizer(list(critic.parameters()), "d", [method.defaults]))  # fmt: skip
    with pytest.raises(RuntimeError, match="broken objective"):
        training_step(nets, method, method.defaults, StreamDraws(members, 8, 2, CPU), 1, Health(2, CPU))
    assert all(p.requires_grad for p in critic.parameters())


# Per-member settings, as a tuning search draws them: Adam (lr, betas) for GAN-NS and WGAN-GP (with
# its penalty weight), RMSprop (lr) for WGAN (with its clipping bound).
OWN_SETTINGS = {
    "gan-ns": [
        {"lr": 1e-3, "beta1": 0.5},
        {"lr": 2e-4, "beta1": 0.0, "beta2": 0.9},
        {"lr": 5e-3, "beta2": 0.99},
    ],
    "wgan-gp": [
        {"lr": 1e-4, "gp_lambda": 10.0},
        {"lr": 1e-3, "beta1": 0.5, "gp_lambda": 0.1},
        {"gp_lambda": 1.0},
    ],
    "wgan": [{"lr": 5e-5, "clip": 0.01}, {"lr": 1e-3, "clip": 0.1}, {"lr": 3e-4, "clip": 0.01}],
    # The objective zoo's weights and two time-scale step sizes, each member its own.
    "gan-r1": [{"r1_gamma": 10.0}, {"r1_gamma": 0.1, "lr_d": 1e-3}, {"r1_gamma": 1.0, "lr_g": 5e-4}],
    "rpgan-r1r2": [{"r1_gamma": 1.0, "r2_gamma": 0.1}, {"r1_gamma": 0.1, "r2_gamma": 2.0}, {"lr": 1e-3}],
    "dragan": [{"dragan_lambda": 10.0}, {"dragan_lambda": 0.5, "lr_g": 1e-3}, {"lr_d": 5e-4}],
    "unrolled-gan": [{"lr_d": 1e-4}, {"lr_d": 1e-3, "lr_g": 2e-4}, {"lr": 3e-4, "lr_g": 0.0}],
}


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(OWN_SETTINGS))
def test_members_with_their_own_optimizer_settings_match_separate_runs(name: str) -> None:
    method = METHODS.get(name)
    own = [dataclasses.replace(method.defaults, **changes) for changes in OWN_SETTINGS[name]]
    data = _data("grid-25")
    members = [Member(seed, data, hyperparameters=hp) for seed, hp in zip((0, 3, 7), own, strict=True)]
    together = train_group(method, method.defaults, members, SIZE, 6, 32, CPU, log_every=2)
    for member, result in zip(members, together, strict=True):
        alone = train(method, member.hyperparameters, data, SIZE, 6, 32, member.seed, CPU, log_every=2)
        _assert_same_result(result, alone)
        for key, value in result.critic.state_dict().items():  # the critic too: it holds clip and penalty
            torch.testing.assert_close(value, alone.critic.state_dict()[key], rtol=1e-4, atol=1e-5)


def test_the_stacked_optimizers_are_torch_optimizers_per_member() -> None:
    # One step of each stacked optimizer against torch's own on each member's slice, same gradients.
    from ganbench.engine.optim import StackedAdam, StackedRMSprop, StackedSGD

    grads = torch.randn(4, 3, 5, 2, generator=torch.Generator().manual_seed(0))
    start = torch.randn(3, 5, 2, generator=torch.Generator().manual_seed(1))
    lrs, beta1s, beta2s = [1e-3, 1e-2, 3e-4], [0.5, 0.0, 0.9], [0.999, 0.9, 0.99]

    def adam(p: nn.Parameter, k: int) -> torch.optim.Optimizer:
        return torch.optim.Adam([p], lrs[k], (beta1s[k], beta2s[k]))

    def rmsprop(p: nn.Parameter, k: int) -> torch.optim.Optimizer:
        return torch.optim.RMSprop([p], lrs[k])

    def sgd(p: nn.Parameter, k: int) -> torch.optim.Optimizer:
        return torch.optim.SGD([p], lrs[k])

    for make_stacked, make_own in (
        (lambda p: StackedAdam([p], lrs, beta1s, beta2s), adam),
        (lambda p: StackedRMSprop([p], lrs), rmsprop),
        (lambda p: StackedSGD([p], lrs), sgd),
    ):
        stacked = nn.Parameter(start.clone())
        own = [nn.Parameter(start[k].clone()) for k in range(3)]
        opt, opts = make_stacked(stacked), [make_own(p, k) for k, p in enumerate(own)]
        for g in grads:  # four steps: the bias corrections and moment decays at work
            stacked.grad = g.clone()
            opt.step()
            for k, (p, o) in enumerate(zip(own, opts, strict=True)):
                p.grad = g[k].clone()
                o.step()
        for k in range(3):
            torch.testing.assert_close(stacked.detach()[k], own[k].detach(), rtol=1e-5, atol=1e-7)
        assert not torch.allclose(stacked.detach()[0], start[0])  # it moved


def test_members_that_differ_in_the_steps_structure_are_refused() -> None:
    method = METHODS.get("wgan-gp")
    data = _data("ring-8")
    for change in ({"n_critic": 1}, {"gp_lambda": 0.0}, {"pack": 2}, {"r1_gamma": 1.0}, {"unroll": 1}):
        members = [
            Member(0, data),
            Member(1, data, hyperparameters=dataclasses.replace(method.defaults, **change)),
        ]
        with pytest.raises(ValueError, match="must share"):
            train_group(method, method.defaults, members, SIZE, 1, 8, CPU)
