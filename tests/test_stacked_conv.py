"""Stacked convolutions, transposed convolutions, BatchNorm2d and GroupNorm: each member computes, learns
and keeps statistics as its own layer does, and a stacked DCGAN group trains as its separate runs."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import pytest
import torch
from torch import nn

from ganbench.engine.stacked import (
    STACKERS,
    CannotStack,
    StackedBatchNorm2d,
    StackedConv2d,
    StackedConvTranspose2d,
    StackedGroupNorm,
    stack,
    unstack,
)
from ganbench.engine.train import Member, stacking_problem, train, train_group
from ganbench.models import METHODS, NetworkSize

CPU = torch.device("cpu")
KS = [1, 2, 3, 5]
BATCH = 4
TOL = {"rtol": 1e-4, "atol": 1e-5}

# (id, the layer, one input's shape)
LAYERS: list[tuple[str, Callable[[], nn.Module], tuple[int, ...]]] = [
    ("conv-bias", lambda: nn.Conv2d(3, 4, 3), (3, 6, 6)),
    ("conv-stride-padding-no-bias", lambda: nn.Conv2d(3, 4, 4, 2, 1, bias=False), (3, 8, 8)),
    ("conv-dilation-groups", lambda: nn.Conv2d(4, 6, 3, 1, 2, dilation=2, groups=2), (4, 7, 7)),
    ("conv-rectangular", lambda: nn.Conv2d(2, 3, (3, 2), (2, 1), (1, 0)), (2, 7, 5)),
    ("convT-no-bias", lambda: nn.ConvTranspose2d(5, 4, 4, 2, 1, bias=False), (5, 4, 4)),
    ("convT-output-padding", lambda: nn.ConvTranspose2d(4, 3, 3, 2, 1, output_padding=1), (4, 5, 5)),
    ("convT-groups", lambda: nn.ConvTranspose2d(6, 4, 3, groups=2), (6, 3, 3)),
    ("convT-from-1x1", lambda: nn.ConvTranspose2d(8, 4, 7, 1, 0, bias=False), (8, 1, 1)),
    ("batchnorm", lambda: nn.BatchNorm2d(4), (4, 5, 5)),
    ("batchnorm-momentum", lambda: nn.BatchNorm2d(3, eps=1e-3, momentum=0.3), (3, 4, 4)),
    ("groupnorm-1", lambda: nn.GroupNorm(1, 6), (6, 4, 4)),
    ("groupnorm-3", lambda: nn.GroupNorm(3, 6), (6, 4, 4)),
    ("groupnorm-per-channel", lambda: nn.GroupNorm(4, 4, eps=1e-3), (4, 3, 3)),
]


def _members(make: Callable[[], nn.Module], k: int) -> list[nn.Module]:
    """k layers with different weights, norm scales and shifts included (not their 1 and 0)."""
    members = []
    for seed in range(k):
        torch.manual_seed(seed)
        layer = make()
        with torch.no_grad():
            for p in layer.parameters():
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if p.dim() == 1 and "Norm" in str(layer) else 0.0))
        members.append(layer)
    return members


def _as_gradients(stacked: nn.Module) -> nn.Module:
    """A copy of `stacked` holding its parameters' gradients as values: its member_state(k) is then
    member k's gradients, under the member layer's names."""
    grads = copy.deepcopy(stacked)
    with torch.no_grad():
        for p, original in zip(grads.parameters(), stacked.parameters(), strict=True):
            p.copy_(original.grad)
    return grads


def _assert_members(stacked: nn.Module, members: list[nn.Module], grads: bool = False) -> None:
    """Every member's parameters and buffers (or, with `grads`, its gradients) equal its own layer's."""
    source = _as_gradients(stacked) if grads else stacked
    for k, member in enumerate(members):
        own = {n: p.grad for n, p in member.named_parameters()} if grads else member.state_dict()
        state = source.member_state(k)
        if grads:
            state = {n: v for n, v in state.items() if n in own}
        assert state.keys() == own.keys()
        for name, value in state.items():
            torch.testing.assert_close(value, own[name], **TOL, msg=f"member {k} {name}")


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize(("make", "shape"), [case[1:] for case in LAYERS], ids=[case[0] for case in LAYERS])
def test_stacked_layer_is_each_members_own(
    make: Callable[[], nn.Module], shape: tuple[int, ...], k: int
) -> None:
    members = _members(make, k)
    stacked = stack(members, shape)
    assert type(stacked) is STACKERS[type(members[0])]
    stacked.train(), [m.train() for m in members]
    gen = torch.Generator().manual_seed(k)
    # Training mode, a few steps: outputs, gradients of inputs and weights, running statistics.
    for _ in range(3):
        x = torch.randn(k, BATCH, *shape, generator=gen) * 2 + 0.5
        x.requires_grad_(True)
        out = stacked(x)
        weights = torch.randn(out.shape, generator=gen)
        (out * weights).sum().backward()
        for i, member in enumerate(members):
            xi = x[i].detach().requires_grad_(True)
            own = member(xi)
            (own * weights[i]).sum().backward()
            torch.testing.assert_close(out[i], own, **TOL)
            torch.testing.assert_close(x.grad[i], xi.grad, **TOL)
        _assert_members(stacked, members, grads=True)
        _assert_members(stacked, members)  # batch norm: running statistics and batches tracked
        stacked.zero_grad(), [m.zero_grad() for m in members]
    # Eval mode: batch norm normalizes with each member's own running statistics.
    stacked.eval(), [m.eval() for m in members]
    x = torch.randn(k, BATCH, *shape, generator=gen)
    with torch.no_grad():
        out = stacked(x)
        for i, member in enumerate(members):
            torch.testing.assert_close(out[i], member(x[i]), **TOL)
    _assert_members(stacked, members)


def _net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(2, 6, 3, 1, 1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
        nn.Conv2d(6, 6, 4, 2, 1), nn.GroupNorm(2, 6), nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(6, 3, 4, 2, 1), nn.Tanh(),
    )  # fmt: skip


@pytest.mark.parametrize("k", [2, 3])
def test_unstack_round_trip(k: int) -> None:
    members = _members(_net, k)
    stacked = stack(members, (2, 8, 8))
    assert [type(m) for m in stacked if m.__class__.__module__ == "ganbench.engine.stacked"] == [
        StackedConv2d, StackedBatchNorm2d, StackedConv2d, StackedGroupNorm, StackedConvTranspose2d,
    ]  # fmt: skip
    # Train the stack a little (Adam moves every weight; batch norm moves its statistics).
    optimizer = torch.optim.Adam(stacked.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(0)
    stacked.train()
    for _ in range(3):
        optimizer.zero_grad()
        stacked(torch.randn(k, BATCH, 2, 8, 8, generator=gen)).square().mean(
            dim=(1, 2, 3, 4)
        ).sum().backward()
        optimizer.step()
    stacked.eval()
    x = torch.randn(k, BATCH, 2, 8, 8, generator=gen)
    with torch.no_grad():
        together = stacked(x)
    for i in range(k):
        fresh = _net()
        keys = fresh.state_dict().keys()
        unstacked = unstack(stacked, i, fresh).eval()
        assert unstacked.state_dict().keys() == keys, "the member layer's own names"
        assert not torch.equal(unstacked[0].weight, members[i][0].weight), "trained weights came back"
        assert int(unstacked[1].num_batches_tracked) == 3
        with torch.no_grad():
            torch.testing.assert_close(unstacked(x[i]), together[i], **TOL)
    # Stacked again, the unstacked members give the same stack.
    again = stack([unstack(stacked, i, _net()) for i in range(k)], (2, 8, 8)).eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x), together, **TOL)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda s: nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"), "padding mode 'reflect'"),
        (lambda s: nn.Conv2d(2, 2, 3, stride=1 + s), "different stride"),
        (lambda s: nn.Conv2d(2, 2, 3, bias=s == 0), "with and without bias"),
        (lambda s: nn.ConvTranspose2d(2, 2, 3, 2, output_padding=s), "different output_padding"),
        (lambda s: nn.GroupNorm(1, 2, affine=False), "GroupNorm without affine"),
        (lambda s: nn.GroupNorm(1 + s, 2), "different num_groups"),
        (lambda s: nn.BatchNorm2d(2, track_running_stats=False), "BatchNorm2d without affine"),
        (lambda s: nn.BatchNorm2d(2, momentum=None), "BatchNorm2d without affine"),
        (lambda s: nn.BatchNorm2d(2, affine=False), "BatchNorm2d without affine"),
    ],
)
def test_layers_without_a_stacked_form_are_refused(make: Callable[[int], nn.Module], reason: str) -> None:
    with pytest.raises(CannotStack, match=reason):
        stack([nn.Sequential(make(s)) for s in range(2)], (2, 6, 6))


@pytest.mark.parametrize("pack", [1, 2])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)], ids=["28px", "32px"])
@pytest.mark.parametrize("architecture", ["dcgan", "dcgan-gp"])
def test_the_dcgan_networks_stack(architecture: str, shape: tuple[int, ...], pack: int) -> None:
    hp = dataclasses.replace(METHODS.get("dcgan").defaults, architecture=architecture, pack=pack)
    assert stacking_problem(hp, NetworkSize(16, 4, 0), shape) is None


class _Images:
    """Images with some structure (a bright square at a random place, on noise), in [-1, 1]."""

    modality = "images"

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        x = torch.rand(n, *self.shape, generator=generator) * 0.4 - 1
        corners = torch.randint(0, self.shape[-1] - 6, (n, 2), generator=generator)
        for i, (row, col) in enumerate(corners.tolist()):
            x[i, :, row : row + 6, col : col + 6] = 1.0
        return x


GROUPS = [
    ("dcgan", "dcgan", (1, 28, 28)),
    ("wgan-gp", "dcgan-gp", (1, 28, 28)),
    ("pacgan2", "dcgan", (3, 32, 32)),  # the packed discriminator sees 6 channels
]


@pytest.mark.parametrize(("method_name", "architecture", "shape"), GROUPS, ids=[g[0] for g in GROUPS])
def test_a_stacked_dcgan_group_matches_separate_runs(method_name: str, architecture: str, shape) -> None:
    method = METHODS.get(method_name)
    hp = dataclasses.replace(method.defaults, architecture=architecture)
    size, steps, batch = NetworkSize(latent_dim=8, width=4, depth=0), 3, 8
    data = [_Images(shape), _Images(shape)]
    members = [Member(seed, data[i % 2]) for i, seed in enumerate([0, 1, 7])]
    together = train_group(method, hp, members, size, steps, batch, CPU, log_every=1)
    for member, result in zip(members, together, strict=True):
        alone = train(method, hp, member.dataset, size, steps, batch, member.seed, CPU, log_every=1)
        assert result.status == alone.status == "ok" and result.loss_steps == alone.loss_steps
        torch.testing.assert_close(torch.tensor(result.d_losses), torch.tensor(alone.d_losses), **TOL)
        torch.testing.assert_close(torch.tensor(result.g_losses), torch.tensor(alone.g_losses), **TOL)
        for net in ("generator", "critic"):
            state, own = getattr(result, net).state_dict(), getattr(alone, net).state_dict()
            assert state.keys() == own.keys()
            for name, value in state.items():
                torch.testing.assert_close(value, own[name], rtol=1e-4, atol=1e-4, msg=f"{net} {name}")
    # The members did not train alike: seeds and data streams are their own.
    assert together[0].d_losses != together[1].d_losses
