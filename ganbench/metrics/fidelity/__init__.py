"""Image quality in feature spaces through torch-fidelity: the only package importing it.

Laid out by role, as torch-fidelity itself is: `extractors` (the feature networks and their weights
checks), `cache` (real-data features on disk), `features` (one extraction per dataset, extractor and
samples, shared by every metric), and one module per metric family: `fid` (with FID at infinity),
`kid`, `precision_recall`, `inception_score`, `density_coverage`.
"""

from ganbench.metrics.fidelity import (  # noqa: F401  (register metrics)
    density_coverage,
    fid,
    inception_score,
    kid,
    precision_recall,
)
from ganbench.metrics.fidelity.extractors import EXTRACTORS, INCEPTION, INCEPTION_TS, LENET, Extractor
from ganbench.metrics.fidelity.features import FeatureKey, Features, fidelity_features
from ganbench.metrics.fidelity.fid import fid_infinity, frechet_distance

__all__ = [
    "EXTRACTORS",
    "INCEPTION",
    "INCEPTION_TS",
    "LENET",
    "Extractor",
    "FeatureKey",
    "Features",
    "fid_infinity",
    "fidelity_features",
    "frechet_distance",
]
