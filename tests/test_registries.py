"""Every registered metric and dataset, by name: a newly registered one is covered automatically.

The metric loop checks each declaration (description, direction, unit, tolerances, modality) and, for
2-D point metrics, the declared direction against behaviour: true samples of ring-8 must score better
than a collapsed generator. The dataset loop checks that parameters construct and that point datasets
draw reproducible, well-formed samples around distinct centers.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_fake_mnist

from ganbench.data import DATASETS, Dataset
from ganbench.data.images import CIFAR10_FOLDER
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS, EvalContext, Metric, MetricValue
from ganbench.metrics.critic import CRITIC_GRAD_NORM
from ganbench.metrics.dirac import EQUILIBRIUM_DISTANCE
from ganbench.paths import DATA_ROOT_ENV, data_root

MODALITIES = ("points", "images")
METRIC_KINDS = (*MODALITIES, "measured")

# The oracle: 2,500 samples (the suites' evaluation size) from ring-8 itself, drawn with SAMPLE_SEED.
# The metrics' fresh reference samples come from CONTEXT_SEED, another stream (with the same seed the
# reference would be the samples themselves, and W1 would be exactly 0).
N_ORACLE = 2500
SAMPLE_SEED, CONTEXT_SEED = 0, 1

# A point metric that measures sample quality only, not coverage, cannot tell a collapsed generator
# from a good one: every collapsed sample sits exactly on a center, the best quality there is (the
# high-quality fraction of the collapsed sample is exactly 1, above the oracle's 1 - e^{-4.5} ~= 0.989
# for 3 std in 2-D). Its bad sample is the oracle with every sample's offset from its nearest center
# blown up 10x: within 3 std now means within 0.3 std before, a fraction of 1 - e^{-0.045} ~= 0.044.
# Density (Naeem et al. 2020) is fidelity only, by design: every sample on center 0 scores 1.6 against
# the oracle's 0.99 (the 8 true samples whose 5-NN ball holds center 0 each count all 2,500 samples,
# 8 / 5 = 1.6); on the blurred sample it is 0.041.
QUALITY_ONLY = {"high-quality-fraction", "density"}

# Point datasets that are not 2-D, and those that put all their mass at one point (nothing to draw).
POINT_DIMS = {"dirac": 1}
POINT_MASSES = {"dirac"}

# Hand-known center counts at default parameters: ring-8 has 8 angles 2 pi k / 8, grid-25 is 5 x 5.
CENTER_COUNTS = {"ring-8": 8, "grid-25": 25}

# Image datasets built from the shared MNIST test split when it is there (conftest's `real_mnist`);
# Fashion-MNIST shares MNIST's idx format, so a fake test split stands in for it.
FROM_MNIST = {"mnist", "stacked-mnist"}
# CIFAR-10's python batches are pickles whose md5 torchvision checks, so no fake can stand in, and
# the real ones (163 MB) cannot be downloaded here: the test runs where the data root holds them.
CIFAR10_FILES = "cifar-10-batches-py/ (data_batch_1 to data_batch_5, test_batch, batches.meta)"


def better(metric: Metric, a: float, b: float) -> bool:
    """Whether `a` is strictly better than `b` in the metric's declared direction."""
    return a > b if metric.higher_is_better else a < b


def compare_threshold(metric: Metric, baseline: float) -> float:
    """The smallest change of the mean `ganbench compare` counts as real (base.Metric's rule)."""
    return max(metric.abs_tol, metric.rel_tol * abs(baseline))


# ------------------------------------------------------------------------------------------ metrics


@pytest.mark.parametrize("name", METRICS.names())
def test_metric_declaration(name: str) -> None:
    metric = METRICS.get(name)
    assert metric.name == name
    assert isinstance(metric.description, str) and metric.description.strip()
    assert isinstance(metric.higher_is_better, bool)
    assert isinstance(metric.unit, str)
    assert metric.modality in METRIC_KINDS
    assert callable(metric.compute)
    for tolerance in (metric.rel_tol, metric.abs_tol):
        assert isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0
    assert metric.prepare is None or callable(metric.prepare)
    if metric.modality == "images":
        # Every image metric needs weights, a classifier or real-data statistics; its prepare hook
        # finds them before any training, so that a missing one stops a run at once. Computing them
        # needs those files (and a classifier trained on MNIST), too slow for this loop.
        assert metric.prepare is not None


@pytest.fixture(scope="module")
def ring8() -> Dataset:
    spec = DATASETS.get("ring-8")
    return spec.build(spec.params())


