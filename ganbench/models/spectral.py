"""Spectral normalization of a network's weights (Miyato et al. 2018), with torch's own parametrization."""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

# Layers whose weight is normalized: torch's spectral_norm reads a Linear's and a Conv2d's weight along
# dim 0 and a ConvTranspose2d's along dim 1 (its output channels), choosing the dim itself.
NORMALIZED_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """`module` with every Linear, Conv2d and ConvTranspose2d weight spectrally normalized, in place.

    Each weight W is used as W / sigma(W), sigma its largest singular value estimated by power
    iteration (Miyato et al. 2018, Algorithm 1): torch's `spectral_norm` runs 15 iterations when it is
    applied and one more in each training-mode forward. Its starting vectors u and v are drawn from
    the global RNG, so a caller that seeds it first gets the same ones every time.
    """
    for layer in list(module.modules()):  # a list: applying the parametrization changes the layer's class
        if isinstance(layer, NORMALIZED_LAYERS):
            spectral_norm(layer, n_power_iterations=1)
    return module
