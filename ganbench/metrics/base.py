"""The metric registry: each metric declares its direction and unit beside its code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ganbench.data.base import Dataset, Modality
from ganbench.registry import Registry


@dataclass(frozen=True)
class MetricValue:
    """One metric's result. `exact` is False when a solver stopped before optimality."""

    value: float
    exact: bool = True
    note: str = ""


@dataclass
class EvalContext:
    """What a metric sees: the generated samples, the true dataset, and a seed for references."""

    samples: np.ndarray  # (n, d) float64, generated
    dataset: Dataset
    seed: int
    _reference: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def reference(self, n: int) -> np.ndarray:
        """`n` fresh true samples, the same for every metric of this evaluation (seeded)."""
        if n not in self._reference:
            generator = torch.Generator().manual_seed(self.seed)
            self._reference[n] = self.dataset.sample(n, generator).to(torch.float64).numpy()
        return self._reference[n]


@dataclass(frozen=True)
class Metric:
    """A registered metric. Reports and comparisons read the direction from here alone."""

    name: str
    description: str
    higher_is_better: bool
    unit: str
    modality: Modality
    compute: Callable[[EvalContext], MetricValue]


METRICS: Registry[Metric] = Registry("metric")


def register_metric(
    name: str, description: str, *, higher_is_better: bool, unit: str, modality: Modality
) -> Callable[[Callable[[EvalContext], MetricValue]], Callable[[EvalContext], MetricValue]]:
    """Decorator registering a compute function as a `Metric` with its direction and unit."""

    def decorate(compute: Callable[[EvalContext], MetricValue]) -> Callable[[EvalContext], MetricValue]:
        METRICS.add(name, Metric(name, description, higher_is_better, unit, modality, compute))
        return compute

    return decorate