@pytest.fixture(scope="module")
def oracle(ring8: Dataset) -> np.ndarray:
    return ring8.sample(N_ORACLE, torch.Generator().manual_seed(SAMPLE_SEED)).to(torch.float64).numpy()


def collapsed_sample(ring8: Dataset) -> np.ndarray:
    """A generator collapsed on one mode: every sample exactly at the first center."""
    return np.repeat(ring8.centers.numpy()[:1], N_ORACLE, axis=0)


def blurred_sample(ring8: Dataset, oracle: np.ndarray) -> np.ndarray:
    """The oracle with each sample's offset from its nearest center multiplied by 10."""
    centers = ring8.centers.numpy()
    nearest = centers[np.linalg.norm(oracle[:, None, :] - centers[None], axis=2).argmin(axis=1)]
    return nearest + 10 * (oracle - nearest)


def evaluate(metric: Metric, samples: np.ndarray, dataset: Dataset) -> float:
    result = metric.compute(EvalContext(samples, dataset, CONTEXT_SEED))
    assert isinstance(result, MetricValue)
    assert result.exact is True, result.note
    assert isinstance(result.value, float) and math.isfinite(result.value)
    return result.value


# Every metric of samples; the critic's gradient norm and the Dirac-GAN's distance read the trained critic
# instead (their own tests: test_critic_metric.py, test_dirac.py).
READ_CRITIC = (CRITIC_GRAD_NORM, EQUILIBRIUM_DISTANCE)
SAMPLE_METRICS = [n for n in METRICS.names() if METRICS.get(n).modality == "points" and n not in READ_CRITIC]


@pytest.mark.parametrize("name", SAMPLE_METRICS)
def test_point_metric_ranks_true_samples_above_a_collapsed_generator(
    name: str, ring8: Dataset, oracle: np.ndarray
) -> None:
    metric = METRICS.get(name)
    assert oracle.shape == (N_ORACLE, 2) and oracle.dtype == np.float64
    good = evaluate(metric, oracle, ring8)
    # Deterministic: the same samples and seed give the same value.
    assert evaluate(metric, oracle, ring8) == good
    collapsed = evaluate(metric, collapsed_sample(ring8), ring8)
    if name in QUALITY_ONLY:
        if name == "high-quality-fraction":
            assert collapsed == 1.0  # see QUALITY_ONLY: collapse is perfect quality
        bad = evaluate(metric, blurred_sample(ring8, oracle), ring8)
    else:
        bad = collapsed
    direction = "higher" if metric.higher_is_better else "lower"
    assert better(metric, good, bad), f"{name} declares {direction} is better, got oracle {good}, bad {bad}"
    # And by more than the noise tolerance: `ganbench compare` would report the collapse as a change.
    assert abs(good - bad) > compare_threshold(metric, good)


@pytest.mark.parametrize("name", [n for n in METRICS.names() if METRICS.get(n).modality == "measured"])
def test_measured_metric_is_not_computed_from_samples(name: str, ring8: Dataset, oracle: np.ndarray) -> None:
    # Speed and memory are measured by `ganbench throughput` on the networks, never from samples.
    with pytest.raises(GanbenchError, match="ganbench throughput"):
        METRICS.get(name).compute(EvalContext(oracle, ring8, CONTEXT_SEED))


def test_every_metric_kind_is_covered() -> None:
    # The loops above select by modality: each selection must be non-empty, or its test would
    # silently collect nothing.
    kinds = {METRICS.get(name).modality for name in METRICS.names()}
    assert kinds == set(METRIC_KINDS)


# ----------------------------------------------------------------------------------------- datasets


@pytest.mark.parametrize("name", DATASETS.names())
def test_dataset_declaration(name: str) -> None:
    spec = DATASETS.get(name)
    assert spec.name == name
    assert isinstance(spec.description, str) and spec.description.strip()
    assert spec.modality in MODALITIES
    assert callable(spec.build)
    assert dataclasses.is_dataclass(spec.params) and isinstance(spec.params, type)
    params = spec.params()  # every field has a default
    # Frozen: a suite's parameters cannot change under a running job (and they hash, as cache keys). A
    # dataset without parameters (dirac) is frozen all the same: no attribute can be set.
    attribute = next((field.name for field in dataclasses.fields(params)), "any_attribute")
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(params, attribute, getattr(params, attribute, None))
    assert spec.params() == params


