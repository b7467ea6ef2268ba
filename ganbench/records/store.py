"""The run folder: one atomically written record file per finished job, samples, and a manifest.

This module is the only reader and writer of job records (`ganbench.records.record.Record`).
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ganbench.errors import GanbenchError
from ganbench.files import write_atomic
from ganbench.records.record import FINAL_STATUSES, SCHEMA_VERSION, STATUSES, Record, check_schema

__all__ = [
    "SCHEMA_VERSION",
    "Record",
    "RunStore",
    "write_atomic",
    "differences",
    "cell_of_key",
    "default_out",
]
JOBS_DIR = "jobs"
SAMPLES_DIR = "samples"
FIGURES_DIR = "figures"
MANIFEST_FILE = "manifest.json"
PLAN_FILE = "plan.json"
REPORT_FILE = "report.json"  # written by a report into a folder of its own: the runs it merged
# Records nest a few levels (metrics.<name>.spec.unit); anything far deeper is damage, and too deep
# to compare or print without running out of stack.
MAX_DEPTH = 32


def differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Every 'key: old != new' between two JSON-like values, one per differing leaf."""
    if old == new:  # the usual answer (a resume checks every job), found without walking the leaves
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new), key=str):
            found += differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return found
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} != {new!r}"]


def stored_count(root: Path) -> int | None:
    """How many job records `root` holds (None: no folder yet), for the line an interruption prints."""
    if not (root / JOBS_DIR).is_dir():
        return None
    return len(list((root / JOBS_DIR).glob("*.json")))  # counted, not read: the folder may be damaged


def read_record(path: Path) -> Record:
    """The record in `path`, upgraded from older schemas; anything unreadable is one GanbenchError.

    Its key must be the file's name. A status this ganbench does not know reads as `failed` (so
    resume retries the job), the stored one kept in the reason.
    """
    where = str(path)
    data = _read_json(path, "job record")
    if not isinstance(data, dict):
        raise GanbenchError(f"{where}: a job record must be a JSON object")
    schema = check_schema(data.get("schema", 1), where)  # records of schema 1 may lack the field
    status = data.get("status")
    if isinstance(status, str) and status not in STATUSES:
        data = {**data, "status": "failed", "reason": f"unknown status {status!r} in the record"}
    if schema in (1, 2):
        from ganbench.records.legacy import upgrade

        record = upgrade(data, where)
    else:
        if schema == 3:
            from ganbench.records.legacy import from_schema_3

            data = from_schema_3(data)
        record = Record.from_json(data, where)
    if record.key != path.stem:
        raise GanbenchError(f"{where}: malformed job record (key {record.key!r} is not its file's name)")
    return record


def _read_json(path: Path, what: str) -> Any:
    """Parsed JSON of `path`, at most MAX_DEPTH deep; anything unreadable is one GanbenchError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise GanbenchError(f"unreadable {what} {path}: {_first_line(err)}") from None
    if _depth(data) > MAX_DEPTH:
        raise GanbenchError(f"unreadable {what} {path}: nested more than {MAX_DEPTH} deep")
    return data


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in parsed JSON (0 for a number or a string)."""
    depth, level = 0, [value]
    while containers := [item for item in level if isinstance(item, dict | list)]:
        depth += 1
        level = [
            child for item in containers for child in (item.values() if isinstance(item, dict) else item)
        ]
    return depth


def _load(path: Path, mmap_mode: Literal["r"] | None = None) -> np.ndarray:
    """The array in a .npy file; anything unreadable is one GanbenchError naming the file."""
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise GanbenchError(f"unreadable samples {path}: {_first_line(err)}") from None


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def cell_of_key(key: str) -> tuple[str, str]:
    """(method, cell) of a job key: `<method>__<dataset>[__<settings>]__seed<N>` (training) or
    `<method>__<target>-b<N>` (throughput)."""
    method, cell, *_ = key.split("__") + [""]
    return method, cell


