"""How long a run's training will take, measured before it starts: a few real steps of each job group.

Each distinct group (method, settings, number of members, data shape) trains a few throwaway steps
(`ganbench.engine.train.seconds_per_step`; a group of more than TIMED_MEMBERS members on that many,
scaled in proportion); the total is the median step time x steps, summed over
groups run one after another; a group resuming from a checkpoint counts only its remaining steps
(a checkpoint the group cannot use, by the worker's own check `checkpoints.usable`, counts for nothing).
Evaluation and start-up come on top, so the estimate is a floor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ganbench.data import DATASETS
from ganbench.engine.train import Member, seconds_per_step
from ganbench.models import METHODS, NetworkSize
from ganbench.run import checkpoints
from ganbench.suite import Job

# Runs whose groups all train fewer steps than this start without an estimate (smoke checks, CI).
ESTIMATE_FROM_STEPS = 1000
# An interactive run estimated to train longer than this asks before it starts (--yes skips).
CONFIRM_FROM_SECONDS = 30 * 60
# A group of more members is timed on this many and scaled in proportion: a stacked step's work grows
# linearly with the members once they fill the cores, and `run --seeds 1000` must not spend minutes
# building and stepping thousands of throwaway networks before it says anything.
TIMED_MEMBERS = 64
# Settings that change how many steps run, or what happens between them, not what one step costs:
# groups that differ only in these share one measurement (a sweep over `train.steps` is timed once).
NOT_STEP_COST = ("steps", "log_every", "track_every", "track_samples", "checkpoint_every")


@dataclass(frozen=True)
class GroupEstimate:
    """One job group: its method, members, steps and measured seconds per step."""

    method: str
    members: int
    steps: int
    seconds_per_step: float
    done: int = 0  # steps already trained, by the group's checkpoint

    @property
    def seconds(self) -> float:
        return (self.steps - self.done) * self.seconds_per_step


@dataclass(frozen=True)
class Estimate:
    """The training time of every group of a run, one after another, on `device`."""

    groups: tuple[GroupEstimate, ...]
    device: str

    @property
    def seconds(self) -> float:
        return sum(g.seconds for g in self.groups)

    def describe(self) -> str:
        """One line: the total, then the step count and the measured step time per method."""
        per_method: dict[str, list[GroupEstimate]] = {}
        for group in self.groups:
            per_method.setdefault(group.method, []).append(group)
        parts = [f"{', '.join(f'{s:,}' for s in sorted({g.steps for g in self.groups}))} steps"]
        for method, gs in per_method.items():
            jobs, slowest = sum(g.members for g in gs), max(g.seconds_per_step for g in gs)
            where = f"{len(gs)} groups" if len(gs) > 1 else "one group"
            parts.append(f"{method} {jobs} jobs in {where} at {slowest:.3g} s/step")
        resumed = [g for g in self.groups if g.done]
        if resumed:
            steps = ", ".join(f"{g.method} from step {g.done:,}" for g in resumed)
            parts.append(f"resuming {steps}")
        return (
            f"estimated training time: {duration(self.seconds)} on {self.device} "
            f"({'; '.join(parts)}; measured now); evaluation comes on top"
        )


def duration(seconds: float) -> str:
    """'2 d 4 h', '3 h 20 min', '12 min', '45 s'."""
    minutes, hours, days = seconds / 60, seconds / 3600, seconds / 86400
    if days >= 1:
        return f"{int(days)} d {int(hours % 24)} h"
    if hours >= 1:
        return f"{int(hours)} h {int(minutes % 60)} min"
    return f"{round(minutes)} min" if minutes >= 1 else f"{round(seconds)} s"


def worth_estimating(groups: list[list[Job]]) -> bool:
    """Whether any group trains long enough for an estimate to matter."""
    return any(group[0].train.steps >= ESTIMATE_FROM_STEPS for group in groups)


def estimate(
    groups: list[list[Job]], device: torch.device, checkpoint_folder: Path | None = None
) -> Estimate:
    """Measure each distinct group once (groups of the same setup and size share the figure); a
    group with a usable checkpoint in `checkpoint_folder` counts only the steps it has left."""
    measured: dict[str, float] = {}
    result = []
    for group in groups:
        first = group[0]
        timed = group[:TIMED_MEMBERS]  # a group's datasets share one data shape: any members cost alike
        key = _timing_key(first, sorted({j.dataset for j in group}), len(timed))
        if key not in measured:
            members = [Member(j.seed, DATASETS.get(j.dataset).build(j.dataset_params)) for j in timed]
            size = NetworkSize(first.train.latent_dim, first.train.width, first.train.depth)
            method = METHODS.get(first.method)
            measured[key] = seconds_per_step(
                method, first.hyperparameters, members, size, first.train.batch_size, device
            )
        per_step = measured[key] * len(group) / len(timed)
        configs, every = [j.config() for j in group], first.train.checkpoint_every
        saved = checkpoints.in_folder(checkpoint_folder, configs, every) if checkpoint_folder else None
        # The worker's own check: a file it will not resume from counts for nothing (the worker warns).
        done = checkpoints.usable(saved, group, device)[0] if saved is not None else 0
        result.append(GroupEstimate(first.method, len(group), first.train.steps, per_step, done))
    return Estimate(tuple(result), str(device))


def _timing_key(job: Job, datasets: list[str], members: int) -> str:
    """What one measured step stands for: the group's setup without the settings that do not change
    a step's cost (NOT_STEP_COST) or concern evaluation, its datasets and the members timed."""
    setup = job.setup()
    setup["train"] = {k: v for k, v in setup["train"].items() if k not in NOT_STEP_COST}
    setup.pop("eval", None)
    setup.pop("metrics", None)
    return json.dumps([setup, datasets, members], sort_keys=True)
