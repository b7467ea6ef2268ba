"""What a method is: an objective, its hyperparameter defaults, and an architecture family."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from torch import Tensor, nn

from ganbench.config import above, at_least, at_most, below
from ganbench.data.base import Modality
from ganbench.limits import MAX_N_CRITIC, MAX_PACK
from ganbench.models.regularizers import Uniform, clip_from_hyperparameters, penalty_from_hyperparameters
from ganbench.registry import Registry

OptimizerName = Literal["adam", "rmsprop", "sgd"]


@dataclass(frozen=True)
class Hyperparameters:
    """Per-method training settings; a suite's `[method.NAME]` table overrides any of them.

    Every setting added after the first ones lists a neutral default (0 or False: off, or "the same
    as `lr`") in OPTIONAL, and a job's identity (`identity`) leaves it out while it holds that value,
    so run folders and baselines written before it existed still resume and compare.
    """

    optimizer: OptimizerName = "adam"
    lr: float = field(default=2e-4, metadata=above(0))
    # Adam's moment decay rates: torch refuses betas outside [0, 1).
    beta1: float = field(default=0.5, metadata=at_least(0) | below(1))
    beta2: float = field(default=0.999, metadata=at_least(0) | below(1))
    # discriminator/critic steps per generator step (WGAN uses 5; 100 is a typo, not a protocol)
    n_critic: int = field(default=1, metadata=at_least(1) | at_most(MAX_N_CRITIC))
    # weight clipping bound for the critic after each of its steps; 0 disables it
    clip: float = field(default=0.0, metadata=at_least(0))
    # gradient-penalty weight; 0 disables it
    gp_lambda: float = field(default=0.0, metadata=at_least(0))
    # PacGAN packing degree m: the discriminator judges m samples at once; 1 disables it
    # (PacGAN uses 2-4; the discriminator's input and batch grow with m)
    pack: int = field(default=1, metadata=at_least(1) | at_most(MAX_PACK))
    architecture: str = "mlp"
    # Two time-scale step sizes (Heusel et al. 2017): the critic's and the generator's own; 0 means `lr`.
    lr_d: float = field(default=0.0, metadata=at_least(0))
    lr_g: float = field(default=0.0, metadata=at_least(0))
    # R1 and R2 weights gamma: gamma / 2 E||grad D||^2 at real (R1) or generated (R2) samples
    # (Mescheder et al. 2018, eq. 9 and 10); 0 disables each.
    r1_gamma: float = field(default=0.0, metadata=at_least(0))
    r2_gamma: float = field(default=0.0, metadata=at_least(0))
    # DRAGAN's penalty weight around perturbed real samples (Kodali et al. 2017), 0 disables it; and
    # the perturbation's size in standard deviations of the real batch (the authors' code: 0.5).
    dragan_lambda: float = field(default=0.0, metadata=at_least(0))
    dragan_spread: float = field(default=0.5, metadata=above(0) | at_most(100))
    # Spectral normalization of every discriminator weight (Miyato et al. 2018).
    spectral_norm: bool = False
    # Unrolled GAN (Metz et al. 2017): the generator's loss after k surrogate critic steps; 0 disables.
    unroll: int = field(default=0, metadata=at_least(0) | at_most(50))

    def lr_of(self, role: Literal["d", "g"]) -> float:
        """The critic's ("d") or the generator's ("g") step size: `lr_d` / `lr_g`, or `lr` where 0."""
        own = self.lr_d if role == "d" else self.lr_g
        return own if own else self.lr


# Settings added after run folders of schema 4 existed: left out of a job's identity at their default.
OPTIONAL = (
    "lr_d", "lr_g", "r1_gamma", "r2_gamma", "dragan_lambda", "dragan_spread", "spectral_norm", "unroll",
)  # fmt: skip
_DEFAULTS = dataclasses.asdict(Hyperparameters())  # computed once: every job's config asks `identity`


def identity(hp: Hyperparameters | dict[str, object]) -> dict[str, object]:
    """The settings as a job's configuration stores them: every setting, except an OPTIONAL one at its
    default (a new setting left alone does not change any job's identity). Also normalizes a stored
    form (a dict, with or without those defaults written out), so both forms of one setting match."""
    stored = dataclasses.asdict(hp) if isinstance(hp, Hyperparameters) else hp
    return {k: v for k, v in stored.items() if k not in OPTIONAL or v != _DEFAULTS[k]}


# Settings that members of one stacked model may hold each their own value of: every member's
# optimizer step and penalty weight read its own (ganbench.engine.optim; a penalty or clipping bound
# may be a [K] tensor then). Whether a regularizer is on (non-zero) or off (zero) changes the step
# itself, so zero and non-zero values of a SWITCHED setting never share a model.
SWITCHED = ("gp_lambda", "clip", "r1_gamma", "r2_gamma", "dragan_lambda")
PER_MEMBER = ("lr", "beta1", "beta2", "lr_d", "lr_g", *SWITCHED)


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
