"""Checkpoints of a stacked training: the whole state of a job group, saved atomically and resumed.

The state is everything a step depends on (stacked weights and batch-norm buffers, both optimizers,
every member's random streams, the divergence mask, the loss history, the curves so far), so a
resumed group continues exactly where the saved one was: bit for bit on a CPU. Files hold tensors,
numbers and strings only and are read with `torch.load(weights_only=True)`. A file is trusted only
after `check` has compared all of it with the freshly built group (`Fresh`): every key, type and
range, the shape of every tensor, and the logs and curves against the saved step.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganbench.engine.state import Health, Stack, StreamDraws, TrainResult
from ganbench.files import write_atomic

# Bump when the saved state's layout changes: a checkpoint of another layout is not loaded.
CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class Checkpoints:
    """Where and how often `train_group` saves its whole state, so an interrupted group resumes.

    `identity` names the group (its jobs and settings): a file saved for anything else is not
    loaded. Checkpoints hold tensors, numbers and strings only and load with `weights_only=True`.
    """

    path: Path
    every: int
    identity: str


def _layout(
    identity: str, step: int, nets: Stack, draws: StreamDraws, alive: Tensor, diverged_at: Tensor,
    history: Tensor, next_log: int, curves: list[dict[str, list[float]]], seconds: float,
) -> dict[str, Any]:  # fmt: skip
    """What a checkpoint file holds."""
    return {
        "format": CHECKPOINT_FORMAT,
        "identity": identity,
        "step": step,
        "generator": nets.generator.state_dict(),
        "critic": nets.critic.state_dict(),
        "opt_g": nets.opt_g.state_dict(),
        "opt_d": nets.opt_d.state_dict(),
        "streams": [[s.data.get_state(), s.noise.get_state(), s.penalty.get_state()] for s in draws.streams],
        "alive": alive,
        "diverged_at": diverged_at,
        "history": history,
        "next_log": next_log,
        "curves": curves,
        "seconds": seconds,
    }


def save_checkpoint(
    checkpoints: Checkpoints, step: int, nets: Stack, draws: StreamDraws, health: Health,
    history: Tensor, next_log: int, results: list[TrainResult], seconds: float,
) -> None:  # fmt: skip
    """Write the group's state after generator step `step` atomically (readers never see a part)."""
    state = _layout(
        checkpoints.identity, step, nets, draws, health.alive, health.diverged_at, history, next_log,
        [result.curves for result in results], seconds,
    )  # fmt: skip
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(checkpoints.path, buffer.getvalue())


def _read(path: Path, device: torch.device | str, mmap: bool = False) -> tuple[dict[str, Any] | None, str]:
    """A checkpoint file's state, or None and why not (an empty reason: there is no file)."""
    if not path.is_file():
        return None, ""
    try:
        state = torch.load(path, map_location=device, weights_only=True, mmap=mmap)
    except Exception as err:  # noqa: BLE001 - a corrupt or foreign file is not trusted, never unpickled
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return None, f"unreadable: {_plain(first_line)}"
    if not isinstance(state, dict):
        return None, "not a checkpoint"
    if state.get("format") != CHECKPOINT_FORMAT:
        return None, f"layout {state.get('format')!r}, not {CHECKPOINT_FORMAT}"
    return state, ""


def load_checkpoint(checkpoints: Checkpoints, device: torch.device) -> dict[str, Any] | None:
    """The saved state, or None when there is none for this group (absent, unreadable, another
    group's or another layout's: training then starts from step 0, which is always correct)."""
    state, _ = _read(checkpoints.path, device)
    return state if state is not None and state.get("identity") == checkpoints.identity else None


def restore(
    state: dict[str, Any], nets: Stack, draws: StreamDraws, health: Health, history: Tensor,
    results: list[TrainResult],
) -> int:  # fmt: skip
    """Put a checkpoint's state into the freshly built group; returns the next logging index."""
    nets.generator.load_state_dict(state["generator"])
    nets.critic.load_state_dict(state["critic"])
    nets.opt_g.load_state_dict(state["opt_g"])
    nets.opt_d.load_state_dict(state["opt_d"])
    for streams, saved in zip(draws.streams, state["streams"], strict=True):
        for generator, rng_state in zip((streams.data, streams.noise, streams.penalty), saved, strict=True):
            generator.set_state(rng_state.cpu())
    health.alive.copy_(state["alive"])
    health.diverged_at.copy_(state["diverged_at"])
    history.copy_(state["history"])
    for result, curves in zip(results, state["curves"], strict=True):
        result.curves = curves
        result.resumed_from = state["step"]
    return state["next_log"]


def peek(path: Path) -> tuple[str, int] | None:
    """A checkpoint file's identity and step, unchecked, or None (no file, or not a readable
    checkpoint). Memory-mapped, so only the small entries are read, not the weights."""
    state, _ = _read(path, "cpu", mmap=True)
    if state is None or not isinstance(state.get("identity"), str) or type(state.get("step")) is not int:
        return None
    return state["identity"], state["step"]


