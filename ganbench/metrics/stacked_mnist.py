"""Stacked-MNIST mode counting: modes covered and KL to uniform over 1000 modes, by a digit classifier.

Protocol of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018), after Metz et al. 2017
(unrolled GANs), who introduced the stacked task: an MNIST classifier labels each of the three
channels of a generated image; the triple (d0, d1, d2) is its mode 100 d0 + 10 d1 + d2. Modes
covered is the number of distinct triples among the generated samples (26,000 in both papers); KL is
KL(p || uniform over 1000) of their histogram, natural log, 0 log 0 = 0. The classifier's held-out
accuracy is reported beside the counts, since a misread digit moves a sample to another mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ganbench.data.images import to_uint8
from ganbench.data.stacked_mnist import DIGITS, N_MODES, mode_of
from ganbench.errors import GanbenchError
from ganbench.metrics.base import FRACTION, NON_NEGATIVE, EvalContext, MetricValue, register_metric
from ganbench.metrics.classifier import Classifier, mnist_classifier
from ganbench.metrics.mode_collapse import labels_kl_to_uniform

STACKED_MODES = "stacked-modes"
STACKED_KL = "stacked-kl"
CLASSIFIER_ACCURACY = "digit-classifier-accuracy"

# The slot in EvalContext.shared where one evaluation's predicted modes are kept for all three metrics.
PREDICTIONS_KEY = "stacked-mnist:predictions"

ModeArray = torch.Tensor | np.ndarray


def predicted_modes(images: ModeArray, classifier: Classifier) -> torch.Tensor:
    """The classifier's mode, int64 (n,), of each uint8 stacked image (n, 3, H, W), channel by channel."""
    images = torch.as_tensor(images)
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != DIGITS:
        raise GanbenchError(
            f"stacked MNIST images must be uint8 (n, {DIGITS}, H, W), "
            f"got {images.dtype} {tuple(images.shape)}"
        )
    n, _, height, width = images.shape
    # The n * 3 channels as one-channel digits; row i * 3 + c is channel c of image i.
    channels = images.reshape(n * DIGITS, 1, height, width)
    # Each distinct digit image is classified once: the CNN costs about 0.3 ms a digit on a CPU core, and
    # real stacked samples reuse the same MNIST digits (78,000 channels of 26,000 draws hold at most the
    # 10,000 of the test split), as does a collapsed generator. Finding them (an exact row sort) takes
    # well under a second at n = 26,000.
    rows = np.ascontiguousarray(channels.reshape(n * DIGITS, -1).numpy())
    keys = rows.view(np.dtype((np.void, rows.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    labels = classifier.predict(channels[torch.from_numpy(first)])
    return mode_of(labels[torch.from_numpy(inverse.ravel())].reshape(n, DIGITS))


def _checked(modes: ModeArray, n_modes: int) -> np.ndarray:
    modes = np.asarray(modes)
    if modes.ndim != 1 or modes.size == 0:
        raise GanbenchError(f"modes must be a non-empty 1-D array, got shape {modes.shape}")
    if modes.min() < 0 or modes.max() >= n_modes:
        raise GanbenchError(f"modes must lie in 0..{n_modes - 1}, got {modes.min()}..{modes.max()}")
    return modes


def modes_covered(modes: ModeArray) -> int:
    """Number of distinct modes among `modes`."""
    return int(np.unique(np.asarray(modes)).size)


def kl_to_uniform(modes: ModeArray, n_modes: int = N_MODES) -> float:
    """KL(p || uniform) = sum_k p_k log(K p_k), p the histogram of `modes` over K = n_modes; 0 log 0 = 0."""
    return labels_kl_to_uniform(_checked(modes, n_modes), n_modes)


@dataclass(frozen=True)
class Predictions:
    """The generated samples' predicted modes and the classifier that read them."""

    modes: torch.Tensor
    classifier: Classifier


def _prepare(say: Callable[[str], None]) -> None:
    """Train (or load) the classifier before any training, so that missing MNIST stops a run at once."""
    mnist_classifier(say)  # `say` hears about it when it has to train (the first time only)


def _predictions(ctx: EvalContext) -> Predictions:
    """The generated samples' modes, computed once per evaluation for every stacked-MNIST metric."""
    if PREDICTIONS_KEY not in ctx.shared:
        samples = np.asarray(ctx.samples)
        if samples.ndim != 4 or samples.shape[1] != DIGITS:
            raise GanbenchError(
                f"stacked-MNIST metrics need images (n, {DIGITS}, H, W), got shape {samples.shape}"
            )
        classifier = mnist_classifier()
        modes = predicted_modes(to_uint8(torch.from_numpy(samples)), classifier)
        ctx.shared[PREDICTIONS_KEY] = Predictions(modes, classifier)
    return ctx.shared[PREDICTIONS_KEY]


def _value(value: float, classifier: Classifier, n: int) -> MetricValue:
    note = (
        f"digit classifier accuracy {classifier.accuracy:.4f} on {classifier.heldout_count} held out"
        f" ({classifier.source}; {classifier.content_hash[:12]})"
    )
    return MetricValue(value, note=note, counts={"generated": n})


@register_metric(
    STACKED_MODES,
    "stacked MNIST: distinct digit triples (of 1000) among the samples, by the MNIST classifier",
    higher_is_better=True,
    unit="modes",
    modality="images",
    # A nearly complete generator covers 990-1000 modes, and which rare modes get a sample changes
    # between seeds; the papers' tables (VEEGAN, PacGAN) separate methods by tens to hundreds.
    rel_tol=0.0,
    abs_tol=10.0,
    prepare=_prepare,
    display_name="Modes",
    domain=(0.0, 1000.0),
)
def _stacked_modes(ctx: EvalContext) -> MetricValue:
    predictions = _predictions(ctx)
    return _value(float(modes_covered(predictions.modes)), predictions.classifier, len(predictions.modes))


@register_metric(
    STACKED_KL,
    "stacked MNIST: KL(digit-triple histogram || uniform over 1000), natural log",
    higher_is_better=False,
    unit="nats",
    modality="images",
    # Sampling noise alone puts a perfect generator's KL near (K - 1) / (2n) = 0.019 at n = 26,000, and
    # it moves by about as much between evaluations; above the floor, 10% (the papers report 0.1-5 nats).
    rel_tol=0.1,
    abs_tol=0.05,
    prepare=_prepare,
    display_name="KL",
    domain=NON_NEGATIVE,
)
def _stacked_kl(ctx: EvalContext) -> MetricValue:
    predictions = _predictions(ctx)
    return _value(kl_to_uniform(predictions.modes), predictions.classifier, len(predictions.modes))


@register_metric(
    CLASSIFIER_ACCURACY,
    "held-out accuracy of the MNIST classifier that counts the stacked-MNIST modes",
    higher_is_better=True,
    unit="fraction",
    modality="images",
    # The same classifier (cached by its data) gives the same figure in every run; a change is real.
    rel_tol=0.0,
    abs_tol=0.0,
    prepare=_prepare,
    display_name="Classifier accuracy",
    domain=FRACTION,
)
def _classifier_accuracy(ctx: EvalContext) -> MetricValue:
    # The figure needs no predictions; the classifier is the one the counts use (cached per data root).
    shared = ctx.shared.get(PREDICTIONS_KEY)
    classifier = shared.classifier if shared is not None else mnist_classifier()
    return _value(classifier.accuracy, classifier, len(ctx.samples))
