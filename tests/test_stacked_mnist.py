"""Stacked MNIST (docs/pages/methods/stacked-mnist.md): the dataset, mode counting against hand-computed
answers, an oracle of real stacked samples, the suite file and a tiny end-to-end run.

A sample's mode is 100 d0 + 10 d1 + d2 of the digits the MNIST classifier reads in its three channels;
modes covered = distinct modes; KL = sum_k p_k log(1000 p_k) of their histogram, natural log, 0 log 0 = 0.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED_MNIST, write_tiny_image_suite

from ganbench.data import DATASETS
from ganbench.data.images import ImageData, to_float
from ganbench.data.stacked_mnist import N_MODES, StackedMnist, StackedMnistParams, mode_of
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS, EvalContext, MetricValue
from ganbench.metrics.classifier import Classifier, mnist_classifier
from ganbench.metrics.stacked_mnist import (
    CLASSIFIER_ACCURACY,
    PREDICTIONS_KEY,
    STACKED_KL,
    STACKED_MODES,
    kl_to_uniform,
    modes_covered,
    predicted_modes,
)
from ganbench.suite import Suite, load_suite

MNIST_DIR = SHARED_MNIST
METRIC_NAMES = (STACKED_MODES, STACKED_KL, CLASSIFIER_ACCURACY)
PAPERS_N = 26_000  # generated samples per evaluation in VEEGAN and PacGAN


def _has_mnist_test_split() -> bool:
    return all(
        (MNIST_DIR / name).is_file() or (MNIST_DIR / f"{name}.gz").is_file()
        for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    )


needs_mnist = pytest.mark.skipif(
    not _has_mnist_test_split(),
    reason=f"the MNIST test split (t10k-images/labels-idx*-ubyte[.gz]) is not in {MNIST_DIR}",
)


# ------------------------------------------------------------------------------------- pure functions


def test_mode_of_hand_values() -> None:
    digits = torch.tensor([[3, 0, 7], [0, 0, 0], [9, 9, 9], [0, 4, 2]])
    assert mode_of(digits).tolist() == [307, 0, 999, 42]
    assert mode_of(np.array([[1, 2, 3]])).tolist() == [123]
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        mode_of(torch.zeros(4, 2, dtype=torch.int64))


def test_modes_covered_counts_distinct_values() -> None:
    assert modes_covered(np.array([5, 5, 5])) == 1
    assert modes_covered(torch.tensor([0, 999, 0, 42, 999])) == 3
    assert modes_covered(np.arange(N_MODES)) == N_MODES


def test_kl_constant_modes_is_log_1000() -> None:
    # p = 1 on one mode, 0 on 999: KL = 1 * log(1000 * 1) = log 1000 = 6.90776...
    modes = np.full(PAPERS_N, 307)
    assert modes_covered(modes) == 1
    assert kl_to_uniform(modes) == pytest.approx(math.log(1000), rel=1e-12)


def test_kl_ten_modes_uniformly_is_log_100() -> None:
    # p = 1/10 on 10 modes: KL = 10 * (1/10) log(1000 / 10) = log 100 = 4.60517...
    modes = np.repeat(np.arange(0, 1000, 111)[:10], PAPERS_N // 10)
    assert len(modes) == PAPERS_N and modes_covered(modes) == 10
    assert kl_to_uniform(modes) == pytest.approx(math.log(100), rel=1e-12)


def test_kl_unequal_counts_by_hand() -> None:
    modes = np.array([5] * 30 + [42] * 10)
    # p = (3/4, 1/4) on 2 of 1000 modes:
    # KL = 3/4 log(1000 * 3/4) + 1/4 log(1000 * 1/4) = 3/4 log 750 + 1/4 log 250
    #    = 0.75 * 6.62007 + 0.25 * 5.52146 = 6.34542 (= log 1000 minus the entropy 0.56234 of p).
    assert kl_to_uniform(modes) == pytest.approx(0.75 * math.log(750) + 0.25 * math.log(250), rel=1e-12)
    assert kl_to_uniform(modes) == pytest.approx(6.34542, abs=1e-5)
    # Every mode equally often: every term is p log(1000 p) = p log 1 = 0.
    assert kl_to_uniform(np.repeat(np.arange(N_MODES), 3)) == pytest.approx(0.0, abs=1e-12)
    # With K = 4: p = (1/2, 1/2, 0, 0) gives 2 * 1/2 log(4/2) = log 2.
    assert kl_to_uniform(np.array([0, 1]), n_modes=4) == pytest.approx(math.log(2), rel=1e-12)


def test_kl_rejects_modes_out_of_range_and_empty() -> None:
    with pytest.raises(GanbenchError, match="0..999"):
        kl_to_uniform(np.array([0, 1000]))
    with pytest.raises(GanbenchError, match="non-empty"):
        kl_to_uniform(np.array([], dtype=np.int64))


class _PixelSumClassifier:
    """A stand-in classifier: the digit is the image's pixel sum mod 10; counts the digits it reads."""

    def __init__(self) -> None:
        self.read = 0

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        assert images.dtype == torch.uint8 and images.ndim == 4 and images.shape[1] == 1
        self.read += len(images)
        return images.flatten(1).to(torch.int64).sum(dim=1) % 10


