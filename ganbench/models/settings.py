"""A method's settings (`Hyperparameters`): defaults and bounds, their identity in job configs, and what
the members of one stacked model must share."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from ganbench.config import above, at_least, at_most, below
from ganbench.limits import MAX_N_CRITIC, MAX_PACK

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
