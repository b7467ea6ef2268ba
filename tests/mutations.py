"""Injected breakages for the CI gate's mutation tests: each patches ganbench as a faulty pull request would.

A mutation changes code, never a suite setting: the candidate's jobs keep the baseline's settings,
so `ganbench compare` matches every row and must catch the breakage in the metrics themselves (a
changed setting is caught as `missing` rows, tested in test_compare.py).

Two ways to apply one:
- in a test, `MUTATIONS[name].apply(monkeypatch)` (pytest undoes it afterwards);
- from a shell, as a plugin: `PYTHONPATH=tests GANBENCH_PLUGINS=mutations GANBENCH_MUTATION=gp-removed
  ganbench run --suite ci ...` (docs/pages/ci/mutations.md).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from ganbench.engine import train as engine
from ganbench.errors import GanbenchError
from ganbench.models import METHODS
from ganbench.models.base import Method, Objective
from ganbench.run import evaluate, worker
from ganbench.throughput import measure

ENV_VAR = "GANBENCH_MUTATION"


@dataclass(frozen=True)
class Mutation:
    """A breakage: what it does, which suite shows it, and how to patch it in."""

    name: str
    description: str
    suite: str  # "ci" (training and scoring) or "ci-throughput" (speed)
    methods: tuple[str, ...]  # the methods it breaks (the rows compare must name)
    apply: Callable[[pytest.MonkeyPatch], None]


def _replace_method(monkeypatch: pytest.MonkeyPatch, name: str, **changes: object) -> None:
    """Swap a registered method for a copy with `changes` (the registry has no public replace)."""
    monkeypatch.setitem(METHODS._entries, name, dataclasses.replace(METHODS.get(name), **changes))


def _no_penalty(*args: object) -> None:
    return None


def _no_constraint(*args: object) -> None:
    return None


def gp_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    """WGAN-GP's critic loses its gradient penalty (gp_lambda still reads 10 in every record)."""
    _replace_method(monkeypatch, "wgan-gp", penalty=_no_penalty)


def clip_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    """WGAN's critic weights are no longer clipped (clip still reads 0.01)."""
    _replace_method(monkeypatch, "wgan", constraint=_no_constraint)


