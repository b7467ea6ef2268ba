"""PacGAN (Lin et al. 2018): the packed methods pacgan2-4 and the paper's 2-D networks."""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from ganbench.models.base import ARCHITECTURES, METHODS, Architecture, Method, NetworkSize
from ganbench.models.objectives import GAN_DEFAULTS, GAN_NS

# The PacGAN code's synthetic-data discriminator: three maxout layers of 200 units with 5 pieces,
# then a linear output; all weights initialised N(0, 0.02^2).
DISC_LAYERS = 3
DISC_UNITS = 200
MAXOUT_PIECES = 5
INIT_STD = 0.02


class Maxout(nn.Module):
    """A linear map to units x pieces outputs, then the max over the pieces (Goodfellow et al. 2013)."""

    def __init__(self, in_features: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).unflatten(-1, (self.units, self.pieces)).amax(dim=-1)


def _init_normal(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, 0.0, INIT_STD)
        nn.init.zeros_(module.bias)


def build_pacgan(
    size: NetworkSize, data_shape: tuple[int, ...], disc_shape: tuple[int, ...]
) -> tuple[nn.Module, nn.Module]:
    """Generator: `depth` hidden layers of `width` units with batch norm and ReLU (the paper: 4 x
    400), linear output. Discriminator: 3 maxout layers (200 units, 5 pieces), linear output."""
    (data_dim,), (disc_dim,) = data_shape, disc_shape
    g_layers: list[nn.Module] = []
    for i in range(size.depth):
        g_layers += [nn.Linear(size.latent_dim if i == 0 else size.width, size.width)]
        g_layers += [nn.BatchNorm1d(size.width), nn.ReLU()]
    g_layers.append(nn.Linear(size.width if size.depth else size.latent_dim, data_dim))
    d_layers: list[nn.Module] = [
        Maxout(disc_dim if i == 0 else DISC_UNITS, DISC_UNITS, MAXOUT_PIECES) for i in range(DISC_LAYERS)
    ]
    d_layers.append(nn.Linear(DISC_UNITS, 1))
    generator, discriminator = nn.Sequential(*g_layers), nn.Sequential(*d_layers)
    with torch.no_grad():
        generator.apply(_init_normal), discriminator.apply(_init_normal)
    return generator, discriminator


ARCHITECTURES.add(
    "pacgan",
    Architecture(
        "pacgan",
        "PacGAN's 2-D nets: G with batch norm + ReLU, D with 3 maxout layers (200 units, 5 pieces)",
        build_pacgan,
    ),
)

# PacGAN's code trains the generator with the non-saturating loss (sigmoid cross-entropy against
# the "real" label, as in the DCGAN code it builds on); only the discriminator's input changes.
for m in (2, 3, 4):
    METHODS.add(
        f"pacgan{m}",
        Method(
            f"pacgan{m}",
            f"PacGAN: the non-saturating GAN with a discriminator judging packs of {m} samples",
            GAN_NS,
            dataclasses.replace(GAN_DEFAULTS, pack=m),
            display_name=f"PacGAN{m}",
        ),
    )
