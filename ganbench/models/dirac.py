"""The Dirac-GAN's networks: G = theta, a point mass that ignores z, and the linear critic D(x) = psi x.

Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do actually Converge?", section 2.1.
Each network has one parameter, so the suite's `width` and `depth` are ignored (`latent_dim` only sets
the shape of the codes the generator ignores). Both declare their stacked forms (`stacked_form`, which
ganbench.engine.stacked uses as it does its STACKERS: models sit below the engine and do not import
it), so K seeds train as one model.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from ganbench.errors import GanbenchError
from ganbench.models.base import ARCHITECTURES, Architecture, NetworkSize

# The starting point (theta, psi) of the authors' Dirac-GAN notebook (LMescheder/GAN_stability,
# notebooks/DiracGAN.ipynb: theta0 = psi0 = 1), away from the equilibrium (0, 0). The paper's critic
# scores fake samples high (its objective is f(D(G(z))) + f(-D(x)), section 2), ganbench's scores real
# ones high (ganbench.models.objectives), so the paper's psi is minus ganbench's: its (1, 1) is our
# (1, -1), and every trajectory here is the paper's mirrored in psi.
THETA0 = 1.0
PSI0 = -1.0


class StackedDiracGenerator(nn.Module):
    """K Dirac generators: [K, batch, latent] -> [K, batch, 1], member k's theta everywhere."""

    def __init__(self, members: list[DiracGenerator]) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.stack([m.theta.detach() for m in members]))  # [K, 1]

    def forward(self, z: Tensor) -> Tensor:
        return self.theta.unsqueeze(1).expand(z.shape[0], z.shape[1], 1)

    def member_state(self, k: int) -> dict[str, Tensor]:
        return {"theta": self.theta[k]}


class StackedDiracDiscriminator(nn.Module):
    """K linear critics: [K, batch, 1] -> [K, batch, 1], member k's psi times its samples."""

    def __init__(self, members: list[DiracDiscriminator]) -> None:
        super().__init__()
        self.psi = nn.Parameter(torch.stack([m.psi.detach() for m in members]))  # [K, 1]

    def forward(self, x: Tensor) -> Tensor:
        return x * self.psi.unsqueeze(1)

    def member_state(self, k: int) -> dict[str, Tensor]:
        return {"psi": self.psi[k]}


class DiracGenerator(nn.Module):
    """G_theta(z) = theta for every code: [batch, latent] -> [batch, 1]."""

    stacked_form: ClassVar[type[nn.Module]] = StackedDiracGenerator

    def __init__(self, theta: float = THETA0) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([theta]))

    def forward(self, z: Tensor) -> Tensor:
        return self.theta.expand(z.shape[0], 1)


class DiracDiscriminator(nn.Module):
    """D_psi(x) = psi x: [batch, 1] -> [batch, 1]."""

    stacked_form: ClassVar[type[nn.Module]] = StackedDiracDiscriminator

    def __init__(self, psi: float = PSI0) -> None:
        super().__init__()
        self.psi = nn.Parameter(torch.tensor([psi]))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.psi


def build_dirac(
    size: NetworkSize, data_shape: tuple[int, ...], disc_shape: tuple[int, ...]
) -> tuple[nn.Module, nn.Module]:
    """The pair at the notebook's starting point; only 1-D points, one sample per critic input."""
    if data_shape != (1,) or disc_shape != (1,):
        raise GanbenchError(
            f"architecture 'dirac' makes and reads one number per sample (the Dirac-GAN), not samples "
            f"of shape {data_shape} read as {disc_shape} (packing is not supported)"
        )
    return DiracGenerator(), DiracDiscriminator()


ARCHITECTURES.add(
    "dirac",
    Architecture(
        "dirac",
        "the Dirac-GAN's G = theta and D(x) = psi x on 1-D points (width and depth are ignored)",
        build_dirac,
    ),
)
