"""A new objective in one file: least squares with the Pearson chi^2 coding (Mao et al. 2017, eq. 2
and section 3.2.3: a = -1, b = 1, c = 0), beside the built-in 0-1-1 `lsgan`."""

from __future__ import annotations

from torch import Tensor

from ganbench.models import METHODS, Hyperparameters, Method
from ganbench.models.base import Objective


def pearson_discriminator_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """1/2 E[(D(x) - 1)^2] + 1/2 E[(D(G(z)) + 1)^2]: real scores pulled to b = 1, fake ones to a = -1."""
    return 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * ((d_fake + 1) ** 2).mean()


def pearson_generator_loss(d_fake: Tensor) -> Tensor:
    """1/2 E[D(G(z))^2]: the generator wants its samples scored c = 0, between the two labels."""
    return 0.5 * (d_fake**2).mean()


# Adam 2e-4, beta1 0.5, as the LSGAN paper's experiments (section 4).
METHODS.add(
    "lsgan-pearson",
    Method(
        "lsgan-pearson",
        "least-squares GAN, coding -1-1-0 (Mao et al. 2017): minimizes the Pearson chi^2 divergence",
        Objective(pearson_discriminator_loss, pearson_generator_loss),
        Hyperparameters(optimizer="adam", lr=2e-4, beta1=0.5, beta2=0.999),
    ),
)
