"""FID (Heusel et al. 2017) and FID at infinity (Chong and Forsyth 2020), from the shared features.

The Frechet distance between Gaussians fitted to two feature sets, by torch-fidelity's own statistics
and distance (`fid_features_to_statistics`, `fid_statistics_to_metric`), in each feature space:
`fid` and `fid-inf` in Inception-v3 pool features, `fid-lenet` and `fid-lenet-inf` in the MNIST
classifier's, which are never to be confused with Inception FID.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ganbench.errors import GanbenchError
from ganbench.metrics.base import NON_NEGATIVE, EvalContext, MetricValue
from ganbench.metrics.fidelity.features import metric_value, register_feature_metric, shared_features

# torch-fidelity's result key (its KEY_METRIC_FID, repeated so that `ganbench list` does not import
# it; tests/test_fidelity.py checks that they match).
KEY_FID = "frechet_inception_distance"
FAMILY = "fid"


# FID at infinity (Chong and Forsyth 2020, "Effectively Unbiased FID and Inception Score and where to
# find them", CVPR 2020). FID from n samples is biased upward, and to first order the bias is linear
# in 1/n: FID(n) ~= FID_inf + slope / n. FID_inf is the intercept of a least-squares line through FID
# at several n, all computed from one extraction's features (subsets of them, never new images).
# The paper evaluates 15 counts evenly spaced in n from 5,000 to 50,000 (a tenth of N to N) against
# fixed reference statistics. Here both sets are subsampled by the same fraction (m = n M / N
# reference features beside n generated ones): the reference's own bias is then linear in 1/n too and
# goes into the slope, not the intercept, which matters when the reference is no larger than the
# generated set (ganbench's default: 10,000 and 10,000). The smallest subset also keeps at least
# twice the feature dimension, where FID(n) is still close to its line (below about d, where the
# sample covariance is singular, it bends away).
FID_INF_POINTS = 15
FID_INF_SMALLEST_FRACTION = 0.1
FID_INF_DIMS_FACTOR = 2


def fid_infinity_counts(generated: int, reference: int, dims: int, points: int = FID_INF_POINTS) -> list[int]:
    """The default generated counts n of `fid_infinity`: `points` evenly spaced from n_min to N, where
    n_min = max(N / 10, 2 d N / min(N, M)) (so both subsets keep >= 2 d features), at most N / 2 so that
    the fit spans a factor of two at least. Fewer distinct counts when N is small."""
    smallest = max(
        FID_INF_SMALLEST_FRACTION * generated,
        FID_INF_DIMS_FACTOR * dims * generated / min(generated, reference),
    )
    smallest = min(smallest, generated / 2)
    return sorted({int(round(n)) for n in np.linspace(smallest, generated, points)})


def frechet_distance(generated: torch.Tensor, reference: torch.Tensor) -> float:
    """FID between two feature sets (n, d), by torch-fidelity's own statistics and Frechet distance."""
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    statistics = [fid_features_to_statistics(f) for f in (generated, reference)]
    return float(fid_statistics_to_metric(*statistics, verbose=False)[KEY_FID])


def fid_infinity(
    features_generated: np.ndarray | torch.Tensor,
    features_reference: np.ndarray | torch.Tensor,
    ns: Sequence[int] | None = None,
    seed: int = 0,
) -> tuple[float, dict[str, Any]]:
    """FID extrapolated to infinitely many samples (Chong and Forsyth 2020): (value, details).

    For each generated count n in `ns` (default `fid_infinity_counts`), FID between n generated
    features and m = round(n M / N) reference features, each drawn without replacement by a numpy
    Generator seeded with `seed` (n = N uses both whole sets: that point is the plain FID); then a
    least-squares line FID = slope / n + intercept, whose intercept is the value. `details` holds
    the fit: {"n", "n_reference", "fid", "slope", "intercept"} (JSON values).
    """
    generated, reference = torch.as_tensor(features_generated), torch.as_tensor(features_reference)
    if generated.dim() != 2 or reference.dim() != 2 or generated.shape[1] != reference.shape[1]:
        raise ValueError(
            f"features must be (n, d) with one d, got {tuple(generated.shape)} and {tuple(reference.shape)}"
        )
    total, total_reference = len(generated), len(reference)
    if ns is None:
        ns = fid_infinity_counts(total, total_reference, generated.shape[1])
    counts = sorted({int(n) for n in ns})
    pairs = [(n, total_reference if n == total else int(round(n * total_reference / total))) for n in counts]
    if len(pairs) < 3 or min(min(pair) for pair in pairs) < 2 or counts[-1] > total:
        raise GanbenchError(
            f"FID at infinity needs at least 3 sample counts of 2 to {total} generated (and their share of "
            f"{total_reference} reference) samples, got {counts}"
        )
    rng = np.random.default_rng(seed)
    fids = []
    for n, m in pairs:
        subsets = [
            features
            if k == len(features)
            else features[torch.from_numpy(np.sort(rng.choice(len(features), k, replace=False)))]
            for features, k in ((generated, n), (reference, m))
        ]
        fids.append(frechet_distance(*subsets))
    slope, intercept = np.polyfit(1.0 / np.asarray(counts, dtype=np.float64), np.asarray(fids), 1)
    details = {
        "n": counts,
        "n_reference": [m for _, m in pairs],
        "fid": fids,
        "slope": float(slope),
        "intercept": float(intercept),
    }
    return float(intercept), details


def _fid(space: str) -> Any:
    def compute(ctx: EvalContext) -> MetricValue:
        pair = shared_features(ctx, space)
        return metric_value(pair, ctx, frechet_distance(*pair.layer(FAMILY)))

    return compute


def _fid_infinity_metric(space: str) -> Any:
    def compute(ctx: EvalContext) -> MetricValue:
        pair = shared_features(ctx, space)
        value, details = fid_infinity(*pair.layer(FAMILY), seed=ctx.seed)
        ns = details["n"]
        fit = (
            f"extrapolated from FID at {len(ns)} counts n = {ns[0]}..{ns[-1]} (slope {details['slope']:.4g})"
        )
        dims = pair.layer(FAMILY)[0].shape[1]
        if min(ns[0], details["n_reference"][0]) < FID_INF_DIMS_FACTOR * dims:
            fit += f"; subsets below {FID_INF_DIMS_FACTOR} x {dims} features: less reliable"
        return metric_value(pair, ctx, value, note=fit, details=details)

    return compute


for _name, _space, _display, _description in (
    ("fid", "inception", "FID", "Frechet Inception Distance (Inception-v3 pool features)"),
    ("fid-lenet", "lenet", "FID (LeNet)", "FID in ganbench's MNIST-classifier feature space"),
):
    register_feature_metric(
        _name, _description, _space, higher_is_better=False, display_name=_display, domain=NON_NEGATIVE
    )(_fid(_space))

# Their descriptions name the extrapolation and its point count (`ganbench list` shows them).
_INFINITY = f"FID extrapolated to n = infinity (Chong and Forsyth 2020) from {FID_INF_POINTS} subset sizes"
for _name, _space, _display, _description in (
    ("fid-inf", "inception", "FID∞", f"{_INFINITY}, Inception-v3"),
    ("fid-lenet-inf", "lenet", "FID∞ (LeNet)", f"{_INFINITY}, MNIST-classifier features"),
):
    # An extrapolated intercept, not a distance: nothing keeps it >= 0, so no domain is declared.
    # Three distinct subset sizes of at least 2 samples, from N / 2 to N: 6 samples.
    register_feature_metric(
        _name, _description, _space, higher_is_better=False, display_name=_display, min_samples=6
    )(_fid_infinity_metric(_space))
