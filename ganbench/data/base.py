"""The dataset registry: what a dataset is and how suites name and parametrize it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import torch

from ganbench.registry import Registry

Modality = Literal["points", "images"]


class Dataset(Protocol):
    """A source of true samples that training and evaluation draw from."""

    modality: Modality

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Draw `n` samples using only `generator` for randomness (reproducible streams)."""
        ...


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: its parameters (a frozen dataclass with defaults) and a builder."""

    name: str
    description: str
    modality: Modality
    params: type
    build: Callable[[Any], Dataset]
    display_name: str = ""  # how tables and figures name it ("Ring-8"); the slug where empty

    @property
    def title(self) -> str:
        """The display name, or the slug when the dataset declares none."""
        return self.display_name or self.name


DATASETS: Registry[DatasetSpec] = Registry("dataset")
