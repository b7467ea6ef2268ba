"""The trained critic's gradient norm at interpolates: whether its Lipschitz constraint still holds."""

from __future__ import annotations

import math

import torch

from ganbench.metrics.base import NON_NEGATIVE, NOT_APPLICABLE, EvalContext, MetricValue, register_metric

CRITIC_GRAD_NORM = "critic-grad-norm"
# Interpolates scored: as many as the evaluation's samples, at most this many (the norm's mean over
# 1,000 of them varies by about 1% between draws on the ci suite's critics).
MAX_POINTS = 1000


# Gulrajani et al. 2017 (Figure 1b) plot this quantity to show what the constraint does: a WGAN-GP
# critic keeps its gradient norm near 1, a weight-clipped one far below, and one without either
# grows without bound. Lower is registered as better, so that a critic grown steeper, the failure
# of a lost constraint, is what `ganbench compare` calls a regression; 25% relative tolerance, as
# the norm of a GAN discriminator wanders between seeds by about that much.
@register_metric(
    CRITIC_GRAD_NORM,
    "mean ||grad D(x_hat)||_2 of the trained critic at x_hat = e x + (1 - e) G(z), e ~ U[0, 1] "
    "(WGAN-GP's interpolates); n/a without a critic (ganbench eval) or under packing",
    higher_is_better=False,
    unit="",
    modality="points",
    rel_tol=0.25,
    display_name="Critic grad norm",
    domain=NON_NEGATIVE,
)
def critic_grad_norm(ctx: EvalContext) -> MetricValue:
    """The critic's mean input-gradient norm over real-fake interpolates (seeded, the reference draw)."""
    if ctx.critic is None:
        return MetricValue(
            math.nan, note=NOT_APPLICABLE + "no trained critic (samples scored by ganbench eval)"
        )
    if ctx.pack != 1:
        return MetricValue(math.nan, note=NOT_APPLICABLE + "the critic reads packs of samples (PacGAN)")
    n = min(len(ctx.samples), MAX_POINTS)
    real = torch.from_numpy(ctx.reference(n)).float()
    fake = torch.from_numpy(ctx.samples[:n]).float()
    eps = torch.rand(n, 1, generator=torch.Generator().manual_seed(ctx.seed))
    x_hat = (eps * real + (1 - eps) * fake).to(ctx.device).requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(ctx.critic(x_hat).sum(), x_hat)
    return MetricValue(float(grad.norm(dim=1).mean()), counts={"generated": n, "reference": n})
