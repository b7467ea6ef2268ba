"""What keeps a run folder to one run at a time and one setup: its lock, its settings, its kind."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ganbench.errors import GanbenchError
from ganbench.files import write_atomic
from ganbench.labels import parse_label, settings_of_key
from ganbench.records.store import JOBS_DIR, MANIFEST_FILE, PLAN_FILE, REPORT_FILE, differences

LOCK_FILE = "run.lock"  # held with an OS-level lock (flock) for the whole run; it dies with the process
HOLDER_FILE = "run.lock.json"  # who holds it: pid, host, start time, command
# What marks a folder as ganbench's: a run's manifest, plan, job records or lock (a run declined in an
# empty folder leaves only the lock), or a report's own file.
MARKERS = (MANIFEST_FILE, PLAN_FILE, JOBS_DIR, LOCK_FILE, REPORT_FILE)
# A job's settings apart from these are the folder's: fixed by its first job, shared by every job.
PER_JOB = ("method", "dataset", "seed")
PER_METHOD = ("hyperparameters", "source")  # source: what `ganbench eval` scored under that label
PER_DATASET = ("dataset_params",)


def check_out(root: Path, option: str = "--out") -> None:
    """Refuse an existing folder that is neither empty nor ganbench's, so nothing of it is overwritten."""
    if not root.exists():
        return
    if not root.is_dir():
        raise GanbenchError(f"{option} {root} exists and is not a folder")
    entries = sorted(p.name for p in root.iterdir())
    if entries and not any(marker in entries for marker in MARKERS):
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise GanbenchError(
            f"{option} {root} is not a ganbench folder (it holds {shown}); choose a new or empty folder"
        )


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """Hold `root`'s lock for the block; a second holder gets one GanbenchError naming the first.

    The lock is the OS's (flock through the `filelock` package): it is released when the process
    ends, however it ends, so a crashed run never leaves a folder locked.
    """
    from filelock import FileLock, Timeout

    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(root / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise GanbenchError(
            f"{root} is in use by another ganbench run ({_holder(root)}); wait for it to end or choose "
            "another --out"
        ) from None
    try:
        holder = {
            "pid": os.getpid(),
            "host": platform.node(),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": sys.argv,
        }
        write_atomic(root / HOLDER_FILE, json.dumps(holder).encode("utf-8"))
        yield
    finally:
        (root / HOLDER_FILE).unlink(missing_ok=True)
        lock.release()
        # A run stopped before writing anything (declined, bad input) leaves no folder behind.
        if created and {p.name for p in root.iterdir()} <= {LOCK_FILE}:
            shutil.rmtree(root, ignore_errors=True)


def _holder(root: Path) -> str:
    """'pid 123 on host h since 2026-12-02T10:00:00+00:00' from the holder file, or what is known."""
    try:
        holder = json.loads((root / HOLDER_FILE).read_text(encoding="utf-8"))
        return f"pid {holder['pid']} on {holder['host']} since {holder['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"


def check_settings(stored: dict[str, Any], configs: dict[str, dict[str, Any]], root: Path) -> None:
    """Refuse jobs whose settings differ from those the folder's stored jobs were run with.

    `stored` are the folder's records and `configs` the configurations of the jobs to run, by job
    key. The settings shared by every job (training budget, evaluation, metrics, suite) must equal
    the folder's; a method's hyperparameters those of its stored jobs, a dataset's parameters those
    of its; and a stored job's whole configuration that of the job it stands for. In a sweep these
    hold per sweep point (the settings label of the job key), and a method must sweep the same
    settings as its stored jobs. Every difference is named once.
    """
    kinds = {record.kind for record in stored.values()} - {"train"}
    if kinds:
        raise GanbenchError(f"{root} holds {', '.join(sorted(kinds))} records; choose another --out")
    if not stored:
        return
    # Jobs of one sweep point (one settings label) share their settings; other points differ by design.
    folder: dict[str, dict[Any, Any]] = {"shared": {}, "method": {}, "dataset": {}, "swept": {}}
    for key, record in stored.items():
        config, label = record.config, settings_of_key(key)
        folder["shared"].setdefault(label, _shared(config))
        folder["method"].setdefault((config.get("method"), label), _part(config, PER_METHOD))
        folder["dataset"].setdefault((config.get("dataset"), label), _part(config, PER_DATASET))
        folder["swept"].setdefault(config.get("method"), _swept(label))
    found: dict[str, None] = {}  # an ordered set: each difference once
    for key, config in configs.items():
        label = settings_of_key(key)
        theirs = folder["swept"].get(config.get("method"))
        if theirs is not None and theirs != _swept(label):
            found[
                f"swept settings of {config.get('method')}: {_names(theirs)} != {_names(_swept(label))}"
            ] = None
        shared = folder["shared"].get(label)
        for line in differences(shared, _shared(config)) if shared is not None else []:
            found[line] = None
        for group, fields in (("method", PER_METHOD), ("dataset", PER_DATASET)):
            theirs = folder[group].get((config.get(group), label))
            if theirs is not None:
                for line in differences(theirs, _part(config, fields)):
                    found[f"{line} ({group} {config.get(group)})"] = None
        if key in stored and not found:  # the folder agrees, yet this job's own record does not
            for line in differences(stored[key].config, config):
                found[f"{line} (job {key})"] = None
    if found:
        raise GanbenchError(
            f"{root} was run with other settings: {'; '.join(found)} (folder != this run); "
            "use the folder's settings to resume it, or choose another --out"
        )


def _swept(label: str) -> tuple[str, ...]:
    """The names of the settings a job's label sweeps (none outside a sweep)."""
    return tuple(parse_label(label))


def _names(swept: tuple[str, ...]) -> str:
    return ", ".join(swept) or "none"


def _shared(config: dict[str, Any]) -> dict[str, Any]:
    shared = {k: v for k, v in config.items() if k not in PER_JOB + PER_METHOD + PER_DATASET}
    source = config.get("source")
    if isinstance(source, dict) and source.get("kind") == "samples" and isinstance(shared.get("eval"), dict):
        # `eval --samples a.npy --samples b.npy`: each file's count is its own job's, checked per job.
        shared["eval"] = {k: v for k, v in shared["eval"].items() if k != "samples"}
    return shared


def _part(config: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: config.get(k) for k in keys}
