"""2-D Gaussian mixtures with known modes: the ring and the grid of the mode-collapse protocol."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ganbench.config import above, at_most
from ganbench.data.base import CONTINUOUS, DATASETS, KNOWN_MODES, DatasetSpec, Modality
from ganbench.limits import MAX_SCALE


class GaussianMixture:
    """An equal-weight mixture of isotropic Gaussians; its centers are the modes metrics count."""

    modality: Modality = "points"
    capabilities = frozenset({KNOWN_MODES, CONTINUOUS})

    def __init__(self, centers: torch.Tensor, std: float) -> None:
        self.centers = centers.to(torch.float64)
        self.std = float(std)
        self._device_centers: dict[str, torch.Tensor] = {}  # copies on other devices, made once

    @property
    def n_modes(self) -> int:
        return self.centers.shape[0]

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Pick a mode uniformly for each sample, then add N(0, std^2 I) noise; float32 (n, 2).

        The draws happen on the generator's device (the training device), with no host copy.
        """
        device = generator.device
        modes = torch.randint(self.n_modes, (n,), generator=generator, device=device)
        noise = torch.randn(n, self.centers.shape[1], generator=generator, dtype=torch.float64, device=device)
        return (self._centers_on(device)[modes] + self.std * noise).to(torch.float32)

    def _centers_on(self, device: torch.device) -> torch.Tensor:
        if self.centers.device != device:
            return self._device_centers.setdefault(str(device), self.centers.to(device))
        return self.centers


# The mixtures are unit-scale benchmarks; up to MAX_SCALE (1e6) their squared distances stay far inside
# float32's range (3.4e38), so W1, KL and the figures' axes stay finite.


@dataclass(frozen=True)
class RingParams:
    """ring-8 defaults from the PacGAN code (Lin et al. 2018): radius 1, std 0.01."""

    radius: float = field(default=1.0, metadata=above(0) | at_most(MAX_SCALE))
    std: float = field(default=0.01, metadata=above(0) | at_most(MAX_SCALE))


@dataclass(frozen=True)
class GridParams:
    """grid-25 defaults from the PacGAN and VEEGAN code: centers {-4,-2,0,2,4}^2, std 0.05."""

    spacing: float = field(default=2.0, metadata=above(0) | at_most(MAX_SCALE))
    std: float = field(default=0.05, metadata=above(0) | at_most(MAX_SCALE))


def ring_centers(n_modes: int, radius: float) -> torch.Tensor:
    """Centers at angles 2*pi*k/n, k = 0..n-1.

    Not `linspace(0, 2*pi, n)`: that includes both 0 and 2*pi, one mode twice, so a
    common public implementation of "ring-8" has only 7 distinct modes.
    """
    angles = 2 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def grid_centers(side: int, spacing: float) -> torch.Tensor:
    """A side x side grid centred on the origin, `spacing` apart."""
    axis = spacing * (torch.arange(side, dtype=torch.float64) - (side - 1) / 2)
    xs, ys = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def build_ring(params: RingParams) -> GaussianMixture:
    return GaussianMixture(ring_centers(8, params.radius), params.std)


def build_grid(params: GridParams) -> GaussianMixture:
    return GaussianMixture(grid_centers(5, params.spacing), params.std)


DATASETS.add(
    "ring-8",
    DatasetSpec(
        "ring-8",
        "8 Gaussians on a circle (PacGAN: radius 1, std 0.01)",
        "points",
        RingParams,
        build_ring,
        display_name="Ring-8",
    ),
)
DATASETS.add(
    "grid-25",
    DatasetSpec(
        "grid-25",
        "5x5 grid of Gaussians {-4..4}^2 (PacGAN/VEEGAN: std 0.05)",
        "points",
        GridParams,
        build_grid,
        display_name="Grid-25",
    ),
)