def test_predicted_modes_reads_each_channel_and_each_distinct_digit_once() -> None:
    generator = torch.Generator().manual_seed(0)
    pool = torch.randint(0, 256, (7, 1, 6, 6), dtype=torch.uint8, generator=generator)
    index = torch.randint(7, (50, 3), generator=generator)
    images = pool[index].squeeze(2)  # (50, 3, 6, 6), every channel one of 7 digit images
    classifier = _PixelSumClassifier()
    modes = predicted_modes(images, classifier)  # type: ignore[arg-type]
    per_channel = torch.stack([classifier.predict(images[:, c : c + 1]) for c in range(3)], dim=1)
    assert modes.dtype == torch.int64
    assert modes.tolist() == mode_of(per_channel).tolist()
    assert classifier.read == len(torch.unique(index)) + 150  # once per distinct digit, then the check
    with pytest.raises(GanbenchError, match="uint8"):
        predicted_modes(images.float(), classifier)  # type: ignore[arg-type]


# -------------------------------------------------------------------------------------------- dataset


def _synthetic_mnist(count: int = 20, side: int = 8) -> ImageData:
    """`count` one-channel images, image i filled with the value 10 i, labelled i % 10."""
    images = (
        (torch.arange(count, dtype=torch.uint8) * 10).reshape(count, 1, 1, 1).expand(count, 1, side, side)
    )
    return ImageData(images.clone(), torch.arange(count) % 10, "synthetic digits")


def test_sample_shape_dtype_range_and_determinism() -> None:
    data = StackedMnist(_synthetic_mnist())
    assert data.modality == "images" and data.image_shape == (3, 8, 8)
    samples = data.sample(64, torch.Generator().manual_seed(1))
    assert samples.shape == (64, 3, 8, 8) and samples.dtype == torch.float32
    assert samples.min() >= -1 and samples.max() <= 1
    assert torch.equal(samples, data.sample(64, torch.Generator().manual_seed(1)))
    assert not torch.equal(samples, data.sample(64, torch.Generator().manual_seed(2)))
    reference = data.reference(32)
    assert reference.dtype == torch.uint8 and reference.shape == (32, 3, 8, 8)
    assert torch.equal(reference, data.reference(32))


def test_modes_match_channels_drawn_independently() -> None:
    data = StackedMnist(_synthetic_mnist())
    images, modes = data.sample_with_modes(5000, torch.Generator().manual_seed(3))
    assert images.dtype == torch.uint8 and modes.dtype == torch.int64 and modes.shape == (5000,)
    # Each channel is one whole synthetic image: its constant value 10 i names the image, i % 10 its label.
    index = images[:, :, 0, 0].to(torch.int64) // 10
    assert torch.equal(images, images[:, :, :1, :1].expand_as(images))
    assert torch.equal(modes, mode_of(index % 10))
    # Independent channels: each of the 3 x 20 (channel, image) pairs ~ 250 times, no correlation between
    # channels (|r| < 0.05 is 3.5 standard errors at n = 5000), and 5000 draws over 1000 equally likely
    # triples cover about 1000 (1 - e^-5) = 993 of them.
    for channel in range(3):
        counts = torch.bincount(index[:, channel], minlength=20)
        assert counts.min() > 180 and counts.max() < 330
    correlation = np.corrcoef(index.T.numpy())
    assert np.abs(correlation[np.triu_indices(3, 1)]).max() < 0.05
    assert modes_covered(modes) > 980


def test_rejects_unlabelled_or_colour_digits() -> None:
    unlabelled = ImageData(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), None, "no labels")
    with pytest.raises(GanbenchError, match="labelled one-channel"):
        StackedMnist(unlabelled)
    colour = ImageData(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.zeros(4), "rgb")
    with pytest.raises(GanbenchError, match="labelled one-channel"):
        StackedMnist(colour)


