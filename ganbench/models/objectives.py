"""The objectives (loss pairs on raw discriminator outputs) and the methods built on them, with their
papers' default settings."""

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


def least_squares_discriminator_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2] with the 0-1 coding a = 0, b = 1 (Mao et al. 2017,
    eq. 2 and eq. 9; their other coding, a = -1, b = 1, c = 0, minimizes a Pearson chi^2 divergence)."""
    return 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * (d_fake**2).mean()


def least_squares_generator_loss(d_fake: Tensor) -> Tensor:
    """1/2 E[(D(G(z)) - c)^2] with c = 1: G wants its samples judged real (Mao et al. 2017, eq. 2)."""
    return 0.5 * ((d_fake - 1) ** 2).mean()


def hinge_discriminator_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))] (Lim & Ye 2017; Miyato et al. 2018, eq. 16)."""
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


def relativistic_discriminator_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """E[f(D(G(z)) - D(x))] with f = softplus over pairs of one real and one generated sample
    (relativistic pairing: Jolicoeur-Martineau 2019, RpGAN; Huang et al. 2024, R3GAN, eq. 2)."""
    return F.softplus(d_fake - d_real).mean()


def relativistic_generator_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """E[f(D(x) - D(G(z)))]: the same pairs with the roles swapped (Huang et al. 2024, eq. 2)."""
    return F.softplus(d_real - d_fake).mean()


CROSS_ENTROPY_FAMILY = "cross-entropy (GAN)"
WASSERSTEIN_FAMILY = "Wasserstein critic"
LEAST_SQUARES_FAMILY = "least squares (LSGAN)"
HINGE_FAMILY = "hinge"
RELATIVISTIC_FAMILY = "relativistic pairing"
GAN = Objective(gan_discriminator_loss, minimax_generator_loss, CROSS_ENTROPY_FAMILY)
GAN_NS = Objective(gan_discriminator_loss, non_saturating_generator_loss, CROSS_ENTROPY_FAMILY)
WASSERSTEIN = Objective(wasserstein_critic_loss, wasserstein_generator_loss, WASSERSTEIN_FAMILY)
LEAST_SQUARES = Objective(
    least_squares_discriminator_loss, least_squares_generator_loss, LEAST_SQUARES_FAMILY
)
# The hinge critic with the Wasserstein generator loss -E[D(G(z))] (Lim & Ye 2017; Miyato et al. 2018).
HINGE = Objective(hinge_discriminator_loss, wasserstein_generator_loss, HINGE_FAMILY)
RELATIVISTIC = Objective(
    relativistic_discriminator_loss,
    relativistic_generator_loss,
    RELATIVISTIC_FAMILY,
    generator_reads_real=True,
)

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

# --- the objective zoo: each a name for an objective with its regularizers and its source's settings ---

# LSGAN (Mao et al. 2017): the a-b-c = 0-1-1 coding with the DCGAN optimizer settings they train with.
METHODS.add(
    "lsgan",
    Method(
        "lsgan",
        "least-squares GAN, coding 0-1-1 (Mao et al. 2017), Adam 2e-4, beta1 0.5",
        LEAST_SQUARES,
        GAN_DEFAULTS,
        display_name="LSGAN",
    ),
)
# Hinge loss; SN-GAN's Table 1 setting C (Miyato et al. 2018): Adam 2e-4, betas (0.5, 0.999), 1 D step.
HINGE_DEFAULTS = Hyperparameters(optimizer="adam", lr=2e-4, beta1=0.5, beta2=0.999)
METHODS.add(
    "hinge",
    Method(
        "hinge",
        "hinge loss for D, -E[D(G(z))] for G (Lim & Ye 2017), Adam 2e-4, betas (0.5, 0.999)",
        HINGE,
        HINGE_DEFAULTS,
        display_name="Hinge",
    ),
)
METHODS.add(
    "sngan",
    Method(
        "sngan",
        "SN-GAN: hinge loss with spectral normalization of every D weight (Miyato et al. 2018), setting C",
        HINGE,
        dataclasses.replace(HINGE_DEFAULTS, spectral_norm=True),
        display_name="SN-GAN",
    ),
)
# Mescheder et al. 2018's experiments (their GAN_stability code): RMSprop 1e-4, R1 with gamma 10.
METHODS.add(
    "gan-r1",
    Method(
        "gan-r1",
        "non-saturating GAN + R1 penalty gamma 10 on real data (Mescheder et al. 2018), RMSprop 1e-4",
        GAN_NS,
        Hyperparameters(optimizer="rmsprop", lr=1e-4, r1_gamma=10.0),
        display_name="GAN-R1",
    ),
)
# R3GAN's loss (Huang et al. 2024): relativistic pairing with R1 and R2 of one gamma, Adam betas (0, 0.99)
# as theirs; their gamma and step size are tuned per dataset, so these two are ours for 2-D data.
METHODS.add(
    "rpgan-r1r2",
    Method(
        "rpgan-r1r2",
        "relativistic pairing GAN + R1 + R2 gamma 1 (R3GAN's loss, Huang et al. 2024); Adam 2e-4, (0, 0.99)",
        RELATIVISTIC,
        Hyperparameters(optimizer="adam", lr=2e-4, beta1=0.0, beta2=0.99, r1_gamma=1.0, r2_gamma=1.0),
        display_name="RpGAN-R1R2",
    ),
)
# DRAGAN (Kodali et al. 2017): the GAN loss with the penalty lambda 10 around real samples, perturbed
# as in the authors' code (0.5 standard deviations); the DCGAN optimizer settings.
METHODS.add(
    "dragan",
    Method(
        "dragan",
        "DRAGAN: non-saturating GAN + gradient penalty lambda 10 near real data (Kodali et al. 2017)",
        GAN_NS,
        dataclasses.replace(GAN_DEFAULTS, dragan_lambda=10.0),
        display_name="DRAGAN",
    ),
)
# Unrolled GAN (Metz et al. 2017): the minimax loss, G judged by D after 5 unrolled Adam steps; the
# 2-D mixture experiment's settings of the authors' code: Adam beta1 0.5, D 1e-4, G 1e-3.
METHODS.add(
    "unrolled-gan",
    Method(
        "unrolled-gan",
        "Unrolled GAN: minimax GAN, G's loss after 5 unrolled D steps (Metz et al. 2017); Adam D 1e-4 G 1e-3",
        GAN,
        dataclasses.replace(GAN_DEFAULTS, lr=1e-4, lr_g=1e-3, unroll=5),
        display_name="Unrolled GAN",
    ),
)
