"""Density and coverage (Naeem et al. 2020) in image feature spaces, from the shared features.

The same k-NN estimate as the 2-D metrics (`ganbench.metrics.density_coverage`, k = 5, the paper's
choice), on the features every other metric of the space reads: no extraction of its own. Density
counts how many real samples' k-NN balls hold each generated sample (fidelity; it can exceed 1);
coverage is the share of real samples whose ball holds at least one generated sample (diversity).
The paper computes them in Inception (and other) features against as many real as generated
samples; here the reference is the evaluation's reference set (`reference_samples`, by default as
many as `samples`).
"""

from __future__ import annotations

from typing import Any

from ganbench.metrics.base import FRACTION, NON_NEGATIVE, EvalContext, MetricValue
from ganbench.metrics.density_coverage import NEAREST_K, density_coverage
from ganbench.metrics.fidelity.features import (
    metric_value,
    register_feature_metric,
    shared_features,
    shared_scores,
)

FAMILY = "fid"  # the pool features FID reads (Naeem et al. use the same Inception layer)


def _metric(space: str, which: int) -> Any:
    def compute(ctx: EvalContext) -> MetricValue:
        pair = shared_features(ctx, space)
        generated, reference = pair.layer(FAMILY)
        # One k-NN computation for both metrics of this space (the density-coverage family).
        scores = shared_scores(
            ctx,
            "density-coverage",
            pair,
            lambda: density_coverage(reference, generated, NEAREST_K, device=ctx.device),
        )
        return metric_value(pair, ctx, scores[which], note=f"k = {NEAREST_K}", details={"k": NEAREST_K})

    return compute


for _name, _space, _which, _display, _description in (
    (
        "density-inception",
        "inception",
        0,
        "Density",
        "density (Naeem et al. 2020, k = 5), Inception-v3 pool features",
    ),
    (
        "coverage-inception",
        "inception",
        1,
        "Coverage",
        "coverage (Naeem et al. 2020, k = 5), Inception-v3 pool features",
    ),
    (
        "density-lenet",
        "lenet",
        0,
        "Density (LeNet)",
        "density (Naeem et al. 2020, k = 5), MNIST-classifier features",
    ),
    (
        "coverage-lenet",
        "lenet",
        1,
        "Coverage (LeNet)",
        "coverage (Naeem et al. 2020, k = 5), MNIST-classifier features",
    ),
):
    register_feature_metric(
        _name,
        _description,
        _space,
        higher_is_better=True,
        display_name=_display,
        domain=FRACTION if _which else NON_NEGATIVE,
        min_samples=NEAREST_K + 1,  # each real sample's k-th neighbour among the others
    )(_metric(_space, _which))
