"""The engine before stacking (ganbench 0.x as of commit 824075d), kept as the benchmark's baseline.

`loop` is the plain way: one job at a time, with a host read-back of every loss per step. `vmap` is
the former seed batching: the seeds of one dataset as one `torch.func.vmap` model (no batch norm).
Both train the same networks with the same optimizers as the engine; tests/test_bench.py times them
beside `ganbench.engine.train.train_group` in one run. They are not used by ganbench itself.
"""

from __future__ import annotations

import copy
import math
from functools import partial

import torch
from torch import Tensor
from torch.func import functional_call, stack_module_state, vmap

from ganbench.engine.train import build_networks, data_shape, make_optimizer
from ganbench.models.packing import pack


def _gradient_penalty(critic, real: Tensor, fake: Tensor, generator: torch.Generator) -> Tensor:
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, generator=generator)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def loop(method, hp, dataset, size, steps: int, batch_size: int, seed: int) -> str:
    """One job, trained as ganbench's per-seed loop did; returns its status."""
    data, noise, penalty = (torch.Generator().manual_seed(seed * 3 + i) for i in range(3))
    generator, critic = build_networks(hp, size, data_shape(dataset), seed, torch.device("cpu"))
    opt_g, opt_d = (
        make_optimizer(list(generator.parameters()), "g", [hp]),
        make_optimizer(list(critic.parameters()), "d", [hp]),
    )
    draws = batch_size * hp.pack
    for _ in range(steps):
        for _ in range(hp.n_critic):
            real = pack(dataset.sample(draws, data), hp.pack)
            with torch.no_grad():
                fake = pack(generator(torch.randn(draws, size.latent_dim, generator=noise)), hp.pack)
            d_loss = method.objective.discriminator_loss(critic(real), critic(fake))
            if hp.gp_lambda:
                d_loss = d_loss + hp.gp_lambda * _gradient_penalty(critic, real, fake, penalty)
            if not math.isfinite(d_loss.item()):
                return "diverged"
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            if hp.clip:
                with torch.no_grad():
                    for p in critic.parameters():
                        p.clamp_(-hp.clip, hp.clip)
        fake = pack(generator(torch.randn(draws, size.latent_dim, generator=noise)), hp.pack)
        g_loss = method.objective.generator_loss(critic(fake))
        if not math.isfinite(g_loss.item()):
            return "diverged"
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    return "ok"


class _Vmapped:
    def __init__(self, modules) -> None:
        self.params, self.buffers = stack_module_state(modules)
        template = copy.deepcopy(modules[0]).to("meta")
        self._call = vmap(lambda p, b, x: functional_call(template, (p, b), (x,)))

    def __call__(self, x: Tensor) -> Tensor:
        return self._call(self.params, self.buffers, x)


def vmapped(method, hp, dataset, size, steps: int, batch_size: int, seeds: list[int]) -> list[float]:
    """The seeds of one dataset as one vmapped model, as ganbench's seed batching did."""
    streams = [[torch.Generator().manual_seed(s * 3 + i) for i in range(3)] for s in seeds]
    nets = [build_networks(hp, size, data_shape(dataset), s, torch.device("cpu")) for s in seeds]
    generator, critic = _Vmapped([g for g, _ in nets]), _Vmapped([d for _, d in nets])
    opt_g = make_optimizer(list(generator.params.values()), "g", [hp])
    opt_d = make_optimizer(list(critic.params.values()), "d", [hp])
    d_loss_fn, g_loss_fn = vmap(method.objective.discriminator_loss), vmap(method.objective.generator_loss)
    draws, packed = batch_size * hp.pack, vmap(partial(pack, m=hp.pack))

    def noise() -> Tensor:
        return torch.stack([torch.randn(draws, size.latent_dim, generator=s[1]) for s in streams])

    g_values: list[float] = []
    for _ in range(steps):
        for _ in range(hp.n_critic):
            real = packed(torch.stack([dataset.sample(draws, s[0]) for s in streams]))
            with torch.no_grad():
                fake = packed(generator(noise()))
            d_loss = d_loss_fn(critic(real), critic(fake))
            if hp.gp_lambda:
                shape = (real.shape[1],) + (1,) * (real.dim() - 2)
                eps = torch.stack([torch.rand(shape, generator=s[2]) for s in streams])
                x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
                (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
                d_loss = d_loss + hp.gp_lambda * ((grad.flatten(2).norm(dim=2) - 1) ** 2).mean(dim=1)
            d_loss.tolist()  # the former engine read every loss back to check it
            opt_d.zero_grad(set_to_none=True)
            d_loss.sum().backward()
            opt_d.step()
            if hp.clip:
                with torch.no_grad():
                    for p in critic.params.values():
                        p.clamp_(-hp.clip, hp.clip)
        g_loss = g_loss_fn(critic(packed(generator(noise()))))
        g_values = g_loss.tolist()
        opt_g.zero_grad(set_to_none=True)
        g_loss.sum().backward()
        opt_g.step()
    return g_values