def test_registered_as_an_image_dataset() -> None:
    spec = DATASETS.get("stacked-mnist")
    assert spec.modality == "images" and spec.params is StackedMnistParams
    assert StackedMnistParams() == StackedMnistParams(split="train", size=28, download=True)


# ----------------------------------------------------------------------------------------- the suite


def test_suite_file_validates() -> None:
    suite = load_suite("stacked-mnist")
    assert isinstance(suite, Suite)
    assert suite.methods == ("dcgan", "wgan", "wgan-gp")
    assert [suite.hyperparameters(m).architecture for m in suite.methods] == ["dcgan", "dcgan", "dcgan-gp"]
    assert suite.datasets == ("stacked-mnist",)
    assert suite.dataset_params["stacked-mnist"] == StackedMnistParams(split="test", size=28)
    assert suite.metrics == METRIC_NAMES
    assert suite.eval.samples == PAPERS_N
    assert suite.quick.samples <= PAPERS_N and suite.quick.steps <= 100


def test_metric_directions_and_units() -> None:
    assert METRICS.get(STACKED_MODES).higher_is_better is True
    assert METRICS.get(STACKED_MODES).unit == "modes"
    assert METRICS.get(STACKED_KL).higher_is_better is False
    assert METRICS.get(STACKED_KL).unit == "nats"
    assert METRICS.get(CLASSIFIER_ACCURACY).higher_is_better is True
    assert all(METRICS.get(name).modality == "images" for name in METRIC_NAMES)


# ------------------------------------------------------------------ through the registered metrics


@pytest.fixture
def mnist_env(real_mnist: Path) -> None:
    """Data root = the shared MNIST folder, cache = the session's (conftest's `real_mnist`)."""


@pytest.fixture
def stacked(mnist_env: None) -> StackedMnist:
    dataset = DATASETS.get("stacked-mnist").build(StackedMnistParams(split="test"))
    assert isinstance(dataset, StackedMnist)
    return dataset


@pytest.fixture
def classifier(mnist_env: None) -> Classifier:
    return mnist_classifier()


def evaluate(images: torch.Tensor, dataset: StackedMnist) -> tuple[dict[str, MetricValue], EvalContext]:
    """The three metrics on uint8 stacked images, with the context built as runner._evaluate builds it."""
    ctx = EvalContext(
        to_float(images).numpy(), dataset, seed=0, dataset_id="stacked-mnist-split=test", wanted=METRIC_NAMES
    )
    return {name: METRICS.get(name).compute(ctx) for name in METRIC_NAMES}, ctx


def _digit(dataset: StackedMnist, classifier: Classifier, label: int) -> torch.Tensor:
    """The first MNIST digit labelled `label` that the classifier also reads as `label`, (1, H, W)."""
    labels = dataset.mnist.labels
    assert labels is not None
    candidates = torch.nonzero(labels == label).flatten()[:20]
    read = classifier.predict(dataset.mnist.images[candidates])
    return dataset.mnist.images[candidates[read == label][0]]


def _check_note(value: MetricValue, classifier: Classifier, n: int) -> None:
    assert value.counts == {"generated": n}
    assert f"{classifier.accuracy:.4f}" in value.note
    assert classifier.content_hash[:12] in value.note and classifier.source in value.note


@pytest.mark.e2e
def test_generator_of_one_triple(stacked: StackedMnist, classifier: Classifier) -> None:
    image = torch.cat([_digit(stacked, classifier, d) for d in (3, 0, 7)])  # (3, H, W): mode 307
    values, ctx = evaluate(image.expand(PAPERS_N, -1, -1, -1), stacked)
    assert ctx.shared[PREDICTIONS_KEY].modes.unique().tolist() == [307]
    # p = 1 on mode 307: one mode, KL = log(1000 * 1) = log 1000.
    assert values[STACKED_MODES].value == 1
    assert values[STACKED_KL].value == pytest.approx(math.log(1000), rel=1e-12)
    for value in values.values():
        _check_note(value, classifier, PAPERS_N)


