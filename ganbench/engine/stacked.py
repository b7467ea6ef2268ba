"""Stacked networks: K copies of one architecture as one model on [K, batch, ...] inputs.

Every layer with weights is rewritten explicitly in stacked form: a linear layer is one batched
matmul over K weight matrices; a convolution or transposed convolution is one grouped convolution
over the members' channels side by side ([K, B, C, H, W] as [B, K C, H, W], K times the layer's own
groups); batch norm (1d or 2d) normalizes each member over its own batch and keeps its own running
statistics (so eval mode uses each member's own); group norm normalizes K times the layer's groups,
each member's with its own scale and shift; a spectrally normalized linear layer keeps each
member's own power-iteration vectors. Layers without weights (ReLU, a maxout's max over pieces,
Unflatten and means over the trailing axes, containers) are reused as they are, since they act on
the last axes.
Each member's loss is its own mean, so the gradient of the summed loss is every member's own
gradient, and Adam and RMSprop are elementwise: K stacked members train exactly as K separate
ones, up to floating-point summation order.

`stack` refuses (with the reason) a network it cannot stack, and checks the stacked outputs
against the members' own before training, so nothing is batched wrongly in silence.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm


class CannotStack(Exception):
    """A network has a layer without a stacked form (the message names it)."""


class StackedLinear(nn.Module):
    """K linear layers: y[k] = x[k] W[k] + b[k] as one batched matmul."""

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        if any(layer.bias is None for layer in layers):
            raise CannotStack("a Linear layer without bias")
        self.weight = nn.Parameter(torch.stack([layer.weight.detach().t() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]).unsqueeze(1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.baddbmm(self.bias, x, self.weight)

    def member_state(self, k: int) -> dict[str, Tensor]:
        return {"weight": self.weight[k].t(), "bias": self.bias[k, 0]}


def _side_by_side(x: Tensor) -> Tensor:
    """[K, B, C, ...] -> [B, K C, ...]: member k's channel c is channel k C + c of one batch."""
    k, n, c, *rest = x.shape
    return x.transpose(0, 1).reshape(n, k * c, *rest)


def _apart(y: Tensor, k: int) -> Tensor:
    """[B, K C, ...] -> [K, B, C, ...], the inverse of `_side_by_side`."""
    n, kc, *rest = y.shape
    return y.view(n, k, kc // k, *rest).transpose(0, 1)


def _same_settings(layers: list[nn.Module], names: tuple[str, ...]) -> None:
    """Refuse layers whose settings `names` differ (members of one stack share an architecture)."""
    first = layers[0]
    for name in names:
        if any(getattr(layer, name) != getattr(first, name) for layer in layers):
            raise CannotStack(f"{type(first).__name__} layers with different {name}")


class _StackedBatchNorm(nn.Module):
    """K batch-norm layers on [K, batch, C, ...]: each member normalized over its own batch.

    Training mode normalizes with the batch's biased variance and moves the running statistics
    towards the batch mean and unbiased variance by `momentum`, as torch's batch norm does; eval
    mode uses each member's running statistics.
    """

    def __init__(self, layers: list[nn.modules.batchnorm._BatchNorm]) -> None:
        super().__init__()
        first = layers[0]
        if not (first.affine and first.track_running_stats) or first.momentum is None:
            raise CannotStack(
                f"a {type(first).__name__} without affine weights, running statistics or momentum"
            )
        _same_settings(layers, ("num_features", "eps", "momentum", "affine", "track_running_stats"))
        self.eps, self.momentum = first.eps, first.momentum
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]).unsqueeze(1))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]).unsqueeze(1))
        self.register_buffer("running_mean", torch.stack([layer.running_mean for layer in layers]))
        self.register_buffer("running_var", torch.stack([layer.running_var for layer in layers]))
        counts = torch.stack([layer.num_batches_tracked for layer in layers])
        self.register_buffer("num_batches_tracked", counts)

    def forward(self, x: Tensor) -> Tensor:
        # Member k's channel c is channel k C + c of one ordinary batch norm over [batch, K C, ...]:
        # torch's fused kernel (the one each member's own layer runs) normalizes it over that member's
        # batch and updates its running statistics in place, through views of the stacked buffers.
        out = F.batch_norm(
            _side_by_side(x), self.running_mean.view(-1), self.running_var.view(-1), self.weight.view(-1),
            self.bias.view(-1), self.training, self.momentum, self.eps,
        )  # fmt: skip
        if self.training:
            self.num_batches_tracked.add_(1)
        return _apart(out, x.shape[0])

    def member_state(self, k: int) -> dict[str, Tensor]:
        return {
            "weight": self.weight[k, 0],
            "bias": self.bias[k, 0],
            "running_mean": self.running_mean[k],
            "running_var": self.running_var[k],
            "num_batches_tracked": self.num_batches_tracked[k],
        }


