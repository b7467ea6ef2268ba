"""DCGAN (Radford et al. 2016): all-convolutional image networks, and a critic variant for WGAN-GP."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ganbench.models.base import ARCHITECTURES, Architecture, NetworkSize

# The DCGAN paper, section 4: LeakyReLU slope 0.2 in D; weights drawn from N(0, 0.02^2).
LEAKY_SLOPE = 0.2
INIT_STD = 0.02
# Largest base resolution: image sides are halved (one stride-2 level each) while even and above it.
MAX_BASE = 7

Norm = Callable[[int], nn.Module]


class GlobalAverage(nn.Module):
    """Mean over the spatial axes: (B, C, H, W) -> (B, C), the critic's score without a linear layer.

    It averages the last two axes, so it also works on stacked members' maps (K, B, C, H, W)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(-2, -1))


def layer_norm(channels: int) -> nn.Module:
    """Layer norm for conv maps: one group normalizes each sample over (C, H, W)."""
    return nn.GroupNorm(1, channels)


def levels(side: int) -> tuple[int, int]:
    """(base, n): side = base x 2^n, halving while even and above MAX_BASE (28 -> 7, 32 -> 4, 64 -> 4)."""
    base, n = side, 0
    while base % 2 == 0 and base > MAX_BASE:
        base, n = base // 2, n + 1
    return base, n


def generator(latent_dim: int, channels: int, side: int, width: int) -> nn.Sequential:
    """z (B, latent_dim) -> image (B, channels, side, side) in [-1, 1], transposed convolutions only.

    A ConvTranspose2d of kernel `base` lifts the 1x1 code to base x base, then n - 1 of kernel 4,
    stride 2, padding 1 double it, each with batch norm and ReLU; the last doubling outputs the image
    through tanh. Feature maps halve per level down to `width` at the last hidden layer (ngf).
    """
    base, n = levels(side)
    widths = [width * 2 ** (n - 1 - i) for i in range(n)]  # 28: 2w, w; 32: 4w, 2w, w; 64: 8w .. w
    # The code's last axis becomes the 1x1 map (also for stacked members' codes, (K, B, latent_dim)).
    layers: list[nn.Module] = [nn.Unflatten(-1, (latent_dim, 1, 1))]
    # Convolutions followed by batch norm carry no bias: its shift replaces it (as in the DCGAN code).
    layers += [nn.ConvTranspose2d(latent_dim, widths[0], base, 1, 0, bias=False)]
    layers += [nn.BatchNorm2d(widths[0]), nn.ReLU()]
    for c_in, c_out in zip(widths, widths[1:], strict=False):
        layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
    layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
    return nn.Sequential(*layers)


def discriminator(channels: int, side: int, width: int, norm: Norm) -> nn.Sequential:
    """(Packed) image (B, channels, side, side) -> one raw score (B, 1); no pooling but a final
    global average, no linear layer.

    The generator mirrored: n convolutions of kernel 4, stride 2, padding 1 halve the side down to
    `base` (7 at 28 px, 4 at 32 and 64 px), from `width` feature maps (ndf) doubling per level, each
    followed by `norm` (but the input layer) and LeakyReLU(0.2). A last convolution of kernel 3,
    stride 1, padding 1 maps them to one channel and keeps the base x base map, and the score is
    that map's spatial mean: global average pooling, the all-convolutional way of scoring without a
    fully connected layer (Springenberg et al. 2015; Radford et al. 2016, section 3, citing it as
    used by Mordvintsev et al.). No kernel spans its whole input: a last kernel of side `base` would
    leave a 1x1 map, and its "average" would be a dense layer on the flattened features, which is
    what the DCGAN paper's own discriminator uses (its last conv layer flattened into one sigmoid
    output). The paper reports that global average pooling increased stability but hurt
    convergence speed.
    """
    base, n = levels(side)
    widths = [width * 2**i for i in range(n)]  # 28: w, 2w; 32: w, 2w, 4w; 64: w .. 8w
    layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1), nn.LeakyReLU(LEAKY_SLOPE)]
    # As in G, a convolution followed by a norm has no bias: the norm's own shift stands in for it.
    for c_in, c_out in zip(widths, widths[1:], strict=False):
        layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), norm(c_out), nn.LeakyReLU(LEAKY_SLOPE)]
    # A 3x3, stride-1, padding-1 output convolution keeps the base x base map, and base >= 4 (the
    # last halving starts above MAX_BASE), so the kernel never spans it and the mean is over base^2
    # positions, not one.
    layers += [nn.Conv2d(widths[-1], 1, 3, 1, 1), GlobalAverage()]
    return nn.Sequential(*layers)


def _init_dcgan(module: nn.Module) -> None:
    # The DCGAN paper, section 4, and its code: conv weights N(0, 0.02^2), norm scales N(1, 0.02^2),
    # biases 0. The critic's layer norm (GroupNorm) takes batch norm's initialization.
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d | nn.GroupNorm):
        nn.init.normal_(module.weight, 1.0, INIT_STD)
        nn.init.zeros_(module.bias)


def _builder(
    norm: Norm,
) -> Callable[[NetworkSize, tuple[int, ...], tuple[int, ...]], tuple[nn.Module, nn.Module]]:
    """The build function of a DCGAN architecture whose discriminator normalizes with `norm`."""

    def build(
        size: NetworkSize, data_shape: tuple[int, ...], disc_shape: tuple[int, ...]
    ) -> tuple[nn.Module, nn.Module]:
        """DCGAN networks for square images of `data_shape` (C, H, W); `size.depth` is ignored, as
        the number of layers follows from the image side (H = base x 2^n, base <= 7, n >= 1)."""
        (channels, height, width_px), (disc_channels, *disc_hw) = data_shape, disc_shape
        if height != width_px or tuple(disc_hw) != (height, width_px):
            raise ValueError(
                f"dcgan needs square images, the same for G and D: got {data_shape}, {disc_shape}"
            )
        if levels(height)[1] < 1:
            raise ValueError(f"dcgan needs an even image side above {MAX_BASE}: got {height}")
        g = generator(size.latent_dim, channels, height, size.width)
        d = discriminator(disc_channels, height, size.width, norm)
        with torch.no_grad():
            g.apply(_init_dcgan), d.apply(_init_dcgan)
        return g, d

    return build


ARCHITECTURES.add(
    "dcgan",
    Architecture(
        "dcgan",
        "DCGAN image nets: strided (transposed) convolutions, batch norm, ReLU/tanh G, LeakyReLU D",
        _builder(nn.BatchNorm2d),
        modality="images",
    ),
)
# WGAN-GP (Gulrajani et al. 2017, section 4): the penalty is per sample, so the critic must not use
# batch norm, which couples a batch's samples; they suggest layer norm as a drop-in, used here on
# the same layers. The generator keeps batch norm.
ARCHITECTURES.add(
    "dcgan-gp",
    Architecture(
        "dcgan-gp",
        "DCGAN image nets with layer norm instead of batch norm in the critic (for WGAN-GP)",
        _builder(layer_norm),
        modality="images",
    ),
)
