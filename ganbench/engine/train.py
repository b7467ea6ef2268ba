"""The training engine: K jobs of one method trained together as one stacked model, one step function.

The K members (seeds, datasets: anything with the same networks and settings) are stacked along a
leading axis (ganbench.engine.stacked); a job alone is a stack of one, trained by the same code.
Each member keeps its own initial weights, random streams (ganbench.engine.streams), optimizer
state and batch-norm statistics, so it gets the result of its own separate run up to float
summation order. Nothing is read back to the host between logging points: divergence is a
per-member alive mask with the first non-finite step kept on the device, and the loss history is
written into a device tensor. With `Checkpoints`, the whole stacked state is saved every N steps,
and a group started again resumes from its last checkpoint to the same result, bit for bit on a CPU.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from ganbench.data.base import Dataset
from ganbench.engine.checkpoint import Checkpoints, load_checkpoint, restore, save_checkpoint
from ganbench.engine.optim import StackedAdam, StackedRMSprop, StackedSGD
from ganbench.engine.stacked import CannotStack, Single, stack, stack_or_single, unstack
from ganbench.engine.state import (
    Draws,
    Health,
    Member,
    Observer,
    Stack,
    StreamDraws,
    TrainResult,
)
from ganbench.engine.streams import generator as stream
from ganbench.engine.streams import stream_seed
from ganbench.models import ARCHITECTURES, Hyperparameters, Method, NetworkSize
from ganbench.models.base import PER_MEMBER, SWITCHED, OptimizerName, step_structure
from ganbench.models.packing import pack_members, packed_shape
from ganbench.models.regularizers import Uniform
from ganbench.models.spectral import apply_spectral_norm

StepCallback = Callable[[int], None]  # called with the number of generator steps done


def is_track_step(step: int, steps: int, track_every: int) -> bool:
    """Tracking happens before training (step 0), every `track_every` steps, and at the end."""
    return track_every > 0 and (step % track_every == 0 or step == steps)


def log_steps(steps: int, log_every: int) -> list[int]:
    """The steps whose losses are recorded: every `log_every`-th and the last."""
    return [s for s in range(1, steps + 1) if s % log_every == 0 or s == steps]


def make_optimizer(
    params: list[nn.Parameter], role: Literal["d", "g"], members: list[Hyperparameters]
) -> torch.optim.Optimizer:
    """The optimizer the members' settings name for the critic ("d") or the generator ("g"), at each
    member's own step size for that role (`Hyperparameters.lr_of`); where the members differ in step
    size or betas, its stacked form with each member's own values (ganbench.engine.optim).

    Members that share their step size and betas get torch's own optimizer.
    """
    hp, lrs = members[0], [s.lr_of(role) for s in members]
    if len({(lr, s.beta1, s.beta2) for lr, s in zip(lrs, members, strict=True)}) == 1:
        if hp.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=lrs[0])
        if hp.optimizer == "sgd":
            return torch.optim.SGD(params, lr=lrs[0])
        return torch.optim.Adam(params, lr=lrs[0], betas=(hp.beta1, hp.beta2))
    if hp.optimizer == "rmsprop":
        return StackedRMSprop(params, lrs)
    if hp.optimizer == "sgd":
        return StackedSGD(params, lrs)
    return StackedAdam(params, lrs, [s.beta1 for s in members], [s.beta2 for s in members])


def stacked_settings(settings: list[Hyperparameters], device: torch.device) -> Hyperparameters:
    """One Hyperparameters for the training step of members with these settings: shared values as
    they are; a penalty weight or clipping bound that differs between members becomes a [K] tensor
    (the regularizers read each member's own). Members must share `step_structure`."""
    first = settings[0]
    if any(step_structure(s) != step_structure(first) for s in settings):
        raise ValueError("members of one stacked model must share every setting but " + ", ".join(PER_MEMBER))
    varying = {
        name: torch.tensor([getattr(s, name) for s in settings], dtype=torch.float32, device=device)
        for name in SWITCHED
        if len({getattr(s, name) for s in settings}) > 1
    }
    return dataclasses.replace(first, **varying) if varying else first


def data_shape(dataset: Dataset) -> tuple[int, ...]:
    """The shape of one sample (without the batch axis)."""
    return tuple(dataset.sample(1, torch.Generator().manual_seed(0)).shape[1:])


def build_networks(
    hp: Hyperparameters, size: NetworkSize, data_shape: tuple[int, ...], seed: int, device: torch.device
) -> tuple[nn.Module, nn.Module]:
    """Generator and discriminator initialized from the seed's own `init` stream (built on the CPU,
    so a seed's initial weights are the same on every device); the global RNG is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(seed, "init"))
        build = ARCHITECTURES.get(hp.architecture).build
        generator, discriminator = build(size, data_shape, packed_shape(data_shape, hp.pack))
        if hp.spectral_norm:  # its power-iteration vectors start from the same seeded stream
            apply_spectral_norm(discriminator)
    return generator.to(device), discriminator.to(device)


def stacking_problem(hp: Hyperparameters, size: NetworkSize, data_shape: tuple[int, ...]) -> str | None:
    """Why jobs with these networks cannot train stacked, or None when they can."""
    nets = [build_networks(hp, size, data_shape, seed, torch.device("cpu")) for seed in (0, 1)]
    try:
        stack([g for g, _ in nets], (size.latent_dim,))
        stack([d for _, d in nets], packed_shape(data_shape, hp.pack))
    except CannotStack as err:
        return str(err)
    return None


def training_step(
    nets: Stack, method: Method, hp: Hyperparameters, draws: Draws, step: int, health: Health
) -> tuple[Tensor, Tensor]:
    """One generator step for every member: `n_critic` critic steps (loss plus the method's penalty,
    then its constraint), then the generator step (`generator_loss`). Returns the last critic loss
    and the generator loss, [K] each, on the device; a non-finite loss marks its member in `health`.

    Members are independent slices of every operation, so a member gone non-finite does not touch
    the others; its own numbers are not used after the step `health` records.
    """
    d_loss_fn = torch.vmap(method.objective.discriminator_loss)
    bad = torch.zeros_like(health.alive)
    d_loss = torch.zeros_like(health.diverged_at, dtype=torch.float32)
    for _ in range(hp.n_critic):
        real = pack_members(draws.real(), hp.pack)
        with torch.no_grad():
            fake = pack_members(nets.generator(draws.noise()), hp.pack)
        d_loss = critic_loss(nets.critic, method, hp, real, fake, draws.uniform, d_loss_fn)
        bad |= ~torch.isfinite(d_loss)
        nets.opt_d.zero_grad(set_to_none=True)
        d_loss.sum().backward()
        nets.opt_d.step()
        method.constraint(nets.critic, hp)
    # The generator step needs gradients through the critic, not of its weights (zeroed before its
    # next step anyway): freezing them saves their backward matmuls.
    critic_params = [p for p in nets.critic.parameters() if p.requires_grad]
    for p in critic_params:
        p.requires_grad_(False)
    try:
        g_loss = generator_loss(nets, method, hp, draws, d_loss_fn)
        bad |= ~torch.isfinite(g_loss)
        nets.opt_g.zero_grad(set_to_none=True)
        g_loss.sum().backward()
        nets.opt_g.step()
    finally:  # a raising objective leaves the critic trainable, as it found it
        for p in critic_params:
            p.requires_grad_(True)
    health.update(bad, step)
    return d_loss.detach(), g_loss.detach()


def critic_loss(
    critic: nn.Module, method: Method, hp: Hyperparameters, real: Tensor, fake: Tensor, uniform: Uniform,
    d_loss_fn: Callable[[Tensor, Tensor], Tensor],
) -> Tensor:  # fmt: skip
    """Each member's critic loss on packed batches: the objective's, plus the method's penalty."""
    loss = d_loss_fn(critic(real), critic(fake))
    extra = method.penalty(critic, real, fake, hp, uniform)
    return loss if extra is None else loss + extra


def generator_loss(
    nets: Stack,
    method: Method,
    hp: Hyperparameters,
    draws: Draws,
    d_loss_fn: Callable[[Tensor, Tensor], Tensor],
) -> Tensor:
    """Each member's generator loss on a fresh batch, [K]: judged by the critic, or with `unroll` k > 0
    by the critic after k surrogate steps on that batch (Unrolled GAN), gradients flowing through them.

    A relativistic objective (`generator_reads_real`) and the unrolled steps also draw a real batch.
    """
    fake = pack_members(nets.generator(draws.noise()), hp.pack)
    objective = method.objective
    real = pack_members(draws.real(), hp.pack) if hp.unroll or objective.generator_reads_real else None
    critic = nets.critic
    if hp.unroll:
        critic = unrolled_critic(nets, method, hp, real, fake, draws.uniform, d_loss_fn)
    g_loss_fn = torch.vmap(objective.generator_loss)
    if objective.generator_reads_real:
        return g_loss_fn(critic(real), critic(fake))
    return g_loss_fn(critic(fake))


class Surrogate(nn.Module):
    """The critic's architecture evaluated at other weights (`torch.func.functional_call`): the
    unrolled critic, whose weights are functions of the generator's."""

    def __init__(self, critic: nn.Module, weights: dict[str, Tensor], buffers: dict[str, Tensor]) -> None:
        super().__init__()
        self._critic = [critic]  # a list: not registered as a submodule, so no one trains it by mistake
        self.weights, self.state = weights, buffers

    def forward(self, x: Tensor) -> Tensor:
        return torch.func.functional_call(self._critic[0], (self.weights, self.state), (x,))


def unrolled_critic(
    nets: Stack, method: Method, hp: Hyperparameters, real: Tensor, fake: Tensor, uniform: Uniform,
    d_loss_fn: Callable[[Tensor, Tensor], Tensor],
) -> Surrogate:  # fmt: skip
    """The critic after `hp.unroll` surrogate steps of its own optimizer's update on (real, fake),
    each step's graph kept (Metz et al. 2017, eq. 5-7: the generator's gradient includes how the
    critic's update depends on it; their code unrolls with the same minibatch and with Adam's update).

    The real weights, optimizer state and batch-norm or spectral-norm buffers are not changed (the
    surrogate steps work on copies); the critic's constraint (weight clipping) is not applied to them.
    """
    names = [name for name, _ in nets.critic.named_parameters()]
    originals = [p for _, p in nets.critic.named_parameters()]
    weights = {name: p.detach().requires_grad_(True) for name, p in zip(names, originals, strict=True)}
    buffers = {name: b.clone() for name, b in nets.critic.named_buffers()}
    update = SurrogateUpdate(hp.optimizer, nets.opt_d, originals)
    for _ in range(hp.unroll):
        surrogate = Surrogate(nets.critic, weights, buffers)
        loss = critic_loss(surrogate, method, hp, real, fake, uniform, d_loss_fn)
        grads = torch.autograd.grad(loss.sum(), list(weights.values()), create_graph=True)
        weights = {
            name: update.step(k, w, g)
            for k, (name, w, g) in enumerate(zip(names, weights.values(), grads, strict=True))
        }
    return Surrogate(nets.critic, weights, buffers)


class SurrogateUpdate:
    """The critic optimizer's update rule (`optimizer` names it: adam, rmsprop, sgd) as differentiable
    tensor operations, continuing from the optimizer's moment estimates and step count and carrying
    its own across the surrogate steps. Settings come from the optimizer's parameter group: scalars in
    torch's own optimizers, [K] tensors in the stacked ones (ganbench.engine.optim)."""

    def __init__(
        self, optimizer: OptimizerName, torch_optimizer: torch.optim.Optimizer, params: list[Tensor]
    ) -> None:
        self.kind, self.group = optimizer, torch_optimizer.param_groups[0]
        states = [torch_optimizer.state.get(p, {}) for p in params]
        self.steps = [float(state.get("step", 0.0)) for state in states]
        keys = {"adam": ("exp_avg", "exp_avg_sq"), "rmsprop": ("square_avg",), "sgd": ()}[optimizer]
        self.moments = [
            {key: state[key].detach() if key in state else torch.zeros_like(p) for key in keys}
            for p, state in zip(params, states, strict=True)
        ]

    def _setting(self, name: str, like: Tensor) -> Tensor | float:
        value = self.group[name]
        return value.view(-1, *[1] * (like.dim() - 1)) if isinstance(value, Tensor) else value

    def step(self, index: int, weight: Tensor, grad: Tensor) -> Tensor:
        """Weight `index` after one more update with `grad` (a function of both, for autograd)."""
        lr = self._setting("lr", weight)
        if self.kind == "sgd":
            return weight - lr * grad
        # sqrt(v + eps^2) rather than sqrt(v): the same to float32 rounding, and differentiable where a
        # weight's gradient has always been zero (v = 0, where sqrt's derivative is infinite).
        eps, moments = self.group["eps"], self.moments[index]
        if self.kind == "rmsprop":
            alpha = self.group["alpha"]
            moments["square_avg"] = alpha * moments["square_avg"] + (1 - alpha) * grad * grad
            return weight - lr * grad / ((moments["square_avg"] + eps**2).sqrt() + eps)
        if "betas" in self.group:  # torch.optim.Adam; the stacked Adam keeps beta1 and beta2 apart
            beta1, beta2 = self.group["betas"]
        else:
            beta1, beta2 = self._setting("beta1", weight), self._setting("beta2", weight)
        self.steps[index] += 1
        t = self.steps[index]
        moments["exp_avg"] = beta1 * moments["exp_avg"] + (1 - beta1) * grad
        moments["exp_avg_sq"] = beta2 * moments["exp_avg_sq"] + (1 - beta2) * grad * grad
        denom = (moments["exp_avg_sq"] + eps**2).sqrt() / (1 - beta2**t) ** 0.5 + eps
        return weight - lr / (1 - beta1**t) * moments["exp_avg"] / denom


def member_settings(hp: Hyperparameters, members: list[Member]) -> list[Hyperparameters]:
    """Each member's settings: its own where it has them, else the group's `hp`."""
    return [m.hyperparameters or hp for m in members]


def build_group(
    hp: Hyperparameters, members: list[Member], size: NetworkSize, batch_size: int, device: torch.device
) -> tuple[list[tuple[nn.Module, nn.Module]], Stack, StreamDraws]:
    """Each member's own networks, their stack with its optimizers, and the members' draws."""
    shape = data_shape(members[0].dataset)
    settings = member_settings(hp, members)
    plain = [build_networks(hp, size, shape, m.seed, device) for m in members]
    generator, _ = stack_or_single([g for g, _ in plain], (size.latent_dim,))
    critic, _ = stack_or_single([d for _, d in plain], packed_shape(shape, hp.pack))
    nets = Stack(
        generator,
        critic,
        make_optimizer(list(generator.parameters()), "g", settings),
        make_optimizer(list(critic.parameters()), "d", settings),
        stacked_settings(settings, device),
    )
    # Under PacGAN packing the discriminator sees batch_size packs of m samples each, so a step draws
    # m x batch_size real samples and latent codes (hp.pack = 1: plain batches).
    return plain, nets, StreamDraws(members, batch_size * hp.pack, size.latent_dim, device)


def seconds_per_step(
    method: Method, hp: Hyperparameters, members: list[Member], size: NetworkSize, batch_size: int,
    device: torch.device, steps: int = 3, warmup: int = 2,
) -> float:  # fmt: skip
    """The median wall time of one `training_step` of these members stacked, after `warmup` steps
    (allocator and kernel selection), on throwaway networks: the figure run-time estimates scale."""
    _, nets, draws = build_group(hp, members, size, batch_size, device)
    health = Health(len(members), device)
    times = []
    for step in range(1, warmup + steps + 1):
        started = time.perf_counter()
        training_step(nets, method, nets.settings, draws, step, health)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - started)
    return float(torch.tensor(times[warmup:]).median())


