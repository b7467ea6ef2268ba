"""The digit classifier: training on easy synthetic digits, determinism, the cache, and real MNIST."""

from __future__ import annotations

import dataclasses
import gzip
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import SHARED_MNIST

from ganbench.errors import GanbenchError
from ganbench.metrics import classifier
from ganbench.metrics.classifier import (
    FEATURES,
    ClassifierSettings,
    DigitClassifier,
    accuracy,
    get_classifier,
    split_for_training,
    to_input,
    train_classifier,
)

MNIST = SHARED_MNIST
# Enough for the synthetic classes below, in well under a second.
SMALL = ClassifierSettings(epochs=2, batch_size=32, lr=3e-3)
# Top-left corners of each class's blob: ten places on a 4x3 grid, 7 to 9 pixels apart.
CORNERS = [(r, c) for r in (1, 8, 15, 21) for c in (2, 11, 20)][:10]


def synthetic_digits(per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class k: a bright 6x6 blob at CORNERS[k], jittered by up to 1 pixel, on a noisy dark background."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), per_class)
    images = rng.integers(0, 40, size=(len(labels), 1, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        r, c = CORNERS[label] + rng.integers(-1, 2, size=2)
        r, c = int(np.clip(r, 0, 22)), int(np.clip(c, 0, 22))
        images[i, 0, r : r + 6, c : c + 6] = rng.integers(200, 256, size=(6, 6))
    order = rng.permutation(len(labels))
    return torch.from_numpy(images[order]), torch.from_numpy(labels[order]).long()


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    train_x, train_y = synthetic_digits(40, seed=1)
    held_x, held_y = synthetic_digits(10, seed=2)
    return train_x, train_y, held_x, held_y


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> classifier.Classifier:
    cache = tmp_path_factory.mktemp("cache")
    return get_classifier(*data, source="synthetic blobs", settings=SMALL, cache=cache)


def test_network_shapes_and_resizing() -> None:
    model = DigitClassifier().eval()
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    assert model.features(x).shape == (3, FEATURES)
    assert model(x).shape == (3, 10)
    # 32x32 is resized to 28x28 inside; 3 channels are averaged to one.
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 10)
    assert torch.allclose(model.features(x.repeat(1, 3, 1, 1)), model.features(x), atol=1e-6)


def test_to_input_range() -> None:
    x = to_input(torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2))
    assert x.dtype == torch.float32 and x.shape == (1, 1, 1, 2)
    assert x.flatten().tolist() == [-1.0, 1.0]


@pytest.mark.e2e
def test_trains_on_synthetic_digits(data, trained) -> None:
    _, _, held_x, held_y = data
    assert trained.accuracy == 1.0
    assert (trained.train_count, trained.heldout_count) == (400, 100)
    assert trained.source == "synthetic blobs"
    assert not trained.model.training
    predicted = trained.predict(held_x)
    assert predicted.dtype == torch.int64 and torch.equal(predicted, held_y)
    assert accuracy(trained.model, held_x, held_y) == 1.0


def test_features_shapes_channels_and_sizes(data, trained) -> None:
    _, _, held_x, held_y = data
    features = trained.features(held_x)
    assert features.shape == (100, FEATURES) and features.dtype == torch.float32
    assert torch.isfinite(features).all()
    # Grayscale repeated to three channels (as torch-fidelity feeds it) gives the very same features.
    assert torch.equal(trained.features(held_x.repeat(1, 3, 1, 1)), features)
    # More images than one inference batch give the same as batch by batch.
    many = held_x.repeat(6, 1, 1, 1)
    assert torch.equal(trained.features(many)[-100:], features)
    # 32x32 digits (28x28 padded by 2) are resized inside and still recognized.
    padded = F.pad(held_x, (2, 2, 2, 2))
    assert trained.features(padded).shape == (100, FEATURES)
    assert (trained.predict(padded) == held_y).float().mean() >= 0.9
    assert trained.predict(held_x[:0]).shape == (0,)


def test_rejects_wrong_inputs(trained) -> None:
    with pytest.raises(GanbenchError, match="uint8"):
        trained.predict(torch.rand(2, 1, 28, 28))
    with pytest.raises(GanbenchError, match="uint8"):
        trained.predict(torch.zeros(2, 3, 28, 28, dtype=torch.uint8))
    with pytest.raises(GanbenchError, match="labels"):
        train_classifier(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), torch.tensor([0, 10]))
    with pytest.raises(GanbenchError, match="settings"):
        ClassifierSettings(epochs=0)


@pytest.mark.e2e
def test_training_is_deterministic(data) -> None:
    train_x, train_y, _, _ = data
    steps = []
    first = train_classifier(train_x, train_y, SMALL, progress=lambda *step: steps.append(step))
    before = torch.get_rng_state()
    second = train_classifier(train_x, train_y, SMALL)
    # The caller's global RNG is left as it was.
    assert torch.equal(torch.get_rng_state(), before)
    a, b = first.state_dict(), second.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    other = train_classifier(train_x, train_y, ClassifierSettings(**{**SMALL.to_json(), "seed": 1}))
    assert not torch.equal(other.state_dict()["fc2.weight"], a["fc2.weight"])
    # 400 images in batches of 32 are 13 steps an epoch.
    assert len(steps) == 26 and steps[-1] == (26, 26)


