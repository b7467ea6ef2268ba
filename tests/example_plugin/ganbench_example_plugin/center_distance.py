"""A new metric in one file: the mean distance from each sample to its nearest mixture center."""

from __future__ import annotations

import numpy as np

from ganbench.data.mixtures import GaussianMixture
from ganbench.errors import GanbenchError
from ganbench.metrics.base import EvalContext, MetricValue, register_metric


@register_metric(
    "center-distance",
    "mean Euclidean distance from a sample to its nearest center",
    higher_is_better=False,
    unit="distance",
    modality="points",
    rel_tol=0.05,  # 5% of the baseline, or
    abs_tol=0.01,  # one hundredth of a unit, whichever is larger, before `compare` sees a change
)
def center_distance(ctx: EvalContext) -> MetricValue:
    if not isinstance(ctx.dataset, GaussianMixture):
        raise GanbenchError("center-distance needs a Gaussian mixture")
    centers = ctx.dataset.centers.numpy()
    distances = np.linalg.norm(ctx.samples[:, None, :] - centers[None, :, :], axis=2)
    return MetricValue(float(distances.min(axis=1).mean()))
