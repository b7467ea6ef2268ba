"""The critic's extra terms, every method's default hooks: penalties (gradient, R1, R2, DRAGAN) and clipping.

Hooks work on stacked members: inputs are [K, batch, ...] (K members trained together, see
ganbench.engine.stacked) and a penalty returns one value per member, [K]. Each term reads its weight
from its own setting (0 turns it off), so a suite can turn any of them on for any method; terms that
are on add up. Spectral normalization changes the critic's layers instead (ganbench.models.spectral).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ganbench.models.settings import Hyperparameters

# Draws uniform [0, 1) numbers of a given per-member shape from each member's own penalty stream.
Uniform = Callable[[tuple[int, ...]], Tensor]


def is_on(strength: float | Tensor) -> bool:
    """Whether a regularizer's setting turns it on: a non-zero number, or a [K] tensor of per-member
    values (members of one model share on or off: ganbench.models.base.SWITCHED)."""
    return isinstance(strength, Tensor) or bool(strength)


def input_gradient_norms(critic: nn.Module, x: Tensor) -> Tensor:
    """||grad_x D(x)||_2 of every (packed) sample, [K, batch], with the graph kept for the penalty's own
    gradient. Members and samples are independent, so one backward of the sum gives every one's own."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return grad.flatten(2).norm(dim=2)


def _per_sample(uniform: Uniform, like: Tensor) -> Tensor:
    """One U[0, 1) draw per sample of each member, [K, batch, 1, ...] to broadcast over `like`."""
    return uniform((like.shape[1],) + (1,) * (like.dim() - 2))


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor, eps: Tensor) -> Tensor:
    """Per member, E[(||grad D(x_hat)||_2 - 1)^2] at x_hat = e x + (1 - e) G(z); [K].

    Gulrajani et al. 2017, Algorithm 1, with e ~ U[0, 1] per sample given as `eps` ([K, batch, 1,
    ...]). The norm is over one (packed) sample's features; the caller multiplies by lambda.
    """
    return ((input_gradient_norms(critic, eps * real + (1 - eps) * fake) - 1) ** 2).mean(dim=1)


def zero_centred_penalty(critic: nn.Module, x: Tensor) -> Tensor:
    """Per member, 1/2 E[||grad D(x)||_2^2] at the samples `x`; [K]. On real samples it is R1, on
    generated ones R2 (Mescheder et al. 2018, eq. 9 and 10); the caller multiplies by gamma."""
    return 0.5 * (input_gradient_norms(critic, x) ** 2).mean(dim=1)


def dragan_penalty(critic: nn.Module, real: Tensor, spread: float, noise: Tensor, alpha: Tensor) -> Tensor:
    """Per member, E[(||grad D(x + a d)||_2 - 1)^2] around perturbed real samples; [K].

    Kodali et al. 2017 penalize the gradient norm near the real data; as in the authors' code, the
    perturbation is d = spread x std(batch) x u with u ~ U[0, 1] per feature (`noise`, the shape of
    `real`), and the point is a ~ U[0, 1] of the way from x to x + d (`alpha`, [K, batch, 1, ...]).
    The batch's standard deviation is each member's own, over all its values, as numpy's `X.std()` in the
    code (no Bessel correction).
    """
    std = real.flatten(1).std(dim=1, correction=0).view(-1, *[1] * (real.dim() - 1))
    return ((input_gradient_norms(critic, real + alpha * spread * std * noise) - 1) ** 2).mean(dim=1)


@dataclass(frozen=True)
class PenaltyTerm:
    """One penalty the critic's loss can carry: its name, the setting that weights it (0: off), and
    the unweighted per-member value [K] from (critic, real, fake, settings, uniform draws)."""

    name: str
    setting: str
    value: Callable[[nn.Module, Tensor, Tensor, Hyperparameters, Uniform], Tensor]


def _gp(critic: nn.Module, real: Tensor, fake: Tensor, hp: Hyperparameters, uniform: Uniform) -> Tensor:
    eps = _per_sample(uniform, real)
    return gradient_penalty(critic, real, fake, eps)


def _r1(critic: nn.Module, real: Tensor, fake: Tensor, hp: Hyperparameters, uniform: Uniform) -> Tensor:
    return zero_centred_penalty(critic, real)


def _r2(critic: nn.Module, real: Tensor, fake: Tensor, hp: Hyperparameters, uniform: Uniform) -> Tensor:
    return zero_centred_penalty(critic, fake)


def _dragan(critic: nn.Module, real: Tensor, fake: Tensor, hp: Hyperparameters, uniform: Uniform) -> Tensor:
    noise, alpha = uniform(tuple(real.shape[1:])), _per_sample(uniform, real)
    return dragan_penalty(critic, real, hp.dragan_spread, noise, alpha)


# In this order: the gradient penalty's draws come first, as before the others existed, so a method's
# penalty stream (and its results) did not change when they were added.
PENALTIES = (
    PenaltyTerm("gradient penalty (Gulrajani et al. 2017)", "gp_lambda", _gp),
    PenaltyTerm("R1 (Mescheder et al. 2018)", "r1_gamma", _r1),
    PenaltyTerm("R2 (Mescheder et al. 2018)", "r2_gamma", _r2),
    PenaltyTerm("DRAGAN (Kodali et al. 2017)", "dragan_lambda", _dragan),
)


def penalty_from_hyperparameters(
    critic: nn.Module, real: Tensor, fake: Tensor, hp: Hyperparameters, uniform: Uniform
) -> Tensor | None:
    """The sum of every penalty whose setting is on, times that setting; None when all are off (no
    draws are made then). In a stacked model whose members differ in a weight, it is a [K] tensor."""
    total = None
    for term in PENALTIES:
        weight = getattr(hp, term.setting)
        if is_on(weight):
            value = weight * term.value(critic, real, fake, hp, uniform)
            total = value if total is None else total + value
    return total


@torch.no_grad()
def clip_from_hyperparameters(critic: nn.Module, hp: Hyperparameters) -> None:
    """Clamp every critic weight to [-clip, clip] after each critic step (Arjovsky et al. 2017,
    Algorithm 1); nothing when `clip` is 0. A [K] tensor `clip` bounds each member by its own."""
    if not is_on(hp.clip):
        return
    for p in critic.parameters():
        bound = hp.clip.view(-1, *[1] * (p.dim() - 1)) if isinstance(hp.clip, Tensor) else hp.clip
        p.clamp_(-bound, bound)
