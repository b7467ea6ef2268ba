"""Stacked optimizers: Adam, RMSprop and SGD whose step size and moment decays are each member's own.

A tuning search trains members with different optimizer settings as one stacked model
(ganbench.engine.stacked): every parameter is [K, ...] with member k at index k, so per-member
settings are [K] tensors broadcast over the rest of each parameter. The update is torch's own,
written once per parameter tensor: Adam as in `torch.optim.Adam` (Kingma and Ba 2015, Algorithm 1,
bias-corrected moments), RMSprop as in `torch.optim.RMSprop` (uncentred, no momentum), SGD as
`torch.optim.SGD` (no momentum). Member k
therefore follows the run of torch's optimizer with its own settings, to float rounding. Members that
share their settings keep torch's optimizers (`ganbench.engine.train.make_optimizer`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

# torch.optim's defaults, which separate runs use: Adam's and RMSprop's eps, RMSprop's alpha.
EPS = 1e-8
RMSPROP_ALPHA = 0.99


def _per_member(values: Sequence[float], device: torch.device) -> Tensor:
    return torch.tensor(values, dtype=torch.float32, device=device)


def _along_members(value: Tensor, param: Tensor) -> Tensor:
    """A [K] setting shaped to broadcast over a [K, ...] parameter."""
    return value.view(-1, *([1] * (param.dim() - 1)))


class _PerMember(torch.optim.Optimizer):
    """The loop both stacked optimizers share: `_update` each parameter that has a gradient."""

    @torch.no_grad()
    def step(self, closure=None) -> None:  # noqa: ANN001 - torch's signature
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    state = self.state[p]
                    if not state:
                        state["step"] = torch.tensor(0.0)
                    state["step"] += 1
                    self._update(p, p.grad, state, group)

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError


class StackedAdam(_PerMember):
    """Adam with a learning rate and betas per member (no weight decay, no AMSGrad)."""

    def __init__(
        self, params: Iterable[nn.Parameter], lr: Sequence[float], beta1: Sequence[float],
        beta2: Sequence[float], eps: float = EPS,
    ) -> None:  # fmt: skip
        params = list(params)
        device = params[0].device
        defaults = {
            "lr": _per_member(lr, device),
            "beta1": _per_member(beta1, device),
            "beta2": _per_member(beta2, device),
            "eps": eps,
        }
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        if "exp_avg" not in state:
            state["exp_avg"], state["exp_avg_sq"] = torch.zeros_like(p), torch.zeros_like(p)
        step = state["step"].item()
        lr, b1, b2 = (_along_members(group[k], p) for k in ("lr", "beta1", "beta2"))
        state["exp_avg"].lerp_(grad, 1 - b1)
        state["exp_avg_sq"].mul_(b2).addcmul_(grad, grad * (1 - b2))
        step_size = lr / (1 - b1**step)
        denom = (state["exp_avg_sq"].sqrt() / (1 - b2**step).sqrt()).add_(group["eps"])
        p.sub_(step_size * state["exp_avg"] / denom)


class StackedRMSprop(_PerMember):
    """RMSprop with a learning rate per member (alpha 0.99, uncentred, no momentum: torch's defaults)."""

    def __init__(
        self, params: Iterable[nn.Parameter], lr: Sequence[float], alpha: float = RMSPROP_ALPHA,
        eps: float = EPS,
    ) -> None:  # fmt: skip
        params = list(params)
        super().__init__(params, {"lr": _per_member(lr, params[0].device), "alpha": alpha, "eps": eps})

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        if "square_avg" not in state:
            state["square_avg"] = torch.zeros_like(p)
        alpha = group["alpha"]
        state["square_avg"].mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
        avg = state["square_avg"].sqrt().add_(group["eps"])
        p.sub_(_along_members(group["lr"], p) * grad / avg)


class StackedSGD(_PerMember):
    """Plain gradient descent with a learning rate per member (no momentum: torch's default)."""

    def __init__(self, params: Iterable[nn.Parameter], lr: Sequence[float]) -> None:
        params = list(params)
        super().__init__(params, {"lr": _per_member(lr, params[0].device)})

    def _update(self, p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
        p.sub_(_along_members(group["lr"], p) * grad)