class RunStore:
    """A run folder. Job records are written once each, atomically; nothing is appended in place."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise GanbenchError(f"output path exists and is not a folder: {self.root}")

    def job_path(self, key: str) -> Path:
        return self.root / JOBS_DIR / f"{key}.json"

    def samples_path(self, key: str) -> Path:
        return self.root / SAMPLES_DIR / f"{key}.npy"

    def records(self) -> list[Record]:
        """Every stored job record, sorted by key, its samples file (if any) checked against it.

        Stray temporary files are ignored; anything damaged is one GanbenchError naming its file.
        """
        folder = self.root / JOBS_DIR
        if not folder.is_dir():
            return []
        records = [read_record(path) for path in sorted(folder.glob("*.json"))]
        for record in records:
            self._check_samples(record)
        return records

    def _check_samples(self, record: Record) -> None:
        """The header and size of a job's samples file fit its record (memory-mapped: nothing is read)."""
        path = self.samples_path(record.key)
        if not path.exists():
            return
        samples = _load(path, mmap_mode="r")
        modality = record.dataset.modality if record.dataset is not None else None
        problem = None
        if samples.dtype.kind not in "biuf":
            problem = f"{samples.dtype} is not a number type"
        elif modality == "points" and (samples.ndim != 2 or samples.shape[1] not in (1, 2)):
            problem = f"shape {samples.shape} is not (n, 2) or (n, 1) points"
        elif modality == "images" and (samples.ndim != 4 or samples.shape[1] not in (1, 3)):
            problem = f"shape {samples.shape} is not (n, 1 or 3 channels, height, width) images"
        del samples  # closes the memory map
        if problem:
            raise GanbenchError(f"unreadable samples {path}: {problem}")

    def finished(self, key: str, config: dict[str, Any]) -> bool:
        """Whether job `key` already has a final record (ok or diverged) made with `config`.

        A `failed` record is not final: failures are usually environmental, so resume retries them.
        A record made with other settings is an error rather than a silent mix of two setups.
        """
        path = self.job_path(key)
        if not path.exists():
            return False
        record = read_record(path)
        if record.config != config:
            raise GanbenchError(
                f"{self.root} already holds job {key} with other settings "
                f"({'; '.join(differences(record.config, config))}); choose another --out"
            )
        return record.status in FINAL_STATUSES

    def save(self, record: Record, samples: np.ndarray | None) -> None:
        """Store one job's samples, then its record: the record's presence means 'finished'."""
        if samples is not None:
            buffer = io.BytesIO()
            np.save(buffer, samples)
            write_atomic(self.samples_path(record.key), buffer.getvalue())
        record.schema = SCHEMA_VERSION
        payload = json.dumps(record.to_json(), indent=1, allow_nan=True)
        write_atomic(self.job_path(record.key), payload.encode("utf-8"))

    def load_samples(self, key: str) -> np.ndarray | None:
        """A job's stored generated samples, or None when there are none."""
        path = self.samples_path(key)
        return _load(path) if path.exists() else None

    def add_to_plan(self, keys: list[str]) -> None:
        """Add job keys to the folder's plan: what reports expect to find, finished or not."""
        write_atomic(self.root / PLAN_FILE, json.dumps(sorted(set(self.plan()) | set(keys))).encode("utf-8"))

    def plan(self) -> list[str]:
        """Every job key ever planned in this folder (empty for folders made before plans existed)."""
        path = self.root / PLAN_FILE
        if not path.exists():
            return []
        keys = _read_json(path, "plan")
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise GanbenchError(f"unreadable plan {path}: not a list of job keys")
        return keys

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Record the environment of the latest session that wrote to this folder."""
        write_atomic(self.root / MANIFEST_FILE, json.dumps(manifest, indent=1).encode("utf-8"))

    def write_text(self, name: str, text: str) -> Path:
        """Atomically write a text artifact (a table) at `name` inside the run folder."""
        path = self.root / name
        write_atomic(path, text.encode("utf-8"))
        return path


def default_out(suite_name: str, results: Path = Path("results")) -> Path:
    """results/<suite>/<run-id>, the run id being the local start time (made unique)."""
    base = results / suite_name / datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate
