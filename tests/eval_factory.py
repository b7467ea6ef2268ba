"""Generator factories for tests/test_eval.py: networks `ganbench eval --generator` imports by name."""

from __future__ import annotations

from torch import nn

from ganbench.models import ARCHITECTURES, NetworkSize


def tiny_mlp() -> nn.Module:
    """The generator of tests/conftest.py's tiny suite (MLP, latent 2, width 16, depth 2, 2-D points)."""
    generator, _ = ARCHITECTURES.get("mlp").build(NetworkSize(2, 16, 2), (2,), (2,))
    return generator


def not_a_module() -> str:
    return "a generator factory must return an nn.Module"


def three_columns() -> nn.Module:
    """Latent 2 -> 3 numbers per sample: not the 2-D points of ring-8."""
    return nn.Linear(2, 3)


def flat() -> nn.Module:
    """Latent 2 -> one number per sample, the batch flattened to shape (n,)."""
    return nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))