class StackedBatchNorm1d(_StackedBatchNorm):
    """K BatchNorm1d layers on [K, batch, C] (or [K, batch, C, L])."""


class StackedBatchNorm2d(_StackedBatchNorm):
    """K BatchNorm2d layers on [K, batch, C, H, W]: statistics per member and channel over its own
    batch and positions."""


class StackedGroupNorm(nn.Module):
    """K GroupNorm layers on [K, batch, C, ...]: one group norm with K G groups over [batch, K C, ...].

    Group g of member k covers its channels g C/G .. (g + 1) C/G - 1, which are channels k C + g C/G ..
    of the side-by-side batch: group k G + g of the stacked norm, so each sample of each member is
    normalized over its own groups, and scaled and shifted by its member's own weight and bias.
    """

    def __init__(self, layers: list[nn.GroupNorm]) -> None:
        super().__init__()
        first = layers[0]
        if not first.affine:
            raise CannotStack("a GroupNorm without affine weights")
        _same_settings(layers, ("num_groups", "num_channels", "eps", "affine"))
        self.num_groups, self.eps = first.num_groups, first.eps
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]))

    def forward(self, x: Tensor) -> Tensor:
        k = x.shape[0]
        out = F.group_norm(
            _side_by_side(x), k * self.num_groups, self.weight.view(-1), self.bias.view(-1), self.eps
        )
        return _apart(out, k)

    def member_state(self, k: int) -> dict[str, Tensor]:
        return {"weight": self.weight[k], "bias": self.bias[k]}


class _StackedConv(nn.Module):
    """K convolutions (or transposed convolutions) as one grouped one over the members' channels.

    The weights are stored [K, *the layer's weight shape], so member k's are `weight[k]`; flattened
    along the first two axes they are the weight of a convolution with K times the layer's groups on
    [B, K C, H, W], whose group k g + j is member k's group j. The bias, when the layers have one, is
    [K, C_out].
    """

    transposed = False
    SETTINGS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups")

    def __init__(self, layers: list[nn.Conv2d] | list[nn.ConvTranspose2d]) -> None:
        super().__init__()
        first = layers[0]
        name = type(first).__name__
        if any(layer.padding_mode != "zeros" for layer in layers):
            raise CannotStack(f"a {name} with padding mode {first.padding_mode!r} (only zeros is stacked)")
        has_bias = [layer.bias is not None for layer in layers]
        if len(set(has_bias)) > 1:
            raise CannotStack(f"{name} layers with and without bias")
        _same_settings(layers, self.SETTINGS + (("output_padding",) if self.transposed else ()))
        self.stride, self.padding, self.dilation = first.stride, first.padding, first.dilation
        self.groups, self.output_padding = first.groups, getattr(first, "output_padding", None)
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))
        bias = torch.stack([layer.bias.detach() for layer in layers]) if has_bias[0] else None
        self.bias = None if bias is None else nn.Parameter(bias)

    def forward(self, x: Tensor) -> Tensor:
        k = x.shape[0]
        weight = self.weight.flatten(0, 1)
        bias = None if self.bias is None else self.bias.flatten()
        if self.transposed:
            out = F.conv_transpose2d(
                _side_by_side(x), weight, bias, self.stride, self.padding, self.output_padding,
                k * self.groups, self.dilation,
            )  # fmt: skip
        else:
            out = F.conv2d(
                _side_by_side(x), weight, bias, self.stride, self.padding, self.dilation, k * self.groups
            )
        return _apart(out, k)

    def member_state(self, k: int) -> dict[str, Tensor]:
        state = {"weight": self.weight[k]}
        if self.bias is not None:
            state["bias"] = self.bias[k]
        return state


class StackedConv2d(_StackedConv):
    """K Conv2d layers on [K, batch, C, H, W]: one grouped F.conv2d."""

    def __init__(self, layers: list[nn.Conv2d]) -> None:
        super().__init__(layers)


