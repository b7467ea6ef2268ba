"""The training loop: n_critic discriminator steps per generator step, divergence detection."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from ganbench.data.base import Dataset
from ganbench.models import ARCHITECTURES, Hyperparameters, Method, NetworkSize
from ganbench.models.base import Objective
from ganbench.models.objectives import gradient_penalty
from ganbench.models.packing import pack, packed_shape

TrainStatus = Literal["ok", "diverged"]
StepCallback = Callable[[int], None]  # called with the number of generator steps done
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


def is_track_step(step: int, steps: int, track_every: int) -> bool:
    """Tracking happens before training (step 0), every `track_every` steps, and at the end."""
    return track_every > 0 and (step % track_every == 0 or step == steps)


@dataclass(frozen=True)
class Streams:
    """Independent, seeded random streams, so a seed fixes data, noise and penalty draws alike."""

    data: torch.Generator
    noise: torch.Generator
    penalty: torch.Generator

    @classmethod
    def from_seed(cls, seed: int) -> Streams:
        # Distinct offsets keep the three streams apart for the same job seed.
        return cls(*(torch.Generator().manual_seed(seed * 3 + i) for i in range(3)))


def make_optimizer(params: list[nn.Parameter], hp: Hyperparameters) -> torch.optim.Optimizer:
    """The optimizer the method's hyperparameters name."""
    if hp.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=hp.lr)
    return torch.optim.Adam(params, lr=hp.lr, betas=(hp.beta1, hp.beta2))


def data_shape(dataset: Dataset) -> tuple[int, ...]:
    """The shape of one sample (without the batch axis)."""
    return tuple(dataset.sample(1, torch.Generator().manual_seed(0)).shape[1:])


def build_networks(
    hp: Hyperparameters, size: NetworkSize, data_shape: tuple[int, ...], seed: int, device: torch.device
) -> tuple[nn.Module, nn.Module]:
    """Generator and discriminator initialized from `seed` alone."""
    torch.manual_seed(seed)
    build = ARCHITECTURES.get(hp.architecture).build
    generator, discriminator = build(size, data_shape, packed_shape(data_shape, hp.pack))
    return generator.to(device), discriminator.to(device)


def train(
    method: Method,
    hp: Hyperparameters,
    dataset: Dataset,
    size: NetworkSize,
    steps: int,
    batch_size: int,
    seed: int,
    device: torch.device,
    log_every: int = 100,
    on_step: StepCallback | None = None,
    track_every: int = 0,
    observer: Observer | None = None,
) -> TrainResult:
    """Train for `steps` generator steps; stop at the first non-finite loss and report `diverged`.

    With an `observer` and `track_every` > 0, the observer's values are recorded in `curves` at
    step 0, every `track_every` steps and at the last step.
    """
    started = time.perf_counter()
    streams = Streams.from_seed(seed)
    generator, discriminator = build_networks(hp, size, data_shape(dataset), seed, device)
    opt_g = make_optimizer(list(generator.parameters()), hp)
    opt_d = make_optimizer(list(discriminator.parameters()), hp)
    result = TrainResult(generator, "ok", None, 0.0)

    # Under PacGAN packing the discriminator sees batch_size packs of m samples each, so a step
    # draws m x batch_size real samples and latent codes (hp.pack = 1: plain batches).
    draws = batch_size * hp.pack

    def noise() -> torch.Tensor:
        return torch.randn(draws, size.latent_dim, generator=streams.noise).to(device)

    if observer is not None and is_track_step(0, steps, track_every):
        result.observe(0, observer, generator, discriminator)
    for step in range(1, steps + 1):
        d_value, g_value = iteration(
            method.objective, hp, generator, discriminator, opt_g, opt_d,
            real=lambda: dataset.sample(draws, streams.data).to(device), noise=noise, penalty=streams.penalty,
        )  # fmt: skip
        if not (math.isfinite(d_value) and math.isfinite(g_value)):
            result.status, result.diverged_step = "diverged", step
            break
        if step % log_every == 0 or step == steps:
            result.loss_steps.append(step)
            result.d_losses.append(d_value)
            result.g_losses.append(g_value)
        if observer is not None and is_track_step(step, steps, track_every):
            result.observe(step, observer, generator, discriminator)
        if on_step is not None:
            on_step(step)
    result.seconds = time.perf_counter() - started
    return result


def iteration(
    objective: Objective,
    hp: Hyperparameters,
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real: Callable[[], torch.Tensor],
    noise: Callable[[], torch.Tensor],
    penalty: torch.Generator,
) -> tuple[float, float]:
    """One training iteration: `n_critic` discriminator steps, then one generator step.

    `real()` and `noise()` draw m x batch_size samples and codes (m = hp.pack), packed here.
    Returns the last discriminator loss and the generator loss. Every loss is checked before its
    step is applied: a non-finite one stops the iteration there, and the caller sees it.
    """
    d_value = math.nan
    for _ in range(hp.n_critic):
        real_packed = pack(real(), hp.pack)
        with torch.no_grad():
            fake = pack(generator(noise()), hp.pack)
        d_loss = objective.discriminator_loss(discriminator(real_packed), discriminator(fake))
        if hp.gp_lambda:
            d_loss = d_loss + hp.gp_lambda * gradient_penalty(discriminator, real_packed, fake, penalty)
        d_value = d_loss.item()
        if not math.isfinite(d_value):
            break
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        if hp.clip:
            with torch.no_grad():
                for p in discriminator.parameters():
                    p.clamp_(-hp.clip, hp.clip)
    g_loss = objective.generator_loss(discriminator(pack(generator(noise()), hp.pack)))
    g_value = g_loss.item()
    if math.isfinite(d_value) and math.isfinite(g_value):
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    return d_value, g_value


# Generation runs in chunks: 10,000 DCGAN images at once would hold gigabytes of activations.
GENERATE_CHUNK = 1000


@torch.no_grad()
def generate(generator: nn.Module, n: int, latent_dim: int, seed: int, device: torch.device) -> torch.Tensor:
    """`n` samples from the noise stream seeded by `seed` (the caller keeps it apart from training's).

    All codes are drawn first, so the samples do not depend on the chunk size.
    """
    generator.eval()
    z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))
    return torch.cat([generator(chunk.to(device)).cpu() for chunk in z.split(GENERATE_CHUNK)])
