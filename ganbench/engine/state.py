"""The state a training carries: members, their random draws, the networks and optimizers, health and
results; the loop (ganbench.engine.train) and checkpoints (ganbench.engine.checkpoint) both read it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import torch
from torch import Tensor, nn

from ganbench.data.base import Dataset
from ganbench.engine.streams import generator as stream
from ganbench.models import Hyperparameters

TrainStatus = Literal["ok", "diverged"]
# Called on (generator, discriminator) every `track_every` steps; returns named values to record.
Observer = Callable[[nn.Module, nn.Module], dict[str, float]]


@dataclass
class TrainResult:
    """A trained generator with the run's status and its loss history."""

    generator: nn.Module
    status: TrainStatus
    diverged_step: int | None  # the first generator step whose loss was NaN or infinite
    seconds: float
    loss_steps: list[int] = field(default_factory=list)
    d_losses: list[float] = field(default_factory=list)
    g_losses: list[float] = field(default_factory=list)
    curves: dict[str, list[float]] = field(default_factory=dict)  # "step" plus the observer's values
    resumed_from: int | None = None  # the checkpoint's step, when training resumed from one
    critic: nn.Module | None = None  # the trained discriminator/critic (eval's critic-grad-norm reads it)

    def observe(self, step: int, observer: Observer, generator: nn.Module, discriminator: nn.Module) -> None:
        """Append the observer's values at `step` to `curves`, with the networks in eval mode."""
        modes = generator.training, discriminator.training
        generator.eval(), discriminator.eval()
        with torch.no_grad():
            values = observer(generator, discriminator)
        generator.train(modes[0]), discriminator.train(modes[1])
        self.curves.setdefault("step", []).append(step)
        for name, value in values.items():
            self.curves.setdefault(name, []).append(value)


@dataclass(frozen=True)
class Streams:
    """One job's training streams (data, noise, penalty), each from its own derived seed."""

    data: torch.Generator
    noise: torch.Generator
    penalty: torch.Generator

    @classmethod
    def for_seed(cls, seed: int, device: torch.device, data_device: torch.device | None = None) -> Streams:
        """Streams on `device`; the data stream on `data_device` (images are drawn where they are held)."""
        data = stream(seed, "data", data_device or device)
        return cls(data, stream(seed, "noise", device), stream(seed, "penalty", device))


@dataclass
class Member:
    """One job of a stacked training: its seed, its data and what to observe during training."""

    seed: int
    dataset: Dataset
    observer: Observer | None = None
    # The member's own settings where they differ from the group's (a tuning search's configuration:
    # only ganbench.models.base.PER_MEMBER values may differ); None: the group's.
    hyperparameters: Hyperparameters | None = None


class Draws(Protocol):
    """What one training step draws, stacked over members: [K, n, ...] each."""

    def real(self) -> Tensor: ...

    def noise(self) -> Tensor: ...

    def uniform(self, shape: tuple[int, ...]) -> Tensor: ...


class StreamDraws:
    """Draws from every member's own streams, on the training device (`draws` per member and call)."""

    def __init__(self, members: list[Member], draws: int, latent_dim: int, device: torch.device) -> None:
        self.members, self.draws, self.latent_dim, self.device = members, draws, latent_dim, device
        # Points are drawn on the device; images where the dataset holds them (host memory).
        cpu = torch.device("cpu")
        self.streams = [
            Streams.for_seed(m.seed, device, device if m.dataset.modality == "points" else cpu)
            for m in members
        ]

    def real(self) -> Tensor:
        pairs = zip(self.members, self.streams, strict=True)
        return torch.stack([m.dataset.sample(self.draws, s.data) for m, s in pairs]).to(self.device)

    def noise(self) -> Tensor:
        shape = (self.draws, self.latent_dim)
        return torch.stack([torch.randn(shape, generator=s.noise, device=self.device) for s in self.streams])

    def uniform(self, shape: tuple[int, ...]) -> Tensor:
        return torch.stack([torch.rand(shape, generator=s.penalty, device=self.device) for s in self.streams])


@dataclass
class Stack:
    """The members' networks (stacked, or one network as a `Single`) and their optimizers."""

    generator: nn.Module
    critic: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    # The settings the step reads (`stacked_settings`: per-member penalty weights as [K] tensors)
    settings: Hyperparameters | None = None


class Health:
    """Which members are still finite, and the first step each one was not, kept on the device."""

    def __init__(self, members: int, device: torch.device) -> None:
        self.alive = torch.ones(members, dtype=torch.bool, device=device)
        self.diverged_at = torch.zeros(members, dtype=torch.long, device=device)  # 0: never

    def update(self, bad: Tensor, step: int) -> None:
        """Mark members whose loss at generator step `step` was NaN or infinite (no host sync)."""
        self.diverged_at.masked_fill_(bad & self.alive, step)
        self.alive &= ~bad
