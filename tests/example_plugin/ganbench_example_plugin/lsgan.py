"""A new objective in one file: least-squares GAN (Mao et al. 2017, eq. 2 with a = 0, b = c = 1)."""

from __future__ import annotations

from torch import Tensor

from ganbench.models import METHODS, Hyperparameters, Method
from ganbench.models.base import Objective


def lsgan_discriminator_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]: real scores pulled to 1, fake ones to 0."""
    return 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * (d_fake**2).mean()


def lsgan_generator_loss(d_fake: Tensor) -> Tensor:
    """1/2 E[(D(G(z)) - 1)^2]: the generator wants its samples scored as real."""
    return 0.5 * ((d_fake - 1) ** 2).mean()


# Adam 2e-4, beta1 0.5, as the LSGAN paper's experiments (section 4).
METHODS.add(
    "lsgan",
    Method(
        "lsgan",
        "least-squares GAN (Mao et al. 2017): squared errors to the labels 1 (real) and 0 (fake)",
        Objective(lsgan_discriminator_loss, lsgan_generator_loss),
        Hyperparameters(optimizer="adam", lr=2e-4, beta1=0.5, beta2=0.999),
    ),
)
