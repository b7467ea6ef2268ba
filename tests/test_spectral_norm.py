"""Spectral normalization (Miyato et al. 2018): stacked members train as torch's own spectral-normed nets."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganbench.engine.stacked import (
    CannotStack,
    StackedSpectralLinear,
    stack,
    stack_or_single,
    unstack,
)
from ganbench.models.mlp import mlp
from ganbench.models.spectral import apply_spectral_norm

IN_DIM = 4


def _critic(seed: int) -> nn.Sequential:
    """An MLP critic with spectral norm, its weights and u, v drawn under `seed` (as build_networks does)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return apply_spectral_norm(mlp(IN_DIM, 1, 16, 2))


def _pairs(stacked: nn.Module, member: nn.Module) -> list[tuple[StackedSpectralLinear, nn.Linear]]:
    """Each stacked spectral-normed layer with the member's layer at the same place."""
    return [
        (layer, member.get_submodule(name))
        for name, layer in stacked.named_modules()
        if isinstance(layer, StackedSpectralLinear)
    ]


def _loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """A GAN critic's loss on two forwards (the pattern torch's u, v copies exist for): the mean over
    the last two axes, so it is one member's own loss, or [K] members' own losses."""
    return F.softplus(-real_scores).mean(dim=(-2, -1)) + F.softplus(fake_scores).mean(dim=(-2, -1))


def _sn_state(member: nn.Module) -> dict[str, Tensor]:
    """The member's spectral-norm vectors and unnormalized weights, copied."""
    return {
        name: t.detach().clone()
        for name, t in list(member.named_buffers()) + list(member.named_parameters())
        if "parametrizations" in name
    }


def test_apply_spectral_norm_normalizes_every_weight_layer() -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Conv2d(1, 2, 3), nn.ConvTranspose2d(2, 1, 3))
        assert apply_spectral_norm(net) is net
    for index in (0, 2, 3):
        layer = net[index]
        assert torch.nn.utils.parametrize.is_parametrized(layer, "weight")
        # Eval mode: no power iteration, sigma from the u and v of the 15 iterations at registration,
        # which for these small seeded matrices (at most 5 x 9) already estimate sigma_1 within 1e-3.
        # A ConvTranspose2d's matrix has its output channels (dim 1) as rows, as torch reshapes it.
        layer.eval()
        w = layer.weight
        dim = 1 if isinstance(layer, nn.ConvTranspose2d) else 0
        matrix = w.movedim(dim, 0).flatten(1)
        assert torch.linalg.matrix_norm(matrix, ord=2).item() == pytest.approx(1.0, abs=1e-3)
    # The same seed gives the same u and v.
    again, once = _sn_state(_critic(3)), _sn_state(_critic(3))
    assert again.keys() == once.keys() and all(torch.equal(again[name], once[name]) for name in once)


def test_stack_accepts_spectral_normed_critics_and_keeps_their_vectors() -> None:
    members = [_critic(seed) for seed in (0, 1, 2)]
    before = [_sn_state(m) for m in members]
    stacked, reason = stack_or_single(members, (IN_DIM,))
    assert reason is None
    assert sum(isinstance(layer, StackedSpectralLinear) for layer in stacked.modules()) == 3
    # stack's check runs in eval mode: no power iteration on the members or the stacked copy.
    for member, state in zip(members, before, strict=True):
        for name, value in _sn_state(member).items():
            assert torch.equal(value, state[name])
    for k, member in enumerate(members):
        for layer, own in _pairs(stacked, member):
            assert torch.equal(layer.u[k], own.parametrizations.weight[0]._u)
            assert torch.equal(layer.v[k], own.parametrizations.weight[0]._v)
            assert torch.equal(layer.weight[k].t(), own.parametrizations.weight.original)


def test_stack_refuses_what_it_cannot_stack() -> None:
    # A member without spectral norm among spectral-normed ones.
    with pytest.raises(CannotStack):
        stack([_critic(0), mlp(IN_DIM, 1, 16, 2)], (IN_DIM,))

    # A parametrization other than spectral norm.
    class Doubled(nn.Module):
        def forward(self, w: Tensor) -> Tensor:
            return 2 * w

    def doubled() -> nn.Linear:
        layer = nn.Linear(IN_DIM, 1)
        torch.nn.utils.parametrize.register_parametrization(layer, "weight", Doubled())
        return layer

    with pytest.raises(CannotStack, match="parametrization"):
        stack([doubled(), doubled()], (IN_DIM,))


