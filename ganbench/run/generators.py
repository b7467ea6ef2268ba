"""Kept generators: one file per job under the run folder's generators/, re-scored by `ganbench eval`.

A file holds the generator's state dict with the architecture's name and the settings that shape
it (latent size, width, depth, the data's shape, PacGAN's packing degree), tensors and plain values
only, so it is read with `torch.load(weights_only=True)`. The driver names the folder (in the
`WorkerContext` that every worker gets); a worker writes a job's file before returning its record,
so an `ok` record of a suite that keeps generators has one.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench.config import check_field
from ganbench.errors import GanbenchError
from ganbench.files import write_atomic

GENERATORS_DIR = "generators"
FORMAT = "ganbench-generator-1"


def save(folder: Path, key: str, generator: nn.Module, settings: dict[str, Any]) -> Path:
    """Keep a job's trained generator in `folder` (the run's generators/); returns its file."""
    state = {name: tensor.detach().cpu() for name, tensor in generator.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **settings, "state_dict": state}, buffer)
    path = folder / f"{key}.pt"
    write_atomic(path, buffer.getvalue())
    return path


def settings_of(architecture: str, latent_dim: int, width: int, depth: int, shape: tuple, pack: int) -> dict:
    """What rebuilds a generator: its architecture and the sizes it was built with."""
    return {
        "architecture": architecture,
        "latent_dim": latent_dim,
        "width": width,
        "depth": depth,
        "data_shape": list(shape),
        "pack": pack,
    }


def load(path: Path) -> tuple[nn.Module, int]:
    """The generator kept in `path` (rebuilt from its architecture, weights loaded strictly) and its
    latent size; anything else in the file is one GanbenchError naming it."""
    from ganbench.models import ARCHITECTURES
    from ganbench.models.packing import packed_shape

    try:
        kept = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - unreadable or not ours: never unpickled
        raise GanbenchError(f"kept generator {path} cannot be loaded safely: {type(err).__name__}") from None
    if not isinstance(kept, dict) or kept.get("format") != FORMAT:
        raise GanbenchError(f"kept generator {path} is not a ganbench generator file ({FORMAT})")
    try:
        shape, size, pack = _checked_settings(kept)
        generator, _ = ARCHITECTURES.get(kept["architecture"]).build(size, shape, packed_shape(shape, pack))
        generator.load_state_dict(kept["state_dict"])
    except GanbenchError as err:
        raise GanbenchError(f"kept generator {path}: {err}") from None
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        reason = " ".join(str(err).split())[:200]
        raise GanbenchError(f"kept generator {path} does not rebuild: {reason}") from None
    return generator.eval(), size.latent_dim


def _checked_settings(kept: dict[str, Any]) -> tuple[tuple[int, ...], Any, int]:
    """The data shape, network size and packing degree of a kept file, each checked against the bounds
    a suite's settings have (ganbench.limits) before anything is built: a kept file is input like a suite."""
    from ganbench.limits import MAX_IMAGE_SIZE, MAX_LATENT_DIM
    from ganbench.models import Hyperparameters, NetworkSize
    from ganbench.suite import TrainSettings

    missing = [
        k for k in ("architecture", "latent_dim", "width", "depth", "data_shape", "pack") if k not in kept
    ]
    if missing:
        raise GanbenchError(f"lacks {', '.join(missing)}")
    size = NetworkSize(*(check_field(k, kept[k], TrainSettings, k) for k in ("latent_dim", "width", "depth")))
    pack = check_field("pack", kept["pack"], Hyperparameters, "pack")
    shape = kept["data_shape"]
    # Points (d,), or images (C, H, W) with C 1 or 3 and sides as a dataset's `size` allows.
    ints = isinstance(shape, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in shape)
    points = ints and len(shape) == 1 and 1 <= shape[0] <= MAX_LATENT_DIM
    images = (
        ints and len(shape) == 3 and shape[0] in (1, 3) and all(8 <= s <= MAX_IMAGE_SIZE for s in shape[1:])
    )
    if not (points or images):
        raise GanbenchError(
            f"data_shape {shape!r} is neither points [d] (d 1-{MAX_LATENT_DIM:,}) nor images [C, H, W]"
            f" (C 1 or 3, sides 8-{MAX_IMAGE_SIZE:,})"
        )
    return tuple(shape), size, pack
