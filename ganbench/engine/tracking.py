"""Training curves: the discriminator's loss, the critic's estimate, the exact W1 and, on Gaussian
mixtures, modes covered and the high-quality fraction, every K steps; on images, the suite's cheap
image metrics (FID in the MNIST classifier's features; Stacked MNIST's modes and KL) instead of W1.

They let a user check the WGAN paper's claims (Arjovsky et al. 2017, section 4) instead of taking
them on faith: that the critic's estimate E[D(x)] - E[D(G(z))] follows the true Wasserstein
distance during training (up to the unknown Lipschitz constant of a clipped critic), and that the
original GAN's discriminator loss does not reflect progress. Modes and quality over training show
when each method converges (and whether it still improves at the end: see ganbench.metrics.validity).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ganbench.data.base import KNOWN_MODES, TRACKS, Dataset
from ganbench.engine.streams import generator as stream
from ganbench.engine.train import Observer
from ganbench.metrics.mode_collapse import high_quality_fraction, modes_covered
from ganbench.metrics.validity import CRITIC_ESTIMATE, D_LOSS, HQ_CURVE, MODES_CURVE, W1_CURVE, W1_EXACT
from ganbench.metrics.wasserstein import exact_w1
from ganbench.models.base import Objective
from ganbench.models.packing import pack

__all__ = [
    "CRITIC_ESTIMATE",
    "D_LOSS",
    "HQ_CURVE",
    "MODES_CURVE",
    "W1_CURVE",
    "W1_EXACT",
]  # the curves' names


def w1_observer(
    objective: Objective,
    dataset: Dataset,
    n: int,
    latent_dim: int,
    seed: int,
    device: torch.device,
    pack_size: int = 1,
) -> Observer:
    """An observer measuring, on fixed real samples and fixed noise (n each, from the job seed's
    `track-real` and `track-noise` streams, apart from its training and evaluation streams):

    the discriminator loss of the method's objective (without any penalty term), the critic's
    estimate E[D(x)] - E[D(G(z))], and the exact W1 between G(z) and the real samples; modes covered
    and the high-quality fraction on a dataset that declares KNOWN_MODES, and the dataset's own
    curves where it declares TRACKS (ganbench.data.dirac: theta, psi). Under
    PacGAN packing the discriminator reads packs of `pack_size`; the last n mod m samples are
    left out of its two values (W1 uses all n).
    """
    whole = n - n % pack_size
    mixture, tracker = KNOWN_MODES.of(dataset), TRACKS.of(dataset)
    real = dataset.sample(n, stream(seed, "track-real")).to(device)
    z = torch.randn(n, latent_dim, generator=stream(seed, "track-noise")).to(device)
    real_numpy = real.double().cpu().numpy()

    @torch.no_grad()
    def observe(generator: nn.Module, discriminator: nn.Module) -> dict[str, float]:
        fake = generator(z)
        d_real = discriminator(pack(real[:whole], pack_size))
        d_fake = discriminator(pack(fake[:whole], pack_size))
        fake_numpy = fake.double().cpu().numpy()
        w1 = exact_w1(fake_numpy, real_numpy)
        values = {
            D_LOSS: objective.discriminator_loss(d_real, d_fake).item(),
            CRITIC_ESTIMATE: (d_real.mean() - d_fake.mean()).item(),
            W1_CURVE: w1.value,
            W1_EXACT: float(w1.exact),
        }
        if mixture is not None:
            values[MODES_CURVE] = float(modes_covered(fake_numpy, mixture))
            values[HQ_CURVE] = high_quality_fraction(fake_numpy, mixture)
        if tracker is not None:
            values.update(tracker.track(fake, discriminator))
        return values

    return observe


# Scores generated images (n, C, H, W) float32 in [-1, 1] by the tracked image metrics, by name.
ImageMeasure = Callable[[np.ndarray], dict[str, float]]
# Images go through the discriminator in chunks of this many, so that tracking 2,000 images does not
# hold 2,000 images' activations at once.
CHUNK = 500


def image_observer(
    objective: Objective,
    dataset: Dataset,
    n: int,
    latent_dim: int,
    seed: int,
    device: torch.device,
    measure: ImageMeasure,
    pack_size: int = 1,
) -> Observer:
    """An observer for image jobs, on fixed real images and fixed noise (n each, from the job seed's
    `track-real` and `track-noise` streams, as `w1_observer`): the discriminator loss and the critic's
    estimate, and `measure` of the n generated images (the suite's tracked image metrics). No W1:
    an exact transport between pixel vectors says little about images and costs seconds per point."""
    whole = n - n % pack_size
    step = max(CHUNK - CHUNK % pack_size, pack_size)
    real = dataset.sample(n, stream(seed, "track-real")).to(device)
    z = torch.randn(n, latent_dim, generator=stream(seed, "track-noise")).to(device)

    def scores(discriminator: nn.Module, images: torch.Tensor) -> torch.Tensor:
        chunks = [images[i : min(i + step, whole)] for i in range(0, whole, step)]
        return torch.cat([discriminator(pack(chunk, pack_size)) for chunk in chunks])

    @torch.no_grad()
    def observe(generator: nn.Module, discriminator: nn.Module) -> dict[str, float]:
        fake = torch.cat([generator(z[i : i + CHUNK]) for i in range(0, n, CHUNK)])
        d_real, d_fake = scores(discriminator, real), scores(discriminator, fake)
        values = {
            D_LOSS: objective.discriminator_loss(d_real, d_fake).item(),
            CRITIC_ESTIMATE: (d_real.mean() - d_fake.mean()).item(),
        }
        values.update(measure(fake.float().cpu().numpy()))
        return values

    return observe