def draw(dataset: Dataset, n: int, seed: int) -> torch.Tensor:
    return dataset.sample(n, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", [n for n in DATASETS.names() if DATASETS.get(n).modality == "points"])
def test_point_dataset_draws(name: str) -> None:
    spec = DATASETS.get(name)
    params = spec.params()
    dataset = spec.build(params)
    assert dataset.modality == "points"
    first, again, other = draw(dataset, 1000, 7), draw(dataset, 1000, 7), draw(dataset, 1000, 8)
    assert first.shape == (1000, POINT_DIMS.get(name, 2))
    assert torch.isfinite(first).all()
    if name in POINT_MASSES:  # all mass at one point: every draw is that point, whatever the seed
        assert torch.equal(first, other) and torch.equal(first, first[:1].expand_as(first))
        return
    assert torch.equal(first, again), "the same seed must give the same draws"
    assert not torch.equal(first, other), "another seed must give other draws"
    assert not torch.equal(first[:500], first[500:]), "draws within one stream must differ"

    if not hasattr(dataset, "centers"):
        return
    centers = np.asarray(dataset.centers, np.float64)
    # All centers distinct: no two within 1e-9 of each other.
    gaps = np.linalg.norm(centers[:, None, :] - centers[None], axis=2)
    assert gaps[~np.eye(len(centers), dtype=bool)].min() > 1e-9
    if name in CENTER_COUNTS:
        assert len(centers) == CENTER_COUNTS[name]
    # Each sample is its center plus N(0, std^2 I) noise: |noise| / std is chi with 2 degrees of
    # freedom, above 6 with probability e^{-18} ~= 1.5e-8 per sample, so never among 1,000.
    samples = first.to(torch.float64).numpy()
    distance = np.linalg.norm(samples[:, None, :] - centers[None], axis=2)
    assert distance.min(axis=1).max() < 6 * params.std
    # Modes are picked uniformly: with 1,000 draws over at most 25 modes, a mode is missed with
    # probability below 25 (24/25)^1000 ~= 5e-17.
    assert np.unique(distance.argmin(axis=1)).size == len(centers)


# Solid-color images for the `folder` dataset: 12 x 10 pixels, so they are center-cropped and resized.
FOLDER_COLORS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 0, 0)]


def write_folder(folder: Path) -> Path:
    from PIL import Image

    for i, color in enumerate(FOLDER_COLORS):
        Image.new("RGB", (12, 10), color).save(folder / f"{i}.png")
    return folder


# The folder loader decodes with torchvision.io, which warns of its own deprecation (as in test_images.py).
@pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")
@pytest.mark.parametrize("name", [n for n in DATASETS.names() if DATASETS.get(n).modality == "images"])
def test_image_dataset_draws(
    name: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = DATASETS.get(name)
    params = spec.params()
    if name == "fashion-mnist":
        monkeypatch.setenv(DATA_ROOT_ENV, str(write_fake_mnist(tmp_path)))
        dataset = spec.build(dataclasses.replace(params, split="test", download=False))
        shape = (1, 28, 28)
    elif name == "cifar10":
        root = data_root()
        if not (root / CIFAR10_FOLDER / "test_batch").is_file():
            pytest.skip(f"dataset 'cifar10' needs {CIFAR10_FILES} in {root} (set {DATA_ROOT_ENV})")
        dataset = spec.build(dataclasses.replace(params, split="test", download=False))
        shape = (3, 32, 32)
    elif name in FROM_MNIST:
        # The shared MNIST test split as the data root; skips without it.
        request.getfixturevalue("real_mnist")
        dataset = spec.build(dataclasses.replace(params, split="test", download=False))
        shape = (3 if name == "stacked-mnist" else 1, 28, 28)
    elif name == "folder":
        dataset = spec.build(dataclasses.replace(params, path=str(write_folder(tmp_path)), size=8))
        shape = (3, 8, 8)
    else:
        pytest.fail(f"image dataset '{name}' has no case here: give it data to draw from")
    assert dataset.modality == "images"
    first, again, other = draw(dataset, 16, 7), draw(dataset, 16, 7), draw(dataset, 16, 8)
    assert first.shape == (16, *shape)
    assert first.dtype == torch.float32
    assert torch.isfinite(first).all()
    assert first.min() >= -1 and first.max() <= 1
    assert torch.equal(first, again), "the same seed must give the same draws"
    assert not torch.equal(first, other), "another seed must give other draws"
    if name == "folder":
        # A solid color stays solid through cropping and resizing: pixel c in 0..255 -> c / 127.5 - 1,
        # so 255 -> 1 and 0 -> -1, and every draw is one of the four files.
        expected = {tuple(c / 127.5 - 1 for c in color) for color in FOLDER_COLORS}
        for image in first:
            per_channel = image.flatten(1)
            assert (per_channel == per_channel[:, :1]).all(), "a solid image must stay solid"
            assert tuple(per_channel[:, 0].tolist()) in expected
