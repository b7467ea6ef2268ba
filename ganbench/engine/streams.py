"""Random streams: one seed-derivation scheme gives every (job seed, purpose) its own independent seed.

Each stream's seed comes from numpy's `SeedSequence(seed, spawn_key=(purpose index,))`, the hashing
numpy designed for independent child streams (NumPy docs, "Parallel random number generation"), so
no seed's stream replays another seed's (the old offsets `3 * seed + i` made seed 1's initialization
draw seed 0's noise). The purposes' order is part of the scheme: append, never reorder.
"""

from __future__ import annotations

import numpy as np
import torch

from ganbench.records.record import LEGACY_SCHEME, SCHEME

__all__ = ["LEGACY_SCHEME", "SCHEME", "PURPOSES", "stream_seed", "generator"]

PURPOSES = (
    "init",  # network initialization
    "data",  # real samples for training
    "noise",  # latent codes for training
    "penalty",  # the gradient penalty's interpolation weights
    "eval-noise",  # latent codes of the evaluation samples
    "reference",  # fresh true samples for the 2-D metrics
    "track-real",  # the fixed real samples of the training curves
    "track-noise",  # the fixed latent codes of the training curves
)


def stream_seed(seed: int, purpose: str) -> int:
    """The 63-bit seed of `purpose`'s stream for job seed `seed`."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown random stream purpose {purpose!r}; known: {', '.join(PURPOSES)}")
    words = np.random.SeedSequence(seed, spawn_key=(PURPOSES.index(purpose),)).generate_state(2, np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def generator(seed: int, purpose: str, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator on `device` seeded for (seed, purpose)."""
    return torch.Generator(device=device).manual_seed(stream_seed(seed, purpose))
