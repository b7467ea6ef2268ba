"""Checkpoints of a stacked training: the whole state of a job group, saved atomically and resumed.

The state is everything a step depends on (stacked weights and batch-norm buffers, both optimizers,
every member's random streams, the divergence mask, the loss history, the curves so far), so a
resumed group continues exactly where the saved one was: bit for bit on a CPU. Files hold tensors,
numbers and strings only and are read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ganbench.files import write_atomic

if TYPE_CHECKING:
    from ganbench.engine.train import Health, Stack, StreamDraws, TrainResult

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


def save_checkpoint(
    checkpoints: Checkpoints, step: int, nets: Stack, draws: StreamDraws, health: Health,
    history: Tensor, next_log: int, results: list[TrainResult], seconds: float,
) -> None:  # fmt: skip
    """Write the group's state after generator step `step` atomically (readers never see a part)."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "identity": checkpoints.identity,
        "step": step,
        "generator": nets.generator.state_dict(),
        "critic": nets.critic.state_dict(),
        "opt_g": nets.opt_g.state_dict(),
        "opt_d": nets.opt_d.state_dict(),
        "streams": [[s.data.get_state(), s.noise.get_state(), s.penalty.get_state()] for s in draws.streams],
        "alive": health.alive,
        "diverged_at": health.diverged_at,
        "history": history,
        "next_log": next_log,
        "curves": [result.curves for result in results],
        "seconds": seconds,
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(checkpoints.path, buffer.getvalue())


def _read(path: Path, device: torch.device | str, mmap: bool = False) -> dict[str, Any] | None:
    """A checkpoint file's state, or None (absent, unreadable, not a dict of this layout)."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True, mmap=mmap)
    except Exception:  # noqa: BLE001 - a corrupt or foreign file is not trusted, never unpickled
        return None
    return state if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT else None


def load_checkpoint(checkpoints: Checkpoints, device: torch.device) -> dict[str, Any] | None:
    """The saved state, or None when there is none for this group (absent, unreadable, another
    group's or another layout's: training then starts from step 0, which is always correct)."""
    state = _read(checkpoints.path, device)
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


def saved_step(path: Path) -> int:
    """The step a checkpoint file was saved at, or 0 (no file, or not a readable checkpoint). Memory-
    mapped, so only the small entries are read, not the weights."""
    state = _read(path, "cpu", mmap=True)
    return int(state.get("step", 0)) if state is not None else 0