class StackedConvTranspose2d(_StackedConv):
    """K ConvTranspose2d layers on [K, batch, C, H, W]: one grouped F.conv_transpose2d (its weight is
    [C_in, C_out / groups, kh, kw], so the members' weights also sit side by side along the first axis).
    The output padding is the layer's own: an `output_size` given at call time is not supported."""

    transposed = True

    def __init__(self, layers: list[nn.ConvTranspose2d]) -> None:
        super().__init__(layers)


def spectral_norm_of(layer: nn.Module) -> _SpectralNorm | None:
    """torch's spectral norm of `layer`'s weight, when `layer` is a Linear layer with no other
    parametrization (`torch.nn.utils.parametrizations.spectral_norm`); None otherwise."""
    if not isinstance(layer, nn.Linear) or not parametrize.is_parametrized(layer, "weight"):
        return None
    parametrizations = layer.parametrizations
    if list(parametrizations.keys()) != ["weight"] or len(parametrizations.weight) != 1:
        return None
    norm = parametrizations.weight[0]
    return norm if isinstance(norm, _SpectralNorm) else None


class StackedSpectralLinear(nn.Module):
    """K spectrally normalized Linear layers (Miyato et al. 2018): y[k] = x[k] (W[k] / sigma[k])^T + b[k].

    Each member keeps its own unnormalized weight (stored transposed, [K, in, out], as in
    StackedLinear), bias and power-iteration vectors u [K, out] and v [K, in]. The forward mirrors
    torch's `_SpectralNorm` (torch/nn/utils/parametrizations.py), batched over members: in training
    mode it first runs its power iterations in place and without gradient (u = normalize(W v), then
    v = normalize(W^T u)); then sigma = u^T W v with copies of u and v, differentiable in W only.
    Eval mode runs no iteration.
    """

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        norms = [spectral_norm_of(layer) for layer in layers]
        if any(norm is None for norm in norms):
            raise CannotStack("a parametrized layer other than torch's spectral norm of a Linear weight")
        settings = {(norm.n_power_iterations, norm.eps, norm.dim) for norm in norms}
        if len(settings) > 1 or norms[0].dim != 0:
            raise CannotStack("spectral-normed Linear layers with different or unusual settings")
        if any(layer.bias is None for layer in layers):
            raise CannotStack("a Linear layer without bias")
        self.n_power_iterations, self.eps = norms[0].n_power_iterations, norms[0].eps
        originals = [layer.parametrizations.weight.original.detach().t() for layer in layers]
        self.weight = nn.Parameter(torch.stack(originals))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]).unsqueeze(1))
        self.register_buffer("u", torch.stack([norm._u for norm in norms]))
        self.register_buffer("v", torch.stack([norm._v for norm in norms]))

    @torch.no_grad()
    def _power_method(self) -> None:
        # torch's _SpectralNorm._power_method: u and v are updated in place (out=), so the update also
        # reaches buffers passed in by torch.func.functional_call. self.weight[k] is W[k] transposed.
        for _ in range(self.n_power_iterations):
            wv = torch.einsum("ki,kio->ko", self.v, self.weight)
            F.normalize(wv, dim=1, eps=self.eps, out=self.u)
            wtu = torch.einsum("kio,ko->ki", self.weight, self.u)
            F.normalize(wtu, dim=1, eps=self.eps, out=self.v)

    def normalized_weight(self) -> Tensor:
        """W[k] / sigma[k] for every member (transposed, [K, in, out]), from the current u and v."""
        # Copies, as torch takes them: a later forward's in-place update must not change the u and v
        # an earlier forward's graph saved (D(real) and D(fake) backpropagated together).
        u = self.u.clone(memory_format=torch.contiguous_format)
        v = self.v.clone(memory_format=torch.contiguous_format)
        sigma = (u * torch.einsum("ki,kio->ko", v, self.weight)).sum(dim=1)  # u^T W v
        return self.weight / sigma[:, None, None]

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            self._power_method()
        return torch.baddbmm(self.bias, x, self.normalized_weight())

    def member_state(self, k: int) -> dict[str, Tensor]:
        # The names of the parameters and buffers of a Linear layer under torch's spectral_norm.
        return {
            "parametrizations.weight.original": self.weight[k].t(),
            "bias": self.bias[k, 0],
            "parametrizations.weight.0._u": self.u[k],
            "parametrizations.weight.0._v": self.v[k],
        }


