"""Choosing the torch device from the CLI's `auto|cpu|cuda`."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from ganbench.errors import GanbenchError

if TYPE_CHECKING:
    import torch


class DeviceChoice(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def resolve_device(choice: DeviceChoice | str) -> torch.device:
    """`auto` picks CUDA when available; asking for CUDA without one is an error."""
    import torch  # here, not at the top: `ganbench --help` should not wait for torch

    choice = DeviceChoice(choice)
    if choice is DeviceChoice.cuda and not torch.cuda.is_available():
        raise GanbenchError("--device cuda: no CUDA device is available (torch.cuda.is_available() is False)")
    if choice is DeviceChoice.cpu or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")
