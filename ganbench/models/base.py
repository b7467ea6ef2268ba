"""What a method is: an objective, its hyperparameter defaults, and an architecture family."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from torch import Tensor, nn

from ganbench.config import above, at_least
from ganbench.data.base import Modality
from ganbench.registry import Registry

OptimizerName = Literal["adam", "rmsprop"]


@dataclass(frozen=True)
class Hyperparameters:
    """Per-method training settings; a suite's `[method.NAME]` table overrides any of them."""

    optimizer: OptimizerName = "adam"
    lr: float = field(default=2e-4, metadata=above(0))
    beta1: float = field(default=0.5, metadata=at_least(0))
    beta2: float = field(default=0.999, metadata=at_least(0))
    # discriminator/critic steps per generator step
    n_critic: int = field(default=1, metadata=at_least(1))
    # weight clipping bound for the critic after each of its steps; 0 disables it
    clip: float = field(default=0.0, metadata=at_least(0))
    # gradient-penalty weight; 0 disables it
    gp_lambda: float = field(default=0.0, metadata=at_least(0))
    # PacGAN packing degree m: the discriminator judges m samples at once; 1 disables it
    pack: int = field(default=1, metadata=at_least(1))
    architecture: str = "mlp"


@dataclass(frozen=True)
class Objective:
    """The losses, on raw discriminator outputs (logits for the GAN family, scores for WGAN)."""

    discriminator_loss: Callable[[Tensor, Tensor], Tensor]  # (d(real), d(fake)) -> loss
    generator_loss: Callable[[Tensor], Tensor]  # d(fake) -> loss


@dataclass(frozen=True)
class Method:
    """A registered way to train a GAN."""

    name: str
    description: str
    objective: Objective
    defaults: Hyperparameters


@dataclass(frozen=True)
class NetworkSize:
    """Network shape settings shared by every method of a suite."""

    latent_dim: int
    width: int
    depth: int


@dataclass(frozen=True)
class Architecture:
    """A family of generator/discriminator pairs.

    `build(size, data_shape, disc_shape)` returns (generator, discriminator): the generator makes
    samples of `data_shape`, the discriminator reads `disc_shape` (the packed shape under PacGAN).
    `seed_batchable` is False where stacking seeds under vmap would change the result (batch
    norm's running statistics are module state that vmap cannot carry per seed). `modality` is
    the kind of data the nets read and make; suites refuse to pair them with another kind.
    """

    name: str
    description: str
    build: Callable[[NetworkSize, tuple[int, ...], tuple[int, ...]], tuple[nn.Module, nn.Module]]
    seed_batchable: bool = True
    modality: Modality = "points"


METHODS: Registry[Method] = Registry("method")
ARCHITECTURES: Registry[Architecture] = Registry("architecture")