# Layer types with weights or buffers, and their stacked forms. A plugin whose networks use another
# such layer registers its stacked form here (a module with `member_state(k)`); a layer may instead
# name its own as the class attribute `stacked_form` (ganbench.models.dirac: models do not import the
# engine).
STACKERS: dict[type[nn.Module], Callable[[list], nn.Module]] = {
    nn.Linear: StackedLinear,
    nn.BatchNorm1d: StackedBatchNorm1d,
    nn.BatchNorm2d: StackedBatchNorm2d,
    nn.GroupNorm: StackedGroupNorm,
    nn.Conv2d: StackedConv2d,
    nn.ConvTranspose2d: StackedConvTranspose2d,
}


def _stack_into(template: nn.Module, members: list[nn.Module]) -> nn.Module:
    # A parametrized layer's class is made when the parametrization is registered (ParametrizedLinear),
    # so STACKERS cannot name it: torch's spectral norm of a Linear weight is the one with a stacked form.
    if parametrize.is_parametrized(template):
        if spectral_norm_of(template) is None:
            raise CannotStack(f"{type(template).__name__} has a parametrization without a stacked form")
        return StackedSpectralLinear(members)
    stacker = STACKERS.get(type(template)) or getattr(type(template), "stacked_form", None)
    if stacker is not None:
        return stacker(members)
    own = list(template.named_parameters(recurse=False)) + list(template.named_buffers(recurse=False))
    if own:
        raise CannotStack(f"{type(template).__name__} has no stacked form")
    for name, child in template.named_children():
        setattr(template, name, _stack_into(child, [m.get_submodule(name) for m in members]))
    return template


def stack(members: list[nn.Module], check_shape: tuple[int, ...]) -> nn.Module:
    """One module computing all `members` at once on [K, batch, ...] inputs (members unchanged).

    `check_shape` is one input's shape: the stacked outputs are compared with each member's own on
    random inputs in eval mode, so a layer that mixes members (for example one that flattens the
    leading axis) is refused with CannotStack instead of training wrongly.
    """
    stacked = _stack_into(copy.deepcopy(members[0]), members)
    was_training = [m.training for m in members]
    stacked.eval(), [m.eval() for m in members]
    try:
        x = torch.randn(len(members), 3, *check_shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            together = stacked(x.to(next(stacked.parameters()).device))
            alone = [m(x[k].to(together.device)) for k, m in enumerate(members)]
        for k, out in enumerate(alone):
            if not torch.allclose(together[k], out, rtol=1e-4, atol=1e-5):
                raise CannotStack(f"{type(members[0]).__name__} mixes members when stacked")
    finally:
        stacked.train(was_training[0])
        for member, mode in zip(members, was_training, strict=True):
            member.train(mode)
    return stacked


def unstack(stacked: nn.Module, k: int, module: nn.Module) -> nn.Module:
    """Member k's weights and buffers copied into `module` (a network of the stacked architecture)."""
    with torch.no_grad():
        for name, layer in stacked.named_modules():
            member_state = getattr(layer, "member_state", None)
            if member_state is not None:
                target = module.get_submodule(name)
                for key, value in member_state(k).items():
                    _tensor_at(target, key).copy_(value)
    return module


def _tensor_at(module: nn.Module, key: str) -> Tensor:
    """`module`'s parameter or buffer `key`: its own ("weight") or a submodule's, by a dotted path
    ("parametrizations.weight.0._u")."""
    path, _, name = key.rpartition(".")
    return getattr(module.get_submodule(path), name)


class Single(nn.Module):
    """One network as a stack of one: [1, batch, ...] in and out, for networks `stack` refuses."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: Tensor) -> Tensor:
        return self.module(x[0]).unsqueeze(0)


def stack_or_single(members: list[nn.Module], check_shape: tuple[int, ...]) -> tuple[nn.Module, str | None]:
    """`stack(members)`, or for one member that cannot be stacked `Single`, with the reason.

    Several members that cannot be stacked raise CannotStack: the caller groups only stackable jobs.
    """
    try:
        return stack(members, check_shape), None
    except CannotStack as err:
        if len(members) > 1:
            raise
        return Single(members[0]), str(err)
