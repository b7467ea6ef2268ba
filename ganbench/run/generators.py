"""Kept generators: one file per job under the run folder's generators/, re-scored by `ganbench eval`.

A file holds the generator's state dict with the architecture's name and the settings that shape
it (latent size, width, depth, the data's shape, PacGAN's packing degree), tensors and plain values
only, so it is read with `torch.load(weights_only=True)`. The driver names the folder (in
GANBENCH_GENERATOR_DIR, forwarded to workers like the checkpoint folder); a worker writes a job's
file before returning its record, so an `ok` record of a suite that keeps generators has one.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench.errors import GanbenchError
from ganbench.files import write_atomic

GENERATOR_DIR_ENV = "GANBENCH_GENERATOR_DIR"
GENERATORS_DIR = "generators"
FORMAT = "ganbench-generator-1"


def save(key: str, generator: nn.Module, settings: dict[str, Any]) -> Path | None:
    """Keep a job's trained generator in this process's generator folder (None: no folder set)."""
    folder = os.environ.get(GENERATOR_DIR_ENV)
    if not folder:
        return None
    state = {name: tensor.detach().cpu() for name, tensor in generator.state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **settings, "state_dict": state}, buffer)
    path = Path(folder) / f"{key}.pt"
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
    from ganbench.models import ARCHITECTURES, NetworkSize
    from ganbench.models.packing import packed_shape

    try:
        kept = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - unreadable or not ours: never unpickled
        raise GanbenchError(f"kept generator {path} cannot be loaded safely: {type(err).__name__}") from None
    if not isinstance(kept, dict) or kept.get("format") != FORMAT:
        raise GanbenchError(f"kept generator {path} is not a ganbench generator file ({FORMAT})")
    try:
        shape = tuple(kept["data_shape"])
        size = NetworkSize(kept["latent_dim"], kept["width"], kept["depth"])
        generator, _ = ARCHITECTURES.get(kept["architecture"]).build(
            size, shape, packed_shape(shape, kept["pack"])
        )
        generator.load_state_dict(kept["state_dict"])
    except GanbenchError as err:
        raise GanbenchError(f"kept generator {path}: {err}") from None
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        reason = " ".join(str(err).split())[:200]
        raise GanbenchError(f"kept generator {path} does not rebuild: {reason}") from None
    return generator.eval(), size.latent_dim
