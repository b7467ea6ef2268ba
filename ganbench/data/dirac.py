"""The Dirac-GAN's data: all mass at 0 on the real line (Mescheder et al. 2018, section 2.1)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ganbench.data.base import DATASETS, DIRAC_EQUILIBRIUM, TRACKS, DatasetSpec, Modality

# Curve names (a job record's "curves", read by ganbench.report.phase_plane): the generator's point
# theta, the critic's slope psi and the distance sqrt(theta^2 + psi^2) to the equilibrium (0, 0).
THETA = "theta"
PSI = "psi"
DISTANCE = "equilibrium_distance"


@dataclass(frozen=True)
class DiracParams:
    """No parameters: the data distribution is the point mass at 0 (Mescheder et al. 2018, section 2.1)."""


def critic_slope(critic: nn.Module) -> float:
    """psi = D(1) - D(0): the slope of the Dirac-GAN's linear critic D(x) = psi x (of any critic on 1-D
    points, the difference it makes between the points 1 and 0)."""
    parameter = next(critic.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    with torch.no_grad():
        scores = critic(torch.tensor([[0.0], [1.0]], device=device)).flatten()
    return float(scores[1] - scores[0])


def equilibrium_coordinates(generated: Tensor, critic: nn.Module) -> tuple[float, float]:
    """(theta, psi): the generated samples' mean (every sample is theta for G = theta) and the critic's
    slope; the Dirac-GAN's unique equilibrium is (0, 0) (Mescheder et al. 2018, section 2.1)."""
    return float(generated.double().mean()), critic_slope(critic)


class Dirac:
    """The point mass at 0: samples (n, 1) of zeros, on the generator's device (nothing is drawn)."""

    modality: Modality = "points"
    # Not CONTINUOUS: every true sample is the same point, so density and coverage cannot score it.
    capabilities = frozenset({TRACKS, DIRAC_EQUILIBRIUM})

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.zeros(n, 1, device=generator.device)

    def track(self, generated: Tensor, critic: nn.Module) -> dict[str, float]:
        """Extra training-curve values (ganbench.engine.tracking calls `track` of a dataset that
        declares TRACKS): theta, psi and their distance to the equilibrium."""
        theta, psi = equilibrium_coordinates(generated, critic)
        return {THETA: theta, PSI: psi, DISTANCE: math.hypot(theta, psi)}


def build_dirac(params: DiracParams) -> Dirac:
    return Dirac()


DATASETS.add(
    "dirac",
    DatasetSpec(
        "dirac",
        "point mass at 0 on the real line, (n, 1) zeros (Mescheder et al. 2018's Dirac-GAN)",
        "points",
        DiracParams,
        build_dirac,
        display_name="Dirac",
    ),
)
