"""Improved precision and recall (Kynkaanniemi et al. 2019), by torch-fidelity from the shared features."""

from __future__ import annotations

from typing import Any

from ganbench.metrics.base import FRACTION, EvalContext, MetricValue
from ganbench.metrics.fidelity.features import (
    metric_value,
    register_feature_metric,
    shared_features,
    shared_scores,
)

# torch-fidelity's result keys (its KEY_METRIC_PRECISION and KEY_METRIC_RECALL).
KEY_PRECISION = "precision"
KEY_RECALL = "recall"
FAMILY = "prc"


def precision_recall(generated: Any, reference: Any) -> dict[str, float]:
    """Precision and recall with torch-fidelity's k = 3 nearest neighbours (the paper's choice)."""
    from torch_fidelity.metric_prc import prc_features_to_metric

    # save_cpu_ram: distances by parts of the rows, as ganbench's calls always asked of torch-fidelity.
    scores = prc_features_to_metric(generated, reference, save_cpu_ram=True, verbose=False)
    return {key: float(scores[key]) for key in (KEY_PRECISION, KEY_RECALL)}


def _metric(space: str, key: str) -> Any:
    def compute(ctx: EvalContext) -> MetricValue:
        pair = shared_features(ctx, space)
        scores = shared_scores(ctx, FAMILY, pair, lambda: precision_recall(*pair.layer(FAMILY)))
        return metric_value(pair, ctx, scores[key])

    return compute


# Each sample's third nearest neighbour (k = 3) needs 4 samples.
for _name, _space, _key, _display, _description in (
    ("precision", "inception", KEY_PRECISION, "Precision", "precision (Kynkaanniemi et al. 2019)"),
    ("recall", "inception", KEY_RECALL, "Recall", "recall (Kynkaanniemi et al. 2019)"),
    (
        "precision-lenet",
        "lenet",
        KEY_PRECISION,
        "Precision (LeNet)",
        "precision in MNIST-classifier feature space",
    ),
    ("recall-lenet", "lenet", KEY_RECALL, "Recall (LeNet)", "recall in MNIST-classifier feature space"),
):
    register_feature_metric(
        _name,
        _description,
        _space,
        higher_is_better=True,
        display_name=_display,
        domain=FRACTION,
        min_samples=4,
    )(_metric(_space, _key))