@dataclass(frozen=True)
class Fresh:
    """A group as `train_group` builds it before step 1, and its schedule: what its checkpoint must fit.

    Build it with `fresh`; it is only compared with, never trained.
    """

    nets: Stack
    draws: StreamDraws
    steps: int
    logged: list[int]  # the steps whose losses the history keeps (`ganbench.engine.train.log_steps`)
    track_every: int

    def layout(self) -> dict[str, Any]:
        """The state a checkpoint of this group holds, with every key, type and tensor shape."""
        members = len(self.draws.streams)
        alive = torch.ones(members, dtype=torch.bool)
        diverged_at = torch.zeros(members, dtype=torch.long)
        history = torch.empty(len(self.logged), 2, members)
        curves: list[dict[str, list[float]]] = [{} for _ in range(members)]
        return _layout("", 0, self.nets, self.draws, alive, diverged_at, history, 0, curves, 0.0)


def fresh(nets: Stack, draws: StreamDraws, steps: int, logged: list[int], track_every: int) -> Fresh:
    """A freshly built (throwaway) group to check checkpoints against. Its optimizers take one step
    with zero gradients first, so that their per-weight state exists (its shapes are compared)."""
    for optimizer in (nets.opt_g, nets.opt_d):
        for group in optimizer.param_groups:
            for param in group["params"]:
                param.grad = torch.zeros_like(param)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return Fresh(nets, draws, steps, logged, track_every)


def check(checkpoints: Checkpoints, group: Fresh) -> tuple[int, str | None]:
    """The step the group resumes from with its checkpoint file (0: from the start) and, for a file it
    cannot resume from, why (None: the file is usable, or there is none)."""
    state, why = _read(checkpoints.path, "cpu", mmap=True)  # mapped: the weights' shapes, not their bytes
    if state is None:
        return 0, why or None
    if state.get("identity") != checkpoints.identity:
        return 0, "saved for other jobs or settings"
    try:
        problem = validate(state, group)
    except Exception as err:  # noqa: BLE001 - a hostile file must not stop the group: it is not used
        problem = f"not checkable: {_plain(str(err))}"
    return (0, problem) if problem else (state["step"], None)


# The entries compared with the fresh group's by structure alone (the rest are checked by value).
_SHAPED = ("generator", "critic", "streams", "alive", "diverged_at", "history", "next_log", "seconds")


def validate(state: dict[str, Any], group: Fresh) -> str | None:
    """Why `state` cannot be resumed by `group` (a key, type, range or tensor shape that does not fit
    the freshly built group, or logs and curves that do not fit the step), or None when it can."""
    layout = group.layout()
    if problem := _keys_problem(state, layout, "the checkpoint"):
        return problem
    step = state["step"]
    if type(step) is not int or not 1 <= step <= group.steps:
        return f"step {step!r:.40} is not a whole number from 1 to {group.steps:,}"
    for key in _SHAPED:
        if problem := _mismatch(state[key], layout[key], key):
            return problem
    if not isinstance(state["curves"], list) or len(state["curves"]) != len(layout["curves"]):
        return f"curves is not a list of {len(layout['curves'])}"
    n_critic = group.nets.settings.n_critic if group.nets.settings is not None else 1
    for name, taken in (("opt_g", step), ("opt_d", step * n_critic)):
        if problem := _optimizer_problem(state[name], layout[name], name, taken):
            return problem
    for saved, generator in zip(state["streams"], group.draws.streams, strict=True):
        for rng_state, like in zip(saved, (generator.data, generator.noise, generator.penalty), strict=True):
            try:  # a throwaway generator of the same kind refuses what the real one would
                torch.Generator(device=like.device).set_state(rng_state)
            except RuntimeError as err:
                return f"a random stream's state is invalid ({err})"
    seconds = state["seconds"]
    if not math.isfinite(seconds) or seconds < 0:
        return f"seconds {seconds!r} is not a time"
    logged = sum(1 for s in group.logged if s <= step)
    if state["next_log"] != logged:
        return f"next_log {state['next_log']!r} is not {logged}, the losses logged by step {step:,}"
    diverged_at = state["diverged_at"].tolist()
    if bad := [at for at in diverged_at if not 0 <= at <= step]:
        return f"diverged_at holds {bad[0]}, not a step from 0 to {step:,}"
    if state["alive"].tolist() != [at == 0 for at in diverged_at]:
        return "alive does not fit diverged_at"
    return _curves_problem(state["curves"], group, step, diverged_at)


