"""Mode-collapse metrics on Gaussian mixtures: modes covered, high-quality fraction, reverse KL.

Protocol of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018), on 2-D mixtures, as their
papers and code define it: a sample is high quality when it lies within 3 standard deviations of its
nearest center; a mode is covered when at least one high-quality sample has it as nearest center;
reverse KL is KL(p || uniform) of the histogram of nearest centers over all samples, natural log.
"""

from __future__ import annotations

import numpy as np

from ganbench.data.base import KNOWN_MODES, Mixture
from ganbench.metrics.base import FRACTION, NON_NEGATIVE, EvalContext, MetricValue, needed, register_metric

MODES_COVERED = "modes-covered"
HIGH_QUALITY_FRACTION = "high-quality-fraction"
REVERSE_KL = "reverse-kl"

# VEEGAN and PacGAN: within three standard deviations of a center counts as high quality.
HIGH_QUALITY_STDS = 3.0


def nearest_modes(samples: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each sample's nearest center and the Euclidean distance to it."""
    distances = np.linalg.norm(samples[:, None, :] - centers[None, :, :], axis=2)
    nearest = distances.argmin(axis=1)
    return nearest, distances[np.arange(len(samples)), nearest]


def high_quality(samples: np.ndarray, mixture: Mixture) -> tuple[np.ndarray, np.ndarray]:
    """Nearest mode of each sample, and whether the sample is within 3 std of it."""
    nearest, distance = nearest_modes(samples, mixture.centers.numpy())
    return nearest, distance < HIGH_QUALITY_STDS * mixture.std


def modes_covered(samples: np.ndarray, mixture: Mixture) -> int:
    """Number of modes that are the nearest center of at least one high-quality sample."""
    nearest, good = high_quality(samples, mixture)
    return int(np.unique(nearest[good]).size)


def high_quality_fraction(samples: np.ndarray, mixture: Mixture) -> float:
    """Fraction of samples within 3 std of their nearest center."""
    _, good = high_quality(samples, mixture)
    return float(good.mean())


def labels_kl_to_uniform(labels: np.ndarray, n_modes: int) -> float:
    """KL(p || uniform) = sum_k p_k log(K p_k), p the histogram of `labels` (ints in 0..K-1) over
    K = n_modes modes; natural log, 0 log 0 = 0."""
    p = np.bincount(labels, minlength=n_modes) / len(labels)
    nonzero = p > 0
    return float(np.sum(p[nonzero] * np.log(n_modes * p[nonzero])))


def reverse_kl(samples: np.ndarray, mixture: Mixture) -> float:
    """KL(p || uniform) of the histogram p of nearest centers over all samples."""
    nearest, _ = nearest_modes(samples, mixture.centers.numpy())
    return labels_kl_to_uniform(nearest, mixture.n_modes)


def _mixture(ctx: EvalContext, metric: str) -> Mixture:
    return needed(ctx, KNOWN_MODES, f"metric '{metric}'")


@register_metric(
    MODES_COVERED,
    "modes hit by at least one sample within 3 std",
    higher_is_better=True,
    unit="modes",
    modality="points",
    # An integer count: one mode more or less is the smallest real change, and a rarely hit mode
    # flips in and out between seeds, so only a change of more than one mode counts.
    rel_tol=0.0,
    abs_tol=1.0,
    display_name="Modes",
    needs=(KNOWN_MODES,),
    domain=NON_NEGATIVE,  # and at most the dataset's modes
)
def _modes_covered(ctx: EvalContext) -> MetricValue:
    return MetricValue(float(modes_covered(ctx.samples, _mixture(ctx, MODES_COVERED))))


@register_metric(
    HIGH_QUALITY_FRACTION,
    "fraction of samples within 3 std of their nearest mode",
    higher_is_better=True,
    unit="fraction",
    modality="points",
    # Two points of the fraction: at 2,500 samples one evaluation's binomial standard error is up
    # to 0.01, so a smaller change is sampling noise.
    rel_tol=0.0,
    abs_tol=0.02,
    display_name="HQ fraction",
    needs=(KNOWN_MODES,),
    domain=FRACTION,
)
def _high_quality_fraction(ctx: EvalContext) -> MetricValue:
    return MetricValue(high_quality_fraction(ctx.samples, _mixture(ctx, HIGH_QUALITY_FRACTION)))


@register_metric(
    REVERSE_KL,
    "KL(nearest-mode histogram || uniform), natural log",
    higher_is_better=False,
    unit="nats",
    modality="points",
    # Near 0 (all modes equally hit) relative changes are huge and meaningless, hence the absolute
    # floor of 0.02 nats; above it, 10%, as the histogram of 2,500 samples is itself noisy.
    rel_tol=0.1,
    abs_tol=0.02,
    display_name="Reverse KL",
    needs=(KNOWN_MODES,),
    domain=NON_NEGATIVE,  # a KL divergence
)
def _reverse_kl(ctx: EvalContext) -> MetricValue:
    return MetricValue(reverse_kl(ctx.samples, _mixture(ctx, REVERSE_KL)))
