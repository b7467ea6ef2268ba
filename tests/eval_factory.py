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