def _optimizer_problem(saved: object, like: dict[str, Any], where: str, taken: int) -> str | None:
    """Why an optimizer's saved state does not fit the fresh one's: its settings must be equal, and each
    weight's state (weights never updated have none) must have its shapes and `taken` steps."""
    if not isinstance(saved, dict) or saved.keys() != like.keys():
        return f"{where} is not an optimizer's state"
    if problem := _mismatch(saved["param_groups"], like["param_groups"], f"{where}.param_groups"):
        return problem
    if not _equal(saved["param_groups"], like["param_groups"]):
        return f"{where}'s settings differ from the suite's"
    weights = saved["state"]
    if not isinstance(weights, dict) or not weights.keys() <= like["state"].keys():
        return f"{where} holds state of weights the group does not have"
    for index, entry in weights.items():
        if problem := _mismatch(entry, like["state"][index], f"{where}.state.{index}"):
            return problem
        count = entry.get("step")
        if isinstance(count, Tensor) and float(count) != taken:
            return f"{where}.state.{index} has taken {float(count):g} steps, not {taken:,}"
    return None


def _keys_problem(saved: dict[Any, Any], like: dict[Any, Any], where: str) -> str | None:
    """The keys `saved` lacks (or else has in excess) compared with `like`, or None."""
    missing, extra = like.keys() - saved.keys(), saved.keys() - like.keys()
    if not missing and not extra:
        return None
    names = ", ".join(_plain(str(k)) for k in sorted(missing or extra, key=str)[:3])
    return f"{where} {'lacks' if missing else 'has unknown keys'} {names}"


def _mismatch(saved: object, like: object, where: str) -> str | None:
    """Where `saved` differs from `like` in structure: a key, a length, a type, a tensor's shape,
    dtype or layout (values are not compared)."""
    if isinstance(like, Tensor):
        if not isinstance(saved, Tensor):
            return f"{where} is {type(saved).__name__}, not a tensor"
        if saved.shape != like.shape or saved.dtype != like.dtype or saved.layout != like.layout:
            return f"{where} is {_tensor(saved)}, not {_tensor(like)}"
        return None
    if isinstance(like, dict):
        if not isinstance(saved, dict):
            return f"{where} is {type(saved).__name__}, not a dict"
        if problem := _keys_problem(saved, like, where):
            return problem
        for key in like:
            if problem := _mismatch(saved[key], like[key], f"{where}.{key}"):
                return problem
        return None
    if isinstance(like, list | tuple):
        if type(saved) is not type(like) or len(saved) != len(like):
            return f"{where} is not a {type(like).__name__} of {len(like)}"
        for index, (a, b) in enumerate(zip(saved, like, strict=True)):
            if problem := _mismatch(a, b, f"{where}[{index}]"):
                return problem
        return None
    if type(saved) is not type(like):
        return f"{where} is {type(saved).__name__} {saved!r:.40}, not {type(like).__name__}"
    return None


def _plain(text: str) -> str:
    """`text` from a file, safe on one terminal line (control characters escaped), cut at 200 characters."""
    return text.encode("unicode_escape").decode("ascii")[:200]


def _tensor(t: Tensor) -> str:
    return f"{str(t.dtype).removeprefix('torch.')} {tuple(t.shape)}"


def _equal(a: object, b: object) -> bool:
    """Equal values, tensors included (the structure is already the same)."""
    if isinstance(a, Tensor):
        return isinstance(b, Tensor) and torch.equal(a.cpu(), b.cpu())
    if isinstance(a, dict) and isinstance(b, dict):
        return all(_equal(a[k], b[k]) for k in b)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _curves_problem(curves: list[Any], group: Fresh, step: int, diverged_at: list[int]) -> str | None:
    """Why the saved curves do not fit: each member's tracked steps are exactly those up to `step`
    (until it diverged), every curve has one number per tracked step, members share their names."""
    every, steps = group.track_every, group.steps
    tracked = list(range(0, step + 1, every)) if every > 0 else []
    if every > 0 and step == steps and steps % every:
        tracked.append(steps)  # the end is always tracked
    names = None
    for k, member in enumerate(curves):
        where = f"curves of member {k}"
        if not isinstance(member, dict) or not all(isinstance(name, str) for name in member):
            return f"{where} are not named lists"
        expected = [s for s in tracked if not diverged_at[k] or s < diverged_at[k]]
        if not expected:
            if member:
                return f"{where} are not empty"
            continue
        if member.get("step") != expected or any(type(s) is not int for s in member["step"]):
            return f"{where} do not track steps {expected[0]} to {expected[-1]:,} every {every:,}"
        for name, values in member.items():
            if not isinstance(values, list) or len(values) != len(expected):
                return f"{where}: {name} has not one value per tracked step"
            if any(type(v) not in (int, float) for v in values):
                return f"{where}: {name} holds something other than numbers"
        if names is not None and member.keys() != names:
            return f"{where} have other names than member 0's"
        names = member.keys()
    return None
