"""Seed-batched training: K seeds of one method trained as one vmapped model (torch.func).

Each seed keeps its own initial weights, data, noise and penalty streams and its own optimizer
state: parameters are stacked along a leading seed axis, the networks run under `torch.func.vmap`,
each seed's loss is its own mean, and the summed loss gives every seed exactly its own gradient.
Adam and RMSprop are elementwise, so stacked optimizer state is per-seed state. The result matches
K separate `train` runs up to floating-point summation order.
"""

from __future__ import annotations

import copy
import math
import time
from functools import partial

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from ganbench.data.base import Dataset
from ganbench.engine.train import (
    Observer,
    StepCallback,
    Streams,
    TrainResult,
    build_networks,
    data_shape,
    is_track_step,
    make_optimizer,
)
from ganbench.models import Hyperparameters, Method, NetworkSize
from ganbench.models.packing import pack


class _Stacked:
    """K copies of one network with stacked parameters, called on [K, batch, ...] inputs."""

    def __init__(self, modules: list[nn.Module]) -> None:
        self.params, self.buffers = stack_module_state(modules)
        self.template = copy.deepcopy(modules[0]).to("meta")

        def call(params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor) -> Tensor:
            return functional_call(self.template, (params, buffers), (x,))

        self._batched = vmap(call)

    def __call__(self, x: Tensor) -> Tensor:
        return self._batched(self.params, self.buffers, x)

    def parameters(self) -> list[Tensor]:
        return list(self.params.values())

    def unstack(self, k: int, module: nn.Module) -> nn.Module:
        """Seed k's weights loaded into `module` (a network of the same architecture)."""
        state = {name: t[k].detach().clone() for name, t in {**self.params, **self.buffers}.items()}
        module.load_state_dict(state)
        return module


def _gradient_penalty(critic: _Stacked, real: Tensor, fake: Tensor, streams: list[Streams]) -> Tensor:
    """Per-seed E[(||grad D(x_hat)|| - 1)^2], drawing e from each seed's own penalty stream."""
    shape = (real.shape[1],) + (1,) * (real.dim() - 2)
    eps = torch.stack([torch.rand(shape, generator=s.penalty) for s in streams]).to(real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(2).norm(dim=2) - 1) ** 2).mean(dim=1)


def train_seeds(
    method: Method,
    hp: Hyperparameters,
    dataset: Dataset,
    size: NetworkSize,
    steps: int,
    batch_size: int,
    seeds: list[int],
    device: torch.device,
    log_every: int = 100,
    on_step: StepCallback | None = None,
    track_every: int = 0,
    observers: list[Observer] | None = None,
) -> list[TrainResult]:
    """Train one method for every seed in `seeds` at once; one `TrainResult` per seed, in order.

    A seed whose loss becomes NaN or infinite is marked `diverged` at that step, like `train`
    would; the other seeds go on (their slices of every batched operation are independent).
    `seconds` of each result is the batch's wall time divided by the number of seeds.
    `observers[k]` sees seed k's networks (unstacked copies) at the tracking steps, as in `train`.
    """
    started = time.perf_counter()
    streams = [Streams.from_seed(seed) for seed in seeds]
    networks = [build_networks(hp, size, data_shape(dataset), seed, device) for seed in seeds]
    generator, critic = _Stacked([g for g, _ in networks]), _Stacked([d for _, d in networks])
    opt_g, opt_d = make_optimizer(generator.parameters(), hp), make_optimizer(critic.parameters(), hp)
    d_loss_fn = vmap(method.objective.discriminator_loss)
    g_loss_fn = vmap(method.objective.generator_loss)
    results = [TrainResult(g, "ok", None, 0.0) for g, _ in networks]

    draws = batch_size * hp.pack  # as in `train`: m x batch_size samples make batch_size packs
    packed = vmap(partial(pack, m=hp.pack))

    def noise() -> Tensor:
        codes = [torch.randn(draws, size.latent_dim, generator=s.noise) for s in streams]
        return torch.stack(codes).to(device)

    def real_batch() -> Tensor:
        return packed(torch.stack([dataset.sample(draws, s.data) for s in streams]).to(device))

    def track(step: int) -> None:
        if observers is None or not is_track_step(step, steps, track_every):
            return
        for k, (result, observer) in enumerate(zip(results, observers, strict=True)):
            if result.status == "ok":
                g, d = networks[k]
                result.observe(step, observer, generator.unstack(k, g), critic.unstack(k, d))

    def mark_diverged(values: list[float], step: int) -> None:
        for result, value in zip(results, values, strict=True):
            if result.status == "ok" and not math.isfinite(value):
                result.status, result.diverged_step = "diverged", step

    track(0)
    for step in range(1, steps + 1):
        for _ in range(hp.n_critic):
            real = real_batch()
            with torch.no_grad():
                fake = packed(generator(noise()))
            d_loss = d_loss_fn(critic(real), critic(fake))
            if hp.gp_lambda:
                d_loss = d_loss + hp.gp_lambda * _gradient_penalty(critic, real, fake, streams)
            d_values = d_loss.tolist()
            mark_diverged(d_values, step)
            opt_d.zero_grad(set_to_none=True)
            d_loss.sum().backward()
            opt_d.step()
            if hp.clip:
                with torch.no_grad():
                    for p in critic.parameters():
                        p.clamp_(-hp.clip, hp.clip)
        g_loss = g_loss_fn(critic(packed(generator(noise()))))
        g_values = g_loss.tolist()
        mark_diverged(g_values, step)
        opt_g.zero_grad(set_to_none=True)
        g_loss.sum().backward()
        opt_g.step()
        if step % log_every == 0 or step == steps:
            for result, d_value, g_value in zip(results, d_values, g_values, strict=True):
                if result.status == "ok":
                    result.loss_steps.append(step)
                    result.d_losses.append(d_value)
                    result.g_losses.append(g_value)
        track(step)
        if on_step is not None:
            on_step(step)
        if all(result.status == "diverged" for result in results):
            break

    for k, result in enumerate(results):
        generator.unstack(k, result.generator)
        result.seconds = (time.perf_counter() - started) / len(seeds)
    return results
