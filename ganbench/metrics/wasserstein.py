"""Exact Wasserstein distances through POT: the only module that imports `ot` (lazily)."""

from __future__ import annotations

import numpy as np

from ganbench.metrics.base import EvalContext, MetricValue, register_metric

W1 = "w1"

# POT's default limit (100,000 network-simplex iterations) stops early at a few thousand points;
# ten million solves n = 10,000 here. A run that still hits the limit is flagged, not hidden.
NUM_ITER_MAX = 10_000_000
# POT's network simplex return code for an optimal solution (ot.lp check_result).
OPTIMAL = 1


def exact_w1(x: np.ndarray, y: np.ndarray, num_iter_max: int = NUM_ITER_MAX) -> MetricValue:
    """W1 between two equal-weight point sets, Euclidean ground cost, by POT's `ot.emd2`.

    The value is the optimal mean transport cost. If the solver stops at `num_iter_max` before
    optimality, the returned value has `exact=False` and POT's warning as its note.
    """
    import warnings

    import ot

    cost = ot.dist(np.asarray(x, np.float64), np.asarray(y, np.float64), metric="euclidean")
    with warnings.catch_warnings():
        # We read the solver's status from its log below instead of letting it warn.
        warnings.simplefilter("ignore", UserWarning)
        value, log = ot.emd2([], [], cost, numItermax=num_iter_max, log=True)
    if log["result_code"] != OPTIMAL:
        return MetricValue(float(value), exact=False, note=f"not exact: {log['warning']}")
    return MetricValue(float(value))


@register_metric(
    W1,
    "exact W1 to as many fresh true samples (POT emd2, Euclidean cost)",
    higher_is_better=False,
    unit="distance",
    modality="points",
)
def _w1(ctx: EvalContext) -> MetricValue:
    return exact_w1(ctx.samples, ctx.reference(len(ctx.samples)))