@pytest.mark.parametrize("k", [1, 3, 5])
def test_stacked_training_matches_separate_members(k: int) -> None:
    members = [_critic(100 + seed) for seed in range(k)]
    stacked = stack(members, (IN_DIM,))
    stacked.train(), [m.train() for m in members]
    opt_stacked = torch.optim.SGD(stacked.parameters(), lr=0.5)
    opt_members = [torch.optim.SGD(m.parameters(), lr=0.5) for m in members]
    first_u = stacked[0].u.clone()
    draws = torch.Generator().manual_seed(k)

    for _ in range(5):
        real = torch.randn(k, 8, IN_DIM, generator=draws)
        fake = torch.randn(k, 8, IN_DIM, generator=draws) * 2
        real_scores, fake_scores = stacked(real), stacked(fake)  # two power iterations per layer
        opt_stacked.zero_grad()
        _loss(real_scores, fake_scores).sum().backward()
        for j, (member, opt) in enumerate(zip(members, opt_members, strict=True)):
            own_real, own_fake = member(real[j]), member(fake[j])
            torch.testing.assert_close(real_scores[j], own_real, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(fake_scores[j], own_fake, rtol=1e-5, atol=1e-6)
            opt.zero_grad()
            _loss(own_real, own_fake).backward()
            for layer, own in _pairs(stacked, member):
                original = own.parametrizations.weight.original
                torch.testing.assert_close(layer.weight.grad[j].t(), original.grad, rtol=1e-4, atol=1e-6)
                torch.testing.assert_close(layer.bias.grad[j, 0], own.bias.grad, rtol=1e-4, atol=1e-6)
                torch.testing.assert_close(
                    layer.u[j], own.parametrizations.weight[0]._u, rtol=1e-5, atol=1e-6
                )
                torch.testing.assert_close(
                    layer.v[j], own.parametrizations.weight[0]._v, rtol=1e-5, atol=1e-6
                )
            opt.step()
        opt_stacked.step()

    # The power iterations and the SGD steps did move u (so the comparisons above compared updates).
    assert (stacked[0].u - first_u).abs().max() > 1e-4
    stacked.eval(), [m.eval() for m in members]
    normalized = stacked[0].normalized_weight()
    for j, member in enumerate(members):
        for layer, own in _pairs(stacked, member):
            # torch's W / sigma (eval mode: no iteration) against the stacked member's.
            torch.testing.assert_close(layer.normalized_weight()[j].t(), own.weight, rtol=1e-5, atol=1e-6)
        assert not torch.equal(normalized[j], stacked[0].weight[j])  # sigma is not 1: it normalizes


def test_normalized_weight_has_spectral_norm_one_after_power_iterations() -> None:
    members = [_critic(seed) for seed in (7, 8, 9)]
    stacked = stack(members, (IN_DIM,))
    layers = [layer for layer in stacked.modules() if isinstance(layer, StackedSpectralLinear)]
    # Start u and v from fresh random directions, so the 15 iterations at registration do not already
    # give the answer: the estimate then is visibly off for the square 16 x 16 layer.
    restart = torch.Generator().manual_seed(0)
    for layer in layers:
        layer.u.copy_(F.normalize(torch.randn(layer.u.shape, generator=restart), dim=1))
        layer.v.copy_(F.normalize(torch.randn(layer.v.shape, generator=restart), dim=1))
    start = torch.linalg.matrix_norm(layers[1].normalized_weight(), ord=2)
    assert (start - 1).abs().max() > 0.05

    stacked.train()
    x = torch.randn(3, 8, IN_DIM, generator=restart)
    iterations = 300
    with torch.no_grad():
        for _ in range(iterations):  # one power iteration per layer and forward
            stacked(x)
    # u^T W v <= sigma_1(W) for unit u and v, so W / (u^T W v) has norm >= 1 (up to float rounding);
    # power iteration's error in sigma_1 shrinks like (sigma_2 / sigma_1)^(2 n) after n iterations.
    # These weights have sigma_2 / sigma_1 <= 0.97, so that factor is below 1e-7 (asserted) and float32
    # rounding (~1e-7 relative per operation, summed over 16-term products) dominates: 1e-4 allows for it.
    for layer in layers:
        singular = torch.linalg.svdvals(layer.weight.detach())  # [K, min(in, out)], descending
        if singular.shape[1] > 1:
            assert ((singular[:, 1] / singular[:, 0]) ** (2 * iterations)).max() < 1e-7
        norms = torch.linalg.matrix_norm(layer.normalized_weight().detach(), ord=2)
        assert (norms >= 1 - 1e-5).all()
        torch.testing.assert_close(norms, torch.ones(3), rtol=0, atol=1e-4)


def test_unstack_gives_each_member_its_stacked_state() -> None:
    members = [_critic(seed) for seed in (20, 21, 22)]
    stacked = stack(members, (IN_DIM,))
    opt = torch.optim.SGD(stacked.parameters(), lr=0.5)
    draws = torch.Generator().manual_seed(1)
    stacked.train()
    for _ in range(3):
        opt.zero_grad()
        _loss(
            stacked(torch.randn(3, 8, IN_DIM, generator=draws)), stacked(torch.randn(3, 8, IN_DIM))
        ).sum().backward()
        opt.step()

    stacked.eval()
    x = torch.randn(3, 10, IN_DIM, generator=draws)
    with torch.no_grad():
        together = stacked(x)
    for k in range(3):
        target = _critic(50 + k).eval()  # different weights and vectors, overwritten by unstack
        with torch.no_grad():
            assert not torch.allclose(target(x[k]), together[k], atol=1e-3)
            copy = unstack(stacked, k, target)
            assert copy is target
            torch.testing.assert_close(copy(x[k]), together[k], rtol=1e-5, atol=1e-6)
        for layer, own in _pairs(stacked, copy):
            assert torch.equal(own.parametrizations.weight[0]._u, layer.u[k])
            assert torch.equal(own.parametrizations.weight[0]._v, layer.v[k])


def test_functional_call_updates_the_given_buffers_only() -> None:
    # The unrolled critic (ganbench.engine.train) runs the stacked critic on copies of its buffers:
    # the power iterations must update those copies in place and leave the critic's own alone.
    stacked = stack([_critic(0), _critic(1)], (IN_DIM,)).train()
    own = {name: b.clone() for name, b in stacked.named_buffers()}
    copies = {name: b.clone() for name, b in stacked.named_buffers()}
    params = dict(stacked.named_parameters())
    torch.func.functional_call(stacked, (params, copies), (torch.randn(2, 8, IN_DIM),))
    assert all(torch.equal(b, own[name]) for name, b in stacked.named_buffers())
    assert not torch.equal(copies["0.u"], own["0.u"])