def train_group(
    method: Method,
    hp: Hyperparameters,
    members: list[Member],
    size: NetworkSize,
    steps: int,
    batch_size: int,
    device: torch.device,
    log_every: int = 100,
    on_step: StepCallback | None = None,
    track_every: int = 0,
    checkpoints: Checkpoints | None = None,
) -> list[TrainResult]:
    """Train every member for `steps` generator steps as one stacked model; one result per member.

    A member whose loss becomes NaN or infinite is `diverged` at that step (the others go on); the
    run stops early once every member has diverged. With `track_every` > 0, each member's observer
    sees its own networks (unstacked copies, eval mode) at step 0, every `track_every` steps and
    at the end. `seconds` of each result is the group's wall time divided by the number of members.
    With `checkpoints`, the state is saved every `checkpoints.every` steps and after the last one,
    and a saved state of this group is resumed from (its time counts in `seconds`).
    """
    started = time.perf_counter()
    plain, nets, draws = build_group(hp, members, size, batch_size, device)
    health = Health(len(members), device)
    logged = log_steps(steps, log_every)
    history = torch.full((len(logged), 2, len(members)), float("nan"), device=device)
    results = [TrainResult(g, "ok", None, 0.0) for g, _ in plain]

    def member_nets(k: int) -> tuple[nn.Module, nn.Module]:
        g, d = plain[k]
        return (
            g if isinstance(nets.generator, Single) else unstack(nets.generator, k, g),
            d if isinstance(nets.critic, Single) else unstack(nets.critic, k, d),
        )

    def track(step: int) -> None:
        if not is_track_step(step, steps, track_every):
            return
        alive = health.alive.tolist()  # a tracking point is a logging point: one read-back
        for k, (member, result) in enumerate(zip(members, results, strict=True)):
            if member.observer is not None and alive[k]:
                result.observe(step, member.observer, *member_nets(k))

    state = load_checkpoint(checkpoints, device) if checkpoints is not None else None
    first, next_log, earlier = 1, 0, 0.0
    if state is not None:
        next_log = restore(state, nets, draws, health, history, results)
        first, earlier = state["step"] + 1, state["seconds"]
    else:
        track(0)
    for step in range(first, steps + 1):
        d_loss, g_loss = training_step(nets, method, nets.settings, draws, step, health)
        if next_log < len(logged) and logged[next_log] == step:
            history[next_log, 0], history[next_log, 1] = d_loss, g_loss
            next_log += 1
            if not health.alive.any():  # read back at logging points only
                break
        track(step)
        if on_step is not None:
            on_step(step)
        if checkpoints is not None and (step % checkpoints.every == 0 or step == steps):
            elapsed = earlier + time.perf_counter() - started
            save_checkpoint(checkpoints, step, nets, draws, health, history, next_log, results, elapsed)

    diverged_at, history_host = health.diverged_at.tolist(), history[:next_log].tolist()
    seconds = (earlier + time.perf_counter() - started) / len(members)
    for k, result in enumerate(results):
        last = diverged_at[k] - 1 if diverged_at[k] else steps
        kept = [i for i, s in enumerate(logged[:next_log]) if s <= last]
        result.loss_steps = [logged[i] for i in kept]
        result.d_losses = [history_host[i][0][k] for i in kept]
        result.g_losses = [history_host[i][1][k] for i in kept]
        if diverged_at[k]:
            result.status, result.diverged_step = "diverged", diverged_at[k]
        result.generator, result.critic = member_nets(k)
        result.seconds = seconds
    return results


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
    """One job: `train_group` with a stack of one member."""
    (result,) = train_group(
        method, hp, [Member(seed, dataset, observer)], size, steps, batch_size, device, log_every, on_step,
        track_every,
    )  # fmt: skip
    return result


# Generation runs in chunks: 10,000 DCGAN images at once would hold gigabytes of activations.
GENERATE_CHUNK = 1000


@torch.no_grad()
def generate(generator: nn.Module, n: int, latent_dim: int, seed: int, device: torch.device) -> torch.Tensor:
    """`n` samples from the job seed's `eval-noise` stream (apart from training's streams).

    All codes are drawn first, on the CPU, so the samples do not depend on the chunk size or device.
    """
    generator.eval()
    z = torch.randn(n, latent_dim, generator=stream(seed, "eval-noise"))
    return torch.cat([generator(chunk.to(device)).cpu() for chunk in z.split(GENERATE_CHUNK)])
