"""What a method is: an objective, its hyperparameter defaults, and an architecture family."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from torch import Tensor, nn

from ganbench.config import above, at_least, at_most, below
from ganbench.data.base import Modality
from ganbench.models.regularizers import clip_from_hyperparameters, penalty_from_hyperparameters
from ganbench.registry import Registry

OptimizerName = Literal["adam", "rmsprop"]


@dataclass(frozen=True)
class Hyperparameters:
    """Per-method training settings; a suite's `[method.NAME]` table overrides any of them."""

    optimizer: OptimizerName = "adam"
    lr: float = field(default=2e-4, metadata=above(0))
    # Adam's moment decay rates: torch refuses betas outside [0, 1).
    beta1: float = field(default=0.5, metadata=at_least(0) | below(1))
    beta2: float = field(default=0.999, metadata=at_least(0) | below(1))
    # discriminator/critic steps per generator step (WGAN uses 5; 100 is a typo, not a protocol)
    n_critic: int = field(default=1, metadata=at_least(1) | at_most(100))
    # weight clipping bound for the critic after each of its steps; 0 disables it
    clip: float = field(default=0.0, metadata=at_least(0))
    # gradient-penalty weight; 0 disables it
    gp_lambda: float = field(default=0.0, metadata=at_least(0))
    # PacGAN packing degree m: the discriminator judges m samples at once; 1 disables it
    # (PacGAN uses 2-4; the discriminator's input and batch grow with m)
    pack: int = field(default=1, metadata=at_least(1) | at_most(64))
    architecture: str = "mlp"


# Settings that members of one stacked model may hold each their own value of: every member's
# optimizer step and penalty weight read its own (ganbench.engine.optim; a penalty or clipping bound
# may be a [K] tensor then). Whether a regularizer is on (non-zero) or off (zero) changes the step
# itself, so zero and non-zero values of `gp_lambda` or `clip` never share a model.
PER_MEMBER = ("lr", "beta1", "beta2", "gp_lambda", "clip")
SWITCHED = ("gp_lambda", "clip")


def step_structure(hp: Hyperparameters) -> dict[str, object]:
    """What members of one stacked model must share: every setting but the per-member values, and
    whether each regularizer is on."""
    shared = {k: v for k, v in dataclasses.asdict(hp).items() if k not in PER_MEMBER}
    return shared | {name: bool(getattr(hp, name)) for name in SWITCHED}


@dataclass(frozen=True)
class Objective:
    """The losses, on raw discriminator outputs (logits for the GAN family, scores for WGAN).

    Each loss is written for one network's batch and returns a scalar; the engine maps it over the
    stacked members with `torch.vmap`, so every member gets its own loss.
    """

    discriminator_loss: Callable[[Tensor, Tensor], Tensor]  # (d(real), d(fake)) -> loss
    generator_loss: Callable[[Tensor], Tensor]  # d(fake) -> loss
    # Losses of one family share a scale and a meaning (cross-entropies in nats; Wasserstein critic
    # values in the critic's units), so figures put one family per panel, never two on one axis.
    family: str = "other"


# (critic, real, fake, hyperparameters, uniform draws) -> per-member extra critic loss [K], or None
Penalty = Callable[..., Tensor | None]
# (critic, hyperparameters) -> None: a change to the critic's weights after each of its steps
Constraint = Callable[..., None]


@dataclass(frozen=True)
class Method:
    """A registered way to train a GAN: its objective, defaults and the critic's extra terms.

    `penalty` and `constraint` are the hooks the training step calls on every critic step (see
    ganbench.models.regularizers); the defaults apply `gp_lambda` and `clip` from the settings, so
    a new objective with another regularizer replaces them in its own file.
    """

    name: str
    description: str
    objective: Objective
    defaults: Hyperparameters
    penalty: Penalty = penalty_from_hyperparameters
    constraint: Constraint = clip_from_hyperparameters
    display_name: str = ""  # how tables and figures name it ("WGAN-GP"); the slug where empty

    @property
    def title(self) -> str:
        """The display name, or the slug when the method declares none."""
        return self.display_name or self.name


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
    Jobs train stacked where the engine can stack the nets (ganbench.engine.stacked). `modality` is
    the kind of data the nets read and make; suites refuse to pair them with another kind.
    """

    name: str
    description: str
    build: Callable[[NetworkSize, tuple[int, ...], tuple[int, ...]], tuple[nn.Module, nn.Module]]
    modality: Modality = "points"


METHODS: Registry[Method] = Registry("method")
ARCHITECTURES: Registry[Architecture] = Registry("architecture")
