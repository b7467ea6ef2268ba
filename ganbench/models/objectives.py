"""The registered methods for the GAN and WGAN families, with their papers' default settings."""

from __future__ import annotations

import dataclasses

import torch.nn.functional as F
from torch import Tensor

from ganbench.models.base import METHODS, Hyperparameters, Method, Objective


def gan_discriminator_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """-(E[log D(x)] + E[log(1 - D(G(z)))]) with D = sigmoid(logit); softplus keeps it stable."""
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def minimax_generator_loss(d_fake: Tensor) -> Tensor:
    """E[log(1 - D(G(z)))], minimized by G (Goodfellow et al. 2014); log(1 - sigmoid(t)) = -softplus(t)."""
    return -F.softplus(d_fake).mean()


def non_saturating_generator_loss(d_fake: Tensor) -> Tensor:
    """-E[log D(G(z))] (Goodfellow et al. 2014, section 3); log sigmoid(t) = -softplus(-t)."""
    return F.softplus(-d_fake).mean()


def wasserstein_critic_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """E[D(G(z))] - E[D(x)]: the critic maximizes the estimate E[D(x)] - E[D(G(z))]."""
    return d_fake.mean() - d_real.mean()


def wasserstein_generator_loss(d_fake: Tensor) -> Tensor:
    """-E[D(G(z))]."""
    return -d_fake.mean()


CROSS_ENTROPY_FAMILY = "cross-entropy (GAN)"
WASSERSTEIN_FAMILY = "Wasserstein critic"
GAN = Objective(gan_discriminator_loss, minimax_generator_loss, CROSS_ENTROPY_FAMILY)
GAN_NS = Objective(gan_discriminator_loss, non_saturating_generator_loss, CROSS_ENTROPY_FAMILY)
WASSERSTEIN = Objective(wasserstein_critic_loss, wasserstein_generator_loss, WASSERSTEIN_FAMILY)

# Adam lr 2e-4, beta1 0.5: the DCGAN paper's settings (Radford et al. 2016), widely reused for GANs.
GAN_DEFAULTS = Hyperparameters(optimizer="adam", lr=2e-4, beta1=0.5, beta2=0.999)

METHODS.add(
    "gan",
    Method(
        "gan",
        "minimax GAN: G minimizes E[log(1 - D(G(z)))] (Goodfellow et al. 2014)",
        GAN,
        GAN_DEFAULTS,
        display_name="GAN",
    ),
)
METHODS.add(
    "gan-ns",
    Method(
        "gan-ns",
        "non-saturating GAN: G minimizes -E[log D(G(z))]",
        GAN_NS,
        GAN_DEFAULTS,
        display_name="GAN-NS",
    ),
)
# WGAN paper (Arjovsky et al. 2017), Algorithm 1 defaults: RMSprop lr 5e-5, clip 0.01, n_critic 5.
METHODS.add(
    "wgan",
    Method(
        "wgan",
        "WGAN with a weight-clipped critic (clip 0.01, RMSprop 5e-5, 5 critic steps)",
        WASSERSTEIN,
        Hyperparameters(optimizer="rmsprop", lr=5e-5, n_critic=5, clip=0.01),
        display_name="WGAN",
    ),
)
# WGAN-GP paper (Gulrajani et al. 2017), Algorithm 1 defaults: lambda 10, Adam 1e-4, betas (0, 0.9).
METHODS.add(
    "wgan-gp",
    Method(
        "wgan-gp",
        "WGAN with gradient penalty (lambda 10, Adam 1e-4 betas (0, 0.9), 5 critic steps)",
        WASSERSTEIN,
        Hyperparameters(optimizer="adam", lr=1e-4, beta1=0.0, beta2=0.9, n_critic=5, gp_lambda=10.0),
        display_name="WGAN-GP",
    ),
)
# DCGAN (Radford et al. 2016): the GAN objective on the DCGAN nets with the paper's Adam settings.
# The generator minimizes -log D(G(z)), as the paper's reference code does (labels flipped for G).
METHODS.add(
    "dcgan",
    Method(
        "dcgan",
        "DCGAN: the GAN objective (non-saturating G loss) on the DCGAN conv nets, Adam 2e-4, beta1 0.5",
        GAN_NS,
        dataclasses.replace(GAN_DEFAULTS, architecture="dcgan"),
        display_name="DCGAN",
    ),
)
