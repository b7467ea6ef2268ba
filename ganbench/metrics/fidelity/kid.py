"""KID, the Kernel Inception Distance (Binkowski et al. 2018), by torch-fidelity from the shared features."""

from __future__ import annotations

from typing import Any

from ganbench.metrics.base import EvalContext, MetricValue
from ganbench.metrics.fidelity.features import metric_value, register_feature_metric, shared_features

# torch-fidelity's result key (its KEY_METRIC_KID_MEAN; tests/test_fidelity.py checks it).
KEY_KID_MEAN = "kernel_inception_distance_mean"
FAMILY = "kid"
# torch-fidelity's default: subsets of 1,000 samples (Binkowski et al. 2018); smaller runs use every
# sample in each subset, as the estimate needs subset size <= n.
KID_SUBSET_SIZE = 1000


def kid(generated: Any, reference: Any, seed: int) -> float:
    """KID's mean over torch-fidelity's 100 subsets (polynomial kernel of degree 3), seeded."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    size = min(KID_SUBSET_SIZE, len(generated), len(reference))
    # torch-fidelity seeds numpy's RandomState, which takes 32-bit seeds.
    scores = kid_features_to_metric(
        generated, reference, kid_subset_size=size, rng_seed=seed % 2**32, verbose=False
    )
    return float(scores[KEY_KID_MEAN])


def _kid(space: str) -> Any:
    def compute(ctx: EvalContext) -> MetricValue:
        pair = shared_features(ctx, space)
        return metric_value(pair, ctx, kid(*pair.layer(FAMILY), ctx.seed))

    return compute


# KID's unbiased estimate can fall below 0, so no domain is declared.
for _name, _space, _display, _description in (
    ("kid", "inception", "KID", "Kernel Inception Distance, mean over subsets"),
    ("kid-lenet", "lenet", "KID (LeNet)", "KID in ganbench's MNIST-classifier feature space"),
):
    register_feature_metric(_name, _description, _space, higher_is_better=False, display_name=_display)(
        _kid(_space)
    )
