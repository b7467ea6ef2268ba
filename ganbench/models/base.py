"""What a method is: an objective, its hyperparameter defaults, and an architecture family."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

from ganbench.data.base import Modality
from ganbench.models.regularizers import Uniform, clip_from_hyperparameters, penalty_from_hyperparameters
from ganbench.models.settings import (
    OPTIONAL,
    PER_MEMBER,
    SWITCHED,
    Hyperparameters,
    OptimizerName,
    identity,
    step_structure,
)
from ganbench.registry import Registry

# The settings live in ganbench.models.settings (the regularizers read them too); named here as well,
# where a method's parts are.
__all__ = [
    "OPTIONAL",
    "PER_MEMBER",
    "SWITCHED",
    "Architecture",
    "Hyperparameters",
    "Method",
    "NetworkSize",
    "Objective",
    "OptimizerName",
    "identity",
    "step_structure",
]


@dataclass(frozen=True)
class Objective:
    """The losses, on raw discriminator outputs (logits for the GAN family, scores for WGAN).

    Each loss is written for one network's batch and returns a scalar; the engine maps it over the
    stacked members with `torch.vmap`, so every member gets its own loss.
    """

    discriminator_loss: Callable[[Tensor, Tensor], Tensor]  # (d(real), d(fake)) -> loss
    # d(fake) -> loss; or (d(real), d(fake)) -> loss where `generator_reads_real` (a relativistic loss
    # compares each generated sample with a real one, so the generator step draws a real batch too)
    generator_loss: Callable[..., Tensor]
    # Losses of one family share a scale and a meaning (cross-entropies in nats; Wasserstein critic
    # values in the critic's units), so figures put one family per panel, never two on one axis.
    family: str = "other"
    generator_reads_real: bool = False


# (critic, real, fake, settings, uniform draws) -> per-member extra critic loss [K], or None
Penalty = Callable[[nn.Module, Tensor, Tensor, Hyperparameters, Uniform], Tensor | None]
# (critic, settings) -> None: a change to the critic's weights after each of its steps
Constraint = Callable[[nn.Module, Hyperparameters], None]


@dataclass(frozen=True)
class Method:
    """A registered way to train a GAN: its objective, defaults and the critic's extra terms.

    `penalty` and `constraint` are the hooks the training step calls on every critic step (see
    ganbench.models.regularizers); the defaults apply every penalty whose setting is on (`gp_lambda`,
    `r1_gamma`, `r2_gamma`, `dragan_lambda`) and `clip`, so a method is a name for an objective and
    its settings; one with another kind of regularizer replaces them in its own file.
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
