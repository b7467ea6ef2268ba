"""Metrics: importing this package registers every built-in metric."""

from ganbench.metrics import (  # noqa: F401  (register metrics)
    critic,
    density_coverage,
    dirac,
    fidelity,
    mode_collapse,
    speed,
    stacked_mnist,
    wasserstein,
)
from ganbench.metrics.base import METRICS, EvalContext, Metric, MetricValue

__all__ = ["METRICS", "EvalContext", "Metric", "MetricValue"]