@pytest.mark.e2e
def test_generator_of_ten_triples(stacked: StackedMnist, classifier: Classifier) -> None:
    digits = [_digit(stacked, classifier, d) for d in range(10)]
    # Triple k = (k, k + 3, k + 7) mod 10: modes 37, 148, 259, 360, 471, 582, 693, 704, 815, 926, distinct.
    triples = [(k, (k + 3) % 10, (k + 7) % 10) for k in range(10)]
    images = torch.stack([torch.cat([digits[d] for d in triple]) for triple in triples])
    expected = sorted(100 * a + 10 * b + c for a, b, c in triples)
    assert sorted(predicted_modes(images, classifier).tolist()) == expected  # the precondition
    values, _ = evaluate(images.repeat_interleave(PAPERS_N // 10, dim=0), stacked)
    # p = 1/10 on 10 modes (2,600 samples each): KL = 10 * (1/10) log(1000 / 10) = log 100.
    assert values[STACKED_MODES].value == 10
    assert values[STACKED_KL].value == pytest.approx(math.log(100), rel=1e-12)


@pytest.mark.e2e
def test_oracle_real_stacked_samples(stacked: StackedMnist, classifier: Classifier) -> None:
    images, true_modes = stacked.sample_with_modes(PAPERS_N, torch.Generator().manual_seed(2018))
    values, ctx = evaluate(images, stacked)
    a = classifier.accuracy  # held-out accuracy of one digit, about 0.99
    # A triple is read right when all three digits are: probability a^3 (about 0.97). Each of the 1000
    # modes gets about 26,000 / 1000 = 26 samples (at least ~18 for the rarest triple, 5-5-5, given the
    # test split's digit frequencies), so a mode is missed only when none of its samples is drawn or all
    # are misread: about e^-26 + (1 - a^3)^26, some 1e-11. Misreads only move samples to other modes,
    # which can add modes but never remove one. So the expected count is 1000 (less than 1e-8 missed).
    assert values[STACKED_MODES].value >= 995
    # KL: a histogram of n uniform draws over K bins has E[KL] ~ (K - 1) / (2n) = 999 / 52,000 = 0.019
    # from sampling noise alone; the test split's uneven digit frequencies (892 fives to 1135 ones of
    # 10,000) add 3 * KL(digit frequencies || uniform 10) ~ 0.005, and misreads a little: about 0.025.
    assert values[STACKED_KL].value < 0.05
    assert kl_to_uniform(true_modes) < 0.05  # the same figure without the classifier
    # The read triples agree with the true ones at a rate near a^3. Slightly above it, in fact: the
    # stacked digits are drawn from the whole test split, 80% of which the classifier was trained on.
    agree = float((ctx.shared[PREDICTIONS_KEY].modes == true_modes).double().mean())
    assert agree == pytest.approx(a**3, abs=0.03)
    for value in values.values():
        _check_note(value, classifier, PAPERS_N)


@pytest.mark.e2e
def test_classifier_accuracy_metric(stacked: StackedMnist, classifier: Classifier) -> None:
    images = stacked.reference(10)
    ctx = EvalContext(to_float(images).numpy(), stacked, seed=0, wanted=(CLASSIFIER_ACCURACY,))
    value = METRICS.get(CLASSIFIER_ACCURACY).compute(ctx)
    assert value.value == classifier.accuracy
    assert value.value >= 0.97
    assert PREDICTIONS_KEY not in ctx.shared  # the accuracy alone classifies no samples
    _check_note(value, classifier, 10)


def test_size_32(mnist_env: None) -> None:
    dataset = DATASETS.get("stacked-mnist").build(StackedMnistParams(split="test", size=32))
    assert dataset.sample(4, torch.Generator().manual_seed(0)).shape == (4, 3, 32, 32)


# ------------------------------------------------------------------------------------------ end to end


@pytest.mark.e2e
def test_end_to_end_tiny_run(tmp_path: Path, mnist_env: None) -> None:
    from ganbench.app.run import run

    suite = write_tiny_image_suite(tmp_path, "stacked-mnist", list(METRIC_NAMES), samples=500)
    outcome, _ = run(str(suite), device="cpu", out=tmp_path / "run")
    assert outcome.ran == ["dcgan__stacked-mnist__seed0"]
    record = json.loads((tmp_path / "run/jobs/dcgan__stacked-mnist__seed0.json").read_text(encoding="utf-8"))
    assert record["status"] == "ok", record.get("reason")
    assert set(record["metrics"]) == set(METRIC_NAMES)
    for result in record["metrics"].values():
        assert math.isfinite(result["value"]) and result["counts"] == {"generated": 500}
    assert 1 <= record["metrics"][STACKED_MODES]["value"] <= N_MODES
    assert record["metrics"][CLASSIFIER_ACCURACY]["value"] >= 0.97