def test_split_for_training() -> None:
    images = torch.arange(100, dtype=torch.uint8).view(100, 1, 1, 1)
    labels = torch.arange(100) % 10
    train_x, train_y, held_x, held_y = split_for_training(images, labels)
    assert (len(train_x), len(held_x)) == (80, 20)
    assert set(train_x.flatten().tolist()).isdisjoint(held_x.flatten().tolist())
    assert torch.equal(train_x.flatten().long() % 10, train_y)
    assert torch.equal(held_x.flatten().long() % 10, held_y)
    assert torch.equal(split_for_training(images, labels)[2], held_x)
    assert not torch.equal(split_for_training(images, labels, seed=1)[2], held_x)
    with pytest.raises(GanbenchError):
        split_for_training(images, labels, heldout_fraction=0.0)


def test_cache_loads_without_training(data, tmp_path, monkeypatch) -> None:
    first = get_classifier(*data, source="synthetic blobs", settings=SMALL, cache=tmp_path)
    assert first.path.parent == tmp_path / "classifiers"
    assert first.path.name == f"digits-{first.content_hash[:16]}.pt" and len(first.content_hash) == 64
    sidecar = json.loads(first.path.with_suffix(".json").read_text(encoding="utf-8"))
    assert sidecar["accuracy"] == first.accuracy and sidecar["settings"] == SMALL.to_json()
    assert {"torch_version", "training_seconds", "train_count", "heldout_count", "source"} <= sidecar.keys()

    def refuse(*args, **kwargs):
        raise AssertionError("train_classifier called although the cache holds the classifier")

    monkeypatch.setattr(classifier, "train_classifier", refuse)
    second = get_classifier(*data, source="synthetic blobs", settings=SMALL, cache=tmp_path)
    assert (second.accuracy, second.path, second.source) == (first.accuracy, first.path, first.source)
    assert second.content_hash == first.content_hash
    held_x = data[2]
    assert torch.equal(second.predict(held_x), first.predict(held_x))
    assert torch.equal(second.features(held_x), first.features(held_x))


def test_cache_default_folder(data, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GANBENCH_CACHE_DIR", str(tmp_path))
    found = get_classifier(*data, source="synthetic blobs", settings=SMALL)
    assert found.path.parent == tmp_path / "classifiers" and found.path.exists()


def test_cache_key_follows_data_and_settings(data, tmp_path, monkeypatch) -> None:
    calls = []
    real = classifier.train_classifier
    monkeypatch.setattr(classifier, "train_classifier", lambda *a, **k: calls.append(1) or real(*a, **k))
    base = get_classifier(*data, source="synthetic blobs", settings=SMALL, cache=tmp_path)
    train_x = data[0].clone()
    train_x[0, 0, 0, 0] ^= 1
    changed = get_classifier(train_x, *data[1:], source="synthetic blobs", settings=SMALL, cache=tmp_path)
    reseeded = get_classifier(
        *data, source="synthetic blobs", settings=dataclasses.replace(SMALL, seed=3), cache=tmp_path
    )
    assert len(calls) == 3
    assert len({base.content_hash, changed.content_hash, reseeded.content_hash}) == 3
    assert len(list((tmp_path / "classifiers").glob("digits-*.pt"))) == 3
    assert base.path != changed.path


@pytest.mark.e2e
def test_corrupt_cache_is_retrained_over(data, tmp_path, monkeypatch) -> None:
    first = get_classifier(*data, source="synthetic blobs", settings=SMALL, cache=tmp_path)
    calls = []
    real = classifier.train_classifier
    monkeypatch.setattr(classifier, "train_classifier", lambda *a, **k: calls.append(1) or real(*a, **k))
    weights = first.path.read_bytes()
    first.path.write_bytes(weights[: len(weights) // 2])
    again = get_classifier(*data, source="synthetic blobs", settings=SMALL, cache=tmp_path)
    assert len(calls) == 1 and again.path == first.path and again.accuracy == 1.0
    assert first.path.read_bytes() == weights  # deterministic training wrote the same weights back
    first.path.with_suffix(".json").write_text("{not json", encoding="utf-8")
    get_classifier(*data, source="synthetic blobs", settings=SMALL, cache=tmp_path)
    assert len(calls) == 2
    # Now intact again: loaded, not trained.
    get_classifier(*data, source="synthetic blobs", settings=SMALL, cache=tmp_path)
    assert len(calls) == 2


def _read_idx(path: Path, header: int) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        return np.frombuffer(handle.read(), dtype=np.uint8, offset=header)


@pytest.mark.e2e
def test_real_mnist_test_split(tmp_path) -> None:
    images_path = MNIST / "t10k-images-idx3-ubyte.gz"
    labels_path = MNIST / "t10k-labels-idx1-ubyte.gz"
    if not (images_path.exists() and labels_path.exists()):
        pytest.skip(f"MNIST test split (t10k-*-ubyte.gz) not found in {MNIST}")
    images = torch.from_numpy(_read_idx(images_path, 16).reshape(-1, 1, 28, 28).copy())
    labels = torch.from_numpy(_read_idx(labels_path, 8).astype(np.int64))
    assert images.shape == (10000, 1, 28, 28) and len(labels) == 10000
    parts = split_for_training(images, labels, heldout_fraction=0.2, seed=0)
    started = time.perf_counter()
    found = get_classifier(
        *parts, source="trained on 80% of the mnist test split, accuracy on the other 20%", cache=tmp_path
    )
    seconds = time.perf_counter() - started
    print(f"real MNIST 8000/2000: held-out accuracy {found.accuracy:.4f} in {seconds:.1f} s")
    assert (found.train_count, found.heldout_count) == (8000, 2000)
    assert found.accuracy >= 0.97
    assert found.features(parts[2][:10]).shape == (10, FEATURES)
