"""The objective zoo against its papers: losses by hand, penalties by finite differences, Unrolled GAN."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import Tensor, nn

from ganbench.data import DATASETS
from ganbench.engine.stacked import stack
from ganbench.engine.train import Health, Stack, generator_loss, make_optimizer, train, training_step
from ganbench.models import METHODS, Hyperparameters, NetworkSize
from ganbench.models.base import OPTIONAL, identity
from ganbench.models.mlp import mlp
from ganbench.models.objectives import (
    hinge_discriminator_loss,
    least_squares_discriminator_loss,
    least_squares_generator_loss,
    relativistic_discriminator_loss,
    relativistic_generator_loss,
    wasserstein_generator_loss,
)
from ganbench.models.regularizers import dragan_penalty, penalty_from_hyperparameters, zero_centred_penalty

D_REAL = [1.5, 0.5]
D_FAKE = [0.2, -1.4]


def _outputs() -> tuple[Tensor, Tensor]:
    return torch.tensor(D_REAL, requires_grad=True), torch.tensor(D_FAKE, requires_grad=True)


def _softplus(t: float) -> float:
    return math.log1p(math.exp(t))


def _sigmoid(t: float) -> float:
    return 1 / (1 + math.exp(-t))


# --- each loss by its paper's formula, values and gradients, on two hand-chosen outputs ---


def test_least_squares_losses_are_mao_et_al_with_the_0_1_1_coding() -> None:
    real, fake = _outputs()
    d = least_squares_discriminator_loss(real, fake)
    # 1/2 mean((1.5 - 1)^2, (0.5 - 1)^2) + 1/2 mean(0.2^2, 1.4^2) = 0.125 + 0.5 = 0.625
    assert d.item() == pytest.approx(0.625)
    d.backward()
    assert real.grad.tolist() == pytest.approx([0.25, -0.25])  # (D(x) - 1) / n
    assert fake.grad.tolist() == pytest.approx([0.1, -0.7])  # D(G(z)) / n
    fake.grad = None
    g = least_squares_generator_loss(fake)
    assert g.item() == pytest.approx(0.5 * (0.64 + 5.76) / 2)  # 1/2 mean((0.2 - 1)^2, (-1.4 - 1)^2)
    g.backward()
    assert fake.grad.tolist() == pytest.approx([-0.4, -1.2])  # (D(G(z)) - 1) / n


def test_hinge_losses_are_lim_and_ye() -> None:
    real, fake = _outputs()
    d = hinge_discriminator_loss(real, fake)
    # mean(max(0, 1 - 1.5), max(0, 1 - 0.5)) + mean(max(0, 1 + 0.2), max(0, 1 - 1.4)) = 0.25 + 0.6
    assert d.item() == pytest.approx(0.85)
    d.backward()
    assert real.grad.tolist() == pytest.approx([0.0, -0.5])  # only the real sample inside the margin
    assert fake.grad.tolist() == pytest.approx([0.5, 0.0])
    assert METHODS.get("hinge").objective.generator_loss is wasserstein_generator_loss  # -E[D(G(z))]


def test_relativistic_pairing_losses_compare_each_pair() -> None:
    real, fake = _outputs()
    d = relativistic_discriminator_loss(real, fake)
    diffs = [f - r for f, r in zip(D_FAKE, D_REAL, strict=True)]  # -1.3, -1.9
    assert d.item() == pytest.approx(sum(_softplus(t) for t in diffs) / 2)
    d.backward()
    assert fake.grad.tolist() == pytest.approx([_sigmoid(t) / 2 for t in diffs])
    assert real.grad.tolist() == pytest.approx([-_sigmoid(t) / 2 for t in diffs])
    real.grad = fake.grad = None
    g = relativistic_generator_loss(real, fake)
    assert g.item() == pytest.approx(sum(_softplus(-t) for t in diffs) / 2)
    g.backward()
    assert fake.grad.tolist() == pytest.approx([-_sigmoid(-t) / 2 for t in diffs])
    # Pairs, not means: swapping which fake is paired with which real changes the loss.
    swapped = relativistic_discriminator_loss(torch.tensor(D_REAL), torch.tensor(D_FAKE[::-1]))
    assert swapped.item() != pytest.approx(d.item())


# --- penalties: gradients by finite differences, per member of a stack ---


def _stacked_critics(k: int, features: int = 3) -> tuple[list[nn.Module], nn.Module]:
    """K MLP critics and their stack, in float64 (stacked in float32: `stack` checks in float32)."""
    nets = []
    for seed in range(k):
        torch.manual_seed(seed)
        nets.append(mlp(features, 1, 8, 2))
    critic = stack(nets, (features,)).double()
    return [net.double() for net in nets], critic


def _fd_grad_norms(net: nn.Module, x: Tensor, h: float = 1e-6) -> Tensor:
    """||grad D(x)||_2 of every sample by central differences (float64): no autograd involved."""
    with torch.no_grad():
        grads = torch.zeros_like(x)
        for j in range(x.shape[1]):
            step = torch.zeros_like(x)
            step[:, j] = h
            grads[:, j] = (net(x + step) - net(x - step)).squeeze(1) / (2 * h)
    return grads.norm(dim=1)


def test_r1_and_r2_are_half_the_squared_gradient_norm_per_member() -> None:
    members, critic = _stacked_critics(3)
    real = torch.randn(3, 16, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    fake = torch.randn(3, 16, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    r1 = zero_centred_penalty(critic, real)
    for k, net in enumerate(members):
        expected = 0.5 * (_fd_grad_norms(net, real[k]) ** 2).mean()
        assert r1[k].item() == pytest.approx(expected.item(), rel=1e-6)
    # The settings: gamma 4 on real, 0.5 on generated samples add up, each times its own term.
    hp = Hyperparameters(r1_gamma=4.0, r2_gamma=0.5)
    total = penalty_from_hyperparameters(critic, real, fake, hp, lambda shape: torch.rand(3, *shape))
    expected = 4.0 * r1 + 0.5 * zero_centred_penalty(critic, fake)
    torch.testing.assert_close(total, expected)


def test_penalties_differ_per_member_with_per_member_weights() -> None:
    _, critic = _stacked_critics(2)
    real = torch.randn(2, 8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    weights = torch.tensor([1.0, 10.0], dtype=torch.float64)
    hp = dataclasses.replace(Hyperparameters(), r1_gamma=weights)  # what stacked_settings builds
    total = penalty_from_hyperparameters(critic, real, real, hp, lambda shape: torch.rand(2, *shape))
    torch.testing.assert_close(total, weights * zero_centred_penalty(critic, real))


def test_the_r1_penalty_trains_the_critic_through_its_gradient() -> None:
    # The penalty's gradient with respect to the critic's weights (double backward) against central
    # differences of the penalty in one weight.
    _, critic = _stacked_critics(1)
    x = torch.randn(1, 8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    weight = critic[0].weight
    zero_centred_penalty(critic, x).sum().backward()
    analytic = weight.grad[0, 1, 2].item()
    h = 1e-6
    values = []
    for shift in (h, -2 * h):
        with torch.no_grad():
            weight[0, 1, 2] += shift
        values.append(zero_centred_penalty(critic, x).item())
    up, down = values
    assert analytic == pytest.approx((up - down) / (2 * h), rel=1e-5)


def test_dragan_penalizes_the_gradient_at_perturbed_real_points() -> None:
    # D(x) = ||x||^2 / 2 has gradient x: the penalty is E[(||x + a s std u|| - 1)^2], by hand.
    class HalfSquare(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return 0.5 * (x**2).sum(dim=-1, keepdim=True)

    g = torch.Generator().manual_seed(4)
    real = torch.randn(2, 5, 3, dtype=torch.float64, generator=g)
    noise = torch.rand(2, 5, 3, dtype=torch.float64, generator=g)
    alpha = torch.rand(2, 5, 1, dtype=torch.float64, generator=g)
    value = dragan_penalty(HalfSquare(), real, 0.5, noise, alpha)
    for k in range(2):
        std = real[k].numpy().std()  # numpy's population standard deviation, as the authors' code
        points = real[k] + alpha[k] * 0.5 * std * noise[k]
        expected = ((points.norm(dim=1) - 1) ** 2).mean().item()
        assert value[k].item() == pytest.approx(expected, rel=1e-9)


# --- the settings' identity ---


def test_a_setting_at_its_default_is_not_part_of_a_jobs_identity() -> None:
    plain = identity(METHODS.get("gan").defaults)
    assert not set(OPTIONAL) & set(plain)  # the schema-4 keys only
    assert set(plain) == {
        "optimizer",
        "lr",
        "beta1",
        "beta2",
        "n_critic",
        "clip",
        "gp_lambda",
        "pack",
        "architecture",
    }
    r1 = identity(METHODS.get("gan-r1").defaults)
    assert r1["r1_gamma"] == 10.0 and "r2_gamma" not in r1
    assert Hyperparameters(**r1) == METHODS.get("gan-r1").defaults  # the stored form reads back
    # A stored form with the defaults written out (as records of a tuning search may hold) is the same.
    assert identity(dataclasses.asdict(METHODS.get("gan-r1").defaults)) == r1


def test_two_time_scales_give_each_network_its_own_step_size() -> None:
    hp = Hyperparameters(lr=1e-4, lr_g=1e-3)
    params = [nn.Parameter(torch.zeros(2))]
    assert make_optimizer(params, "d", [hp]).param_groups[0]["lr"] == 1e-4  # lr_d 0: the shared lr
    assert make_optimizer(params, "g", [hp]).param_groups[0]["lr"] == 1e-3
    stacked = make_optimizer(params, "d", [hp, dataclasses.replace(hp, lr_d=5e-3)])
    assert stacked.param_groups[0]["lr"].tolist() == pytest.approx([1e-4, 5e-3])


# --- Unrolled GAN ---

SIZE = NetworkSize(latent_dim=2, width=8, depth=1)


def _ring():
    spec = DATASETS.get("ring-8")
    return spec.build(spec.params())


def test_unrolling_zero_steps_is_the_base_method_exactly() -> None:
    unrolled = METHODS.get("unrolled-gan")
    hp = dataclasses.replace(unrolled.defaults, unroll=0)
    a = train(unrolled, hp, _ring(), SIZE, 5, 16, 0, torch.device("cpu"), log_every=1)
    b = train(METHODS.get("gan"), hp, _ring(), SIZE, 5, 16, 0, torch.device("cpu"), log_every=1)
    assert a.g_losses == b.g_losses
    for x, y in zip(a.generator.state_dict().values(), b.generator.state_dict().values(), strict=True):
        assert torch.equal(x, y)
    # Five unrolled steps change the generator's training.
    c = train(unrolled, unrolled.defaults, _ring(), SIZE, 5, 16, 0, torch.device("cpu"), log_every=1)
    assert c.g_losses != a.g_losses


class FixedDraws:
    """The same real batch and noise on every call (float64), and no penalty draws."""

    def __init__(self, real: Tensor, noise: Tensor) -> None:
        self._real, self._noise = real, noise

    def real(self) -> Tensor:
        return self._real

    def noise(self) -> Tensor:
        return self._noise

    def uniform(self, shape: tuple[int, ...]) -> Tensor:
        raise AssertionError("no penalty is on")


def test_one_unrolled_sgd_step_gives_the_generator_the_gradient_through_the_critics_update() -> None:
    """Metz et al. 2017, eq. 6-7: with one SGD step of size eta, the generator minimizes
    f(theta_G) = L_G(theta_G, theta_D - eta grad_D L_D(theta_D, theta_G)); its gradient, checked by
    central differences in theta_G, includes how the critic's step depends on the generator."""
    method = METHODS.get("gan")
    hp = Hyperparameters(optimizer="sgd", lr=0.5, unroll=1)
    torch.manual_seed(0)
    g_net, d_net = mlp(2, 2, 6, 1), mlp(2, 1, 6, 1)
    gen, critic = stack([g_net], (2,)).double(), stack([d_net], (2,)).double()
    g_net, d_net = g_net.double(), d_net.double()
    nets = Stack(
        gen,
        critic,
        make_optimizer(list(gen.parameters()), "g", [hp]),
        make_optimizer(list(critic.parameters()), "d", [hp]),
    )
    real = torch.randn(1, 12, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(1, 12, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    draws = FixedDraws(real, noise)
    d_loss_fn = torch.vmap(method.objective.discriminator_loss)
    for p in critic.parameters():
        p.requires_grad_(False)
    generator_loss(nets, method, hp, draws, d_loss_fn).sum().backward()
    analytic = gen[0].weight.grad[0].clone()

    def surrogate_loss() -> float:
        """f(theta_G) by hand: one SGD step of the critic (autograd for its inner gradient only)."""
        weights = [p.detach().clone().requires_grad_(True) for p in d_net.parameters()]

        def d(x: Tensor, w: list[Tensor]) -> Tensor:
            return torch.relu(x @ w[0].t() + w[1]) @ w[2].t() + w[3]

        fake = g_own(noise[0])
        loss = method.objective.discriminator_loss(d(real[0], weights), d(fake, weights))
        grads = torch.autograd.grad(loss, weights)
        stepped = [w - 0.5 * g for w, g in zip(weights, grads, strict=True)]
        return method.objective.generator_loss(d(fake, stepped)).item()

    g_own = mlp(2, 2, 6, 1).double()
    h = 1e-6
    numeric = torch.zeros_like(analytic)
    for i in range(analytic.shape[0]):
        for j in range(analytic.shape[1]):
            values = []
            for sign in (1, -1):
                g_own.load_state_dict(g_net.state_dict())
                with torch.no_grad():
                    w = gen[0].weight[0].t().clone()
                    w[j, i] += sign * h
                    g_own[0].weight.copy_(w)
                    g_own[0].bias.copy_(gen[0].bias[0, 0])
                    g_own[2].weight.copy_(gen[2].weight[0].t())
                    g_own[2].bias.copy_(gen[2].bias[0, 0])
                values.append(surrogate_loss())
            numeric[i, j] = (values[0] - values[1]) / (2 * h)
    torch.testing.assert_close(analytic, numeric, rtol=1e-5, atol=1e-8)

    # Without the path through the critic's update (the update treated as a constant), the gradient is
    # another one: the unrolling is what the generator's gradient sees.
    nets.opt_g.zero_grad()
    stepped_critic = stack([d_net.float()], (2,)).double()
    with torch.no_grad():
        fake0 = gen(noise)
    loss = d_loss_fn(stepped_critic(real), stepped_critic(fake0)).sum()
    loss.backward()
    with torch.no_grad():
        for p in stepped_critic.parameters():
            p -= 0.5 * p.grad
            p.requires_grad_(False)
    torch.vmap(method.objective.generator_loss)(stepped_critic(gen(noise))).sum().backward()
    assert not torch.allclose(gen[0].weight.grad[0], analytic, rtol=1e-3)


def test_an_unrolled_step_leaves_the_critic_and_its_optimizer_as_they_were() -> None:
    method = METHODS.get("unrolled-gan")
    hp = method.defaults
    torch.manual_seed(0)
    gen, critic = stack([mlp(2, 2, 6, 1)], (2,)), stack([mlp(2, 1, 6, 1)], (2,))
    nets = Stack(
        gen,
        critic,
        make_optimizer(list(gen.parameters()), "g", [hp]),
        make_optimizer(list(critic.parameters()), "d", [hp]),
    )
    real = torch.randn(1, 12, 2, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(1, 12, 2, generator=torch.Generator().manual_seed(2))
    draws = FixedDraws(real, noise)
    training_step(nets, method, hp, draws, 1, Health(1, torch.device("cpu")))  # gives Adam its moments
    before = {k: v.clone() for k, v in critic.state_dict().items()}
    grads = [p.grad.clone() for p in critic.parameters()]
    moments = {id(p): {k: v.clone() for k, v in nets.opt_d.state[p].items()} for p in critic.parameters()}
    for p in critic.parameters():
        p.requires_grad_(False)
    generator_loss(nets, method, hp, draws, torch.vmap(method.objective.discriminator_loss)).sum().backward()
    assert all(torch.equal(v, before[k]) for k, v in critic.state_dict().items())
    for p in critic.parameters():
        assert all(torch.equal(v, moments[id(p)][k]) for k, v in nets.opt_d.state[p].items())
    # The critic step's gradients (left for its next zero_grad) are not added to either.
    assert all(torch.equal(p.grad, grads[i]) for i, p in enumerate(critic.parameters()))


# --- every setting from a suite: a method table, a sweep ---


@pytest.mark.e2e
def test_a_suite_turns_any_regularizer_on_for_any_method_and_sweeps_it(tmp_path) -> None:
    from conftest import write_tiny_suite

    from ganbench.app.run import run
    from ganbench.records.store import RunStore

    extra = (
        "[method.wgan]\nclip = 0.0\nspectral_norm = true\nlr_g = 1e-3\n"
        '[sweep]\n"method.gan.r1_gamma" = [0.0, 1.0]\n"method.gan.unroll" = [0, 2]\n'
    )
    path = write_tiny_suite(tmp_path, seeds=1, steps=4, extra=extra)
    run(str(path), out=tmp_path / "run", device="cpu")
    records = {r.key: r for r in RunStore(tmp_path / "run").records()}
    assert all(r.status == "ok" for r in records.values())
    wgan = records["wgan__ring-8__seed0"].config["hyperparameters"]
    assert (wgan["clip"], wgan["spectral_norm"], wgan["lr_g"]) == (0.0, True, 1e-3)
    gan = sorted(
        (r.config["hyperparameters"].get("r1_gamma", 0.0), r.config["hyperparameters"].get("unroll", 0))
        for k, r in records.items()
        if k.startswith("gan__")
    )
    assert gan == [(0.0, 0), (0.0, 2), (1.0, 0), (1.0, 2)]
