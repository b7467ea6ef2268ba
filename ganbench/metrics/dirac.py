"""The Dirac-GAN's distance to its equilibrium: sqrt(theta^2 + psi^2) of the trained pair."""

from __future__ import annotations

import math

import torch

from ganbench.data.base import DIRAC_EQUILIBRIUM
from ganbench.data.dirac import equilibrium_coordinates
from ganbench.metrics.base import NON_NEGATIVE, NOT_APPLICABLE, EvalContext, MetricValue, register_metric

EQUILIBRIUM_DISTANCE = "equilibrium-distance"


# Mescheder et al. 2018, section 2: the Dirac-GAN's unique equilibrium is (theta, psi) = (0, 0), which
# unregularized GAN training (simultaneous or alternating gradient descent), WGAN and WGAN-GP do not
# reach, and R1/R2 penalties and instance noise do (locally). The trajectory is deterministic (the data
# are one point and G ignores z), so seeds differ only by float rounding; compare's tolerances are
# for that rounding, 5% of the distance, and 0.01 near 0, where a converged run sits.
@register_metric(
    EQUILIBRIUM_DISTANCE,
    "sqrt(theta^2 + psi^2): the Dirac-GAN's distance to its equilibrium (0, 0); theta the samples' "
    "mean, psi = D(1) - D(0) of the trained critic; n/a without a critic, under packing, off dirac",
    higher_is_better=False,
    unit="",
    modality="points",
    rel_tol=0.05,
    abs_tol=0.01,
    display_name="Distance to (0, 0)",
    domain=NON_NEGATIVE,
)
def equilibrium_distance(ctx: EvalContext) -> MetricValue:
    """sqrt(theta^2 + psi^2), with theta and psi in the details."""
    # Not a need (a suite may score the dirac and a mixture alike): n/a where the dataset is no Dirac-GAN's.
    if not DIRAC_EQUILIBRIUM.offered_by(ctx.dataset):
        return MetricValue(math.nan, note=NOT_APPLICABLE + "the equilibrium (0, 0) is the dirac dataset's")
    if ctx.critic is None:
        return MetricValue(
            math.nan, note=NOT_APPLICABLE + "no trained critic (samples scored by ganbench eval)"
        )
    if ctx.pack != 1:
        return MetricValue(math.nan, note=NOT_APPLICABLE + "the critic reads packs of samples (PacGAN)")
    theta, psi = equilibrium_coordinates(torch.from_numpy(ctx.samples), ctx.critic)
    return MetricValue(math.hypot(theta, psi), details={"theta": theta, "psi": psi})
