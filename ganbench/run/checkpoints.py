"""Where a job group's training checkpoints live: one file per group under the run folder's checkpoints/.

The driver names the folder (in GANBENCH_CHECKPOINT_DIR, forwarded to workers like the other paths)
and deletes a group's file once its records are stored; the worker saves and resumes through the
engine (`ganbench.engine.checkpoint`). A group's file is named by a hash of its jobs' full
configurations, so a checkpoint is only ever resumed by the same jobs with the same settings.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ganbench.engine.checkpoint import Checkpoints

CHECKPOINT_DIR_ENV = "GANBENCH_CHECKPOINT_DIR"
CHECKPOINTS_DIR = "checkpoints"


def group_identity(configs: Sequence[dict[str, Any]]) -> str:
    """The group's jobs and settings as canonical JSON (the job configs, sorted by seed and dataset)."""
    ordered = sorted(configs, key=lambda c: json.dumps([c["method"], c["dataset"], c["seed"]]))
    return json.dumps(ordered, sort_keys=True)


def checkpoint_path(folder: Path, configs: Sequence[dict[str, Any]]) -> Path:
    """The group's checkpoint file in `folder`."""
    digest = hashlib.sha256(group_identity(configs).encode("utf-8")).hexdigest()[:20]
    return folder / f"group-{digest}.pt"


def for_group(configs: Sequence[dict[str, Any]], every: int) -> Checkpoints | None:
    """The group's checkpoints in this process's checkpoint folder, or None (no folder, or every = 0)."""
    folder = os.environ.get(CHECKPOINT_DIR_ENV)
    if not folder or every <= 0:
        return None
    return Checkpoints(checkpoint_path(Path(folder), configs), every, group_identity(configs))


def discard(folder: Path, configs: Sequence[dict[str, Any]]) -> None:
    """Delete the group's checkpoint (its records are stored: nothing is left to resume)."""
    checkpoint_path(folder, configs).unlink(missing_ok=True)
