"""Stacked MNIST: three MNIST digits as the three channels of one image, 1000 modes (Metz et al. 2017)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeVar

import numpy as np
import torch

from ganbench.config import at_least, at_most
from ganbench.data.base import DATASETS, IMAGE_SOURCE, DatasetSpec, Modality
from ganbench.data.images import ImageData, load_mnist, to_float
from ganbench.errors import GanbenchError
from ganbench.limits import MAX_IMAGE_SIZE

# Three digits, one per channel: 10^3 modes (Metz et al. 2017, VEEGAN, PacGAN).
DIGITS = 3
N_MODES = 10**DIGITS

# The fixed reference set is drawn from this seed, so it is the same for every method and seed.
REFERENCE_SEED = 0

Digits = TypeVar("Digits", torch.Tensor, np.ndarray)


def mode_of(digits: Digits) -> Digits:
    """The mode 100 d0 + 10 d1 + d2 of each row of digits (n, 3), channel 0 the hundreds."""
    if digits.ndim != 2 or digits.shape[1] != DIGITS:
        raise ValueError(f"digits must have shape (n, {DIGITS}), got {tuple(digits.shape)}")
    return 100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2]


@dataclass(frozen=True)
class StackedMnistParams:
    """Which MNIST split the channels are drawn from, the side (28, or 32 for DCGAN nets), download."""

    split: Literal["train", "test"] = "train"
    size: int = field(default=28, metadata=at_least(8) | at_most(MAX_IMAGE_SIZE))
    download: bool = True


class StackedMnist:
    """Three MNIST digits drawn independently (uniformly, with replacement) and stacked as channels.

    The construction of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018): every one of the
    1000 digit triples is a mode, and the true distribution gives each the same mass (up to the digit
    frequencies of the split, which are near 1/10).
    """

    modality: Modality = "images"
    capabilities = frozenset({IMAGE_SOURCE})

    def __init__(self, mnist: ImageData) -> None:
        if mnist.labels is None or mnist.image_shape[0] != 1:
            raise GanbenchError(f"stacked MNIST needs labelled one-channel digits, got {mnist.description}")
        self.mnist = mnist
        self.description = f"stacked {mnist.description}"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(3, H, W) of one stacked image."""
        _, height, width = self.mnist.image_shape
        return DIGITS, height, width

    def _draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images (n, 3, H, W) and the digit indices (n, 3) they were stacked from."""
        index = torch.randint(len(self.mnist), (n, DIGITS), generator=generator)
        # images[index] is (n, 3, 1, H, W); the singleton channel of each digit goes.
        return self.mnist.images[index].squeeze(2), index

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Draw `n` stacked images; float32 (n, 3, H, W) in [-1, 1]."""
        images, _ = self._draw(n, generator)
        return to_float(images)

    def sample_with_modes(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """`n` stacked images as uint8 (n, 3, H, W) with their true modes, int64 (n,), from the labels."""
        images, index = self._draw(n, generator)
        assert self.mnist.labels is not None  # checked in __init__
        return images, mode_of(self.mnist.labels[index])

    def reference(self, n: int) -> torch.Tensor:
        """A fixed set of `n` stacked images, uint8: drawn from one seed, the same for every caller."""
        images, _ = self._draw(n, torch.Generator().manual_seed(REFERENCE_SEED))
        return images


def build_stacked_mnist(params: StackedMnistParams) -> StackedMnist:
    return StackedMnist(load_mnist(params.split, None, params.size, params.download))


DATASETS.add(
    "stacked-mnist",
    DatasetSpec(
        "stacked-mnist",
        "three MNIST digits stacked as RGB channels, 1000 modes (100 d0 + 10 d1 + d2)",
        "images",
        StackedMnistParams,
        build_stacked_mnist,
        display_name="Stacked MNIST",
        capabilities=StackedMnist.capabilities,  # suites are checked without loading images
    ),
)
