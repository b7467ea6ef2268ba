"""Where a job group's training checkpoints live: one file per group under the run folder's checkpoints/.

The driver names the folder (in GANBENCH_CHECKPOINT_DIR, forwarded to workers like the other paths)
and deletes a group's file once its records are stored; the worker saves and resumes through the
engine (`ganbench.engine.checkpoint`). A group's file is named by a hash of its jobs' full
configurations, so a checkpoint is only ever resumed by the same jobs with the same settings, and
only after `usable` has checked all of it against the group: the time estimate and the worker both
ask it, and the worker removes a file it cannot use, with one warning line.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ganbench.data import DATASETS
from ganbench.engine.checkpoint import Checkpoints, check, fresh, peek
from ganbench.engine.train import Member, build_group, log_steps
from ganbench.models import NetworkSize
from ganbench.run.progress import group_label

if TYPE_CHECKING:
    from ganbench.data import Dataset
    from ganbench.suite import Job

CHECKPOINTS_DIR = "checkpoints"


def group_identity(configs: Sequence[dict[str, Any]]) -> str:
    """The group's jobs and settings as canonical JSON, in the group's order (member k's state in a
    checkpoint is job k's, so the same jobs in another order must not resume it)."""
    return json.dumps(list(configs), sort_keys=True)


def checkpoint_path(folder: Path, configs: Sequence[dict[str, Any]]) -> Path:
    """The group's checkpoint file in `folder` (named whatever the jobs' order)."""
    ordered = sorted(configs, key=lambda c: json.dumps([c["method"], c["dataset"], c["seed"]]))
    digest = hashlib.sha256(json.dumps(ordered, sort_keys=True).encode("utf-8")).hexdigest()[:20]
    return folder / f"group-{digest}.pt"


def in_folder(folder: Path, configs: Sequence[dict[str, Any]], every: int) -> Checkpoints | None:
    """The group's checkpoints in `folder`, or None (every = 0: the suite keeps none)."""
    if every <= 0:
        return None
    return Checkpoints(checkpoint_path(folder, configs), every, group_identity(configs))


def usable(
    saved: Checkpoints, jobs: Sequence[Job], device: torch.device, datasets: Sequence[Dataset] | None = None
) -> tuple[int, str | None]:
    """The step the group of `jobs` resumes from with its checkpoint (0: from the start) and, for a
    file it cannot resume from, why (None: usable, or no file). The one check of a checkpoint: the
    file is compared with the group freshly built on `device` (`ganbench.engine.checkpoint.validate`)."""
    if not saved.path.is_file():
        return 0, None
    job = jobs[0]
    if datasets is None:
        datasets = [DATASETS.get(j.dataset).build(j.dataset_params) for j in jobs]
    members = [Member(j.seed, d, None, j.hyperparameters) for j, d in zip(jobs, datasets, strict=True)]
    size = NetworkSize(job.train.latent_dim, job.train.width, job.train.depth)
    # A throwaway group, built as train_group builds it (the global random state is left as it was).
    train = job.train
    _, nets, draws = build_group(job.hyperparameters, members, size, train.batch_size, device)
    logged = log_steps(train.steps, train.log_every)
    return check(saved, fresh(nets, draws, train.steps, logged, train.track_every))


def drop_unusable(
    saved: Checkpoints, jobs: Sequence[Job], datasets: Sequence[Dataset], device: torch.device
) -> Checkpoints | None:
    """`saved`, once a file there that the group cannot resume from is removed with one warning line
    (the group trains from step 0 and saves its own); None if such a file cannot be removed."""
    _, reason = usable(saved, jobs, device, datasets)
    if reason is None:
        return saved
    print(
        f"warning: ignoring checkpoint {saved.path} ({reason}); "
        f"{jobs[0].method} ({group_label(list(jobs))}) trains from step 0",
        file=sys.stderr,
        flush=True,
    )
    try:
        saved.path.unlink(missing_ok=True)
    except OSError:
        return None  # train_group would load it: better no checkpoints than trusting it
    return saved


def stored(folder: Path, jobs: Sequence[Job]) -> list[tuple[list[Job], int]]:
    """The groups of `jobs` with a checkpoint in `folder`, each with the step it was saved at (for the
    line an interruption prints; the file is checked in full when the group resumes)."""
    by_config = {json.dumps(job.config(), sort_keys=True): job for job in jobs}
    found = []
    for path in sorted(folder.glob("group-*.pt")):
        saved = peek(path)
        if saved is None:
            continue
        identity, step = saved
        try:
            configs = json.loads(identity)
            group = [by_config[json.dumps(c, sort_keys=True)] for c in configs]
        except (ValueError, TypeError, KeyError):  # not one of these jobs' groups
            continue
        if group and path == checkpoint_path(folder, configs) and 1 <= step <= group[0].train.steps:
            found.append((group, step))
    return found


def discard(folder: Path, configs: Sequence[dict[str, Any]]) -> None:
    """Delete the group's checkpoint (its records are stored: nothing is left to resume)."""
    checkpoint_path(folder, configs).unlink(missing_ok=True)
