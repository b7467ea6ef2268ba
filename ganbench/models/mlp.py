"""Fully connected generator and discriminator for 2-D point data."""

from __future__ import annotations

from torch import nn

from ganbench.models.base import ARCHITECTURES, Architecture, NetworkSize


def mlp(in_dim: int, out_dim: int, width: int, depth: int) -> nn.Sequential:
    """`depth` hidden layers of `width` ReLU units, then a linear output layer."""
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(in_dim if i == 0 else width, width), nn.ReLU()]
    layers.append(nn.Linear(width if depth else in_dim, out_dim))
    return nn.Sequential(*layers)


def build_mlp(
    size: NetworkSize, data_shape: tuple[int, ...], disc_shape: tuple[int, ...]
) -> tuple[nn.Module, nn.Module]:
    """Generator latent -> point and discriminator (packed) point -> one raw score."""
    (data_dim,), (disc_dim,) = data_shape, disc_shape
    return mlp(size.latent_dim, data_dim, size.width, size.depth), mlp(disc_dim, 1, size.width, size.depth)


ARCHITECTURES.add("mlp", Architecture("mlp", "fully connected ReLU nets for 2-D points", build_mlp))
