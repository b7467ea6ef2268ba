"""The cache of real-data features: one file per (dataset, reference images, extractor, weights).

Files are written by ganbench (`torch.save` of a dict of float tensors, atomically) and read back with
torch's safe loader only: cache folders are shared on clusters, and a planted file must never run
code. An entry that does not load safely, or does not hold what it should, is a miss: one warning
line, the file removed, the features computed again.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import sys
from pathlib import Path

import torch

from ganbench import paths
from ganbench.files import write_atomic
from ganbench.metrics.fidelity.extractors import Extractor, file_sha256, load_reason, safe_load


def cache_root() -> Path:
    """Where ganbench keeps cached real-data features."""
    return paths.cache_dir() / "fidelity"


def cache_name(dataset_id: str, reference: torch.Tensor, extractor: Extractor, weights: Path) -> str:
    """The key of real-data features: dataset with parameters, count, content, extractor, weights."""
    content = hashlib.sha256(reference.numpy().tobytes()).hexdigest()[:12]
    label = re.sub(r"[^A-Za-z0-9.=_-]+", "_", dataset_id)[:80]
    return (
        f"ganbench-{label}-n{reference.shape[0]}-data{content}-{extractor.label}-w{file_sha256(weights)[:12]}"
    )


def _path(name: str) -> Path:
    return cache_root() / f"{name}-features.pt"


def load(name: str, layers: set[str], count: int) -> dict[str, torch.Tensor] | None:
    """The cached features `name` (each layer a float (count, d) tensor), or None on a miss."""
    path = _path(name)
    if not path.is_file():
        return None
    try:
        entry = safe_load(path)
        problem = _problem(entry, layers, count)
    except Exception as err:  # noqa: BLE001 - whatever fails, it is a miss
        problem = load_reason(err)
    if problem is None:
        return entry
    print(
        f"warning: ignoring unsafe or unreadable cache file {path} ({problem}); recomputing", file=sys.stderr
    )
    with contextlib.suppress(OSError):  # someone else's file in a shared folder: left unread
        path.unlink()
    return None


def _problem(entry: object, layers: set[str], count: int) -> str | None:
    if not isinstance(entry, dict) or set(entry) != layers:
        return f"it does not hold the layers {sorted(layers)}"
    for layer, tensor in entry.items():
        if not (torch.is_tensor(tensor) and tensor.is_floating_point() and tensor.dim() == 2):
            return f"layer {layer!r} is not a float matrix"
        if tensor.shape[0] != count or not torch.isfinite(tensor).all():
            return f"layer {layer!r} does not hold {count} finite rows"
    return None


def store(name: str, features: dict[str, torch.Tensor]) -> None:
    """Share computed features (written atomically; best effort: a read-only cache recomputes)."""
    buffer = io.BytesIO()
    torch.save({layer: tensor.cpu() for layer, tensor in features.items()}, buffer)
    with contextlib.suppress(OSError):
        write_atomic(_path(name), buffer.getvalue())