def lr_x100(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every optimizer gets 100 times the configured learning rate (a unit slip in make_optimizer)."""
    plain = engine.make_optimizer

    def hundredfold(params: list, role: str, members: list) -> torch.optim.Optimizer:
        faster = [
            dataclasses.replace(m, lr=m.lr * 100, lr_d=m.lr_d * 100, lr_g=m.lr_g * 100) for m in members
        ]
        return plain(params, role, faster)

    monkeypatch.setattr(engine, "make_optimizer", hundredfold)


def g_loss_sign_flipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every generator minimizes the negative of its loss."""
    for name in METHODS.names():
        method: Method = METHODS.get(name)
        loss = method.objective.generator_loss

        def flipped(d_fake: torch.Tensor, loss: Callable = loss) -> torch.Tensor:
            return -loss(d_fake)

        objective = Objective(method.objective.discriminator_loss, flipped, method.objective.family)
        _replace_method(monkeypatch, name, objective=objective)


def n_critic_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """The training step does one critic step per generator step, whatever n_critic says (WGAN's 5)."""
    plain = engine.training_step

    def one_critic_step(nets, method, hp, draws, step, health):  # noqa: ANN001 - the engine's signature
        return plain(nets, method, dataclasses.replace(hp, n_critic=1), draws, step, health)

    monkeypatch.setattr(engine, "training_step", one_critic_step)


# The ci suite's ring: 8 modes at angles 2 pi k / 8 (ganbench.data.mixtures.ring_centers).
RING_MODES = 8


def drop_half_the_modes(samples: torch.Tensor) -> torch.Tensor:
    """Rotate every sample nearest an odd-numbered ring mode onto the even mode before it: the
    samples stay on the ring at full quality, but 4 of its 8 modes are gone."""
    angle = torch.atan2(samples[:, 1], samples[:, 0])
    step = 2 * math.pi / RING_MODES
    odd = torch.round(angle / step).remainder(2) == 1
    cos, sin = math.cos(-step), math.sin(-step)
    rotated = torch.stack(
        [cos * samples[:, 0] - sin * samples[:, 1], sin * samples[:, 0] + cos * samples[:, 1]], dim=1
    )
    return torch.where(odd[:, None], rotated, samples)


def mode_dropping(monkeypatch: pytest.MonkeyPatch) -> None:
    """The evaluated samples of every job (trained, or a generator `ganbench eval` scores) lose half the
    ring's modes (moved onto the other half)."""
    plain = worker.generate

    def dropping(*args: object, **kwargs: object) -> torch.Tensor:
        return drop_half_the_modes(plain(*args, **kwargs))

    monkeypatch.setattr(worker, "generate", dropping)
    monkeypatch.setattr(evaluate, "generate", dropping)


# The slow-down of the throughput breakage: 30% on top of each measured training iteration.
SLOWDOWN = 0.3


def slower_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every training iteration takes 30% longer (it waits 0.3 x its own time after finishing)."""
    plain = measure.training_step

    def slower(*args: object, **kwargs: object) -> object:
        started = time.perf_counter()
        result = plain(*args, **kwargs)
        time.sleep(SLOWDOWN * (time.perf_counter() - started))
        return result

    monkeypatch.setattr(measure, "training_step", slower)


MUTATIONS = {
    m.name: m
    for m in (
        Mutation("gp-removed", "WGAN-GP's gradient penalty removed", "ci", ("wgan-gp",), gp_removed),
        Mutation("lr-x100", "learning rate x100", "ci", ("gan-ns", "wgan", "wgan-gp"), lr_x100),
        Mutation("clip-removed", "WGAN's weight clipping removed", "ci", ("wgan",), clip_removed),
        Mutation(
            "g-loss-flipped",
            "generator loss sign flipped",
            "ci",
            ("gan-ns", "wgan", "wgan-gp"),
            g_loss_sign_flipped,
        ),
        Mutation("n-critic-1", "n_critic 1 (WGAN, WGAN-GP: 5)", "ci", ("wgan", "wgan-gp"), n_critic_1),
        Mutation(
            "mode-dropping",
            "half the modes' samples moved onto the others",
            "ci",
            ("gan-ns", "wgan", "wgan-gp"),
            mode_dropping,
        ),
        Mutation(
            "slower-step",
            "training step 30% slower",
            "ci-throughput",
            ("gan", "wgan", "wgan-gp"),
            slower_step,
        ),
    )
}

if os.environ.get(ENV_VAR):  # loaded as a plugin (GANBENCH_PLUGINS=mutations): patch for the process
    wanted = os.environ[ENV_VAR]
    if wanted not in MUTATIONS:
        raise GanbenchError(f"{ENV_VAR}: unknown mutation '{wanted}'; valid: {', '.join(MUTATIONS)}")
    MUTATIONS[wanted].apply(pytest.MonkeyPatch())


class RingOracle(torch.nn.Module):
    """A generator that is the ring-8 mixture itself: code 0 picks the mode (through the normal CDF, so
    each of the 8 is equally likely), codes 1 and 2 are the Gaussian offset. A working generator for
    mutation tests that need one without training (`ganbench eval --generator mutations:RingOracle
    --latent-dim 3`)."""

    def __init__(self, radius: float = 1.0, std: float = 0.01) -> None:
        super().__init__()
        self.radius, self.std = radius, std

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        mode = (torch.special.ndtr(z[:, 0]) * RING_MODES).floor().clamp(0, RING_MODES - 1)
        angle = 2 * math.pi * mode / RING_MODES
        centers = self.radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
        return centers + self.std * z[:, 1:3]


def ring_mode_counts(samples: np.ndarray) -> np.ndarray:
    """How many samples lie nearest each of the ring's modes, by angle (for tests of the breakage)."""
    angle = np.arctan2(samples[:, 1], samples[:, 0])
    return np.bincount(np.round(angle / (2 * np.pi / RING_MODES)).astype(int) % RING_MODES, minlength=8)
