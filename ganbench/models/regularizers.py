"""The critic's extra terms, every method's default hooks: the gradient penalty and weight clipping.

Hooks work on stacked members: inputs are [K, batch, ...] (K members trained together, see
ganbench.engine.stacked) and a penalty returns one value per member, [K]. Both read their strength
from the hyperparameters, so a suite can turn them on or off for any method (`gp_lambda`, `clip`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

# Draws uniform [0, 1) numbers of a given per-member shape from each member's own penalty stream.
Uniform = Callable[[tuple[int, ...]], Tensor]


def is_on(strength: float | Tensor) -> bool:
    """Whether a regularizer's setting turns it on: a non-zero number, or a [K] tensor of per-member
    values (members of one model share on or off: ganbench.models.base.SWITCHED)."""
    return isinstance(strength, Tensor) or bool(strength)


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor, eps: Tensor) -> Tensor:
    """Per member, E[(||grad D(x_hat)||_2 - 1)^2] at x_hat = e x + (1 - e) G(z); [K].

    Gulrajani et al. 2017, Algorithm 1, with e ~ U[0, 1] per sample given as `eps` ([K, batch, 1,
    ...]). The norm is over one (packed) sample's features; the caller multiplies by lambda.
    """
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(2).norm(dim=2) - 1) ** 2).mean(dim=1)


def penalty_from_hyperparameters(
    critic: nn.Module, real: Tensor, fake: Tensor, hp, uniform: Uniform
) -> Tensor | None:
    """`gp_lambda` x the gradient penalty, or None when `gp_lambda` is 0 (no draws are made then).

    In a stacked model whose members differ in `gp_lambda`, it is a [K] tensor (all non-zero).
    """
    if not is_on(hp.gp_lambda):
        return None
    eps = uniform((real.shape[1],) + (1,) * (real.dim() - 2))
    return hp.gp_lambda * gradient_penalty(critic, real, fake, eps)


@torch.no_grad()
def clip_from_hyperparameters(critic: nn.Module, hp) -> None:
    """Clamp every critic weight to [-clip, clip] after each critic step (Arjovsky et al. 2017,
    Algorithm 1); nothing when `clip` is 0. A [K] tensor `clip` bounds each member by its own."""
    if not is_on(hp.clip):
        return
    for p in critic.parameters():
        bound = hp.clip.view(-1, *[1] * (p.dim() - 1)) if isinstance(hp.clip, Tensor) else hp.clip
        p.clamp_(-bound, bound)
