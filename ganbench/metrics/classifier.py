"""A small MNIST digit classifier that ganbench trains itself offline, cached by the content of its data."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import pickle
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganbench import paths
from ganbench.data.images import to_float
from ganbench.errors import GanbenchError
from ganbench.files import write_atomic

# Part of every cache key: bump it whenever DigitClassifier, to_input or the training loop change, so that
# weights trained for an older network are never loaded into a newer one.
ARCHITECTURE_VERSION = 1
FEATURES = 128
CLASSES = 10
SIDE = 28
CACHE_SUBDIR = "classifiers"
# Inference batch: large enough to amortize per-call overhead, small enough for modest memory.
EVAL_BATCH = 500

ImageArray = torch.Tensor | np.ndarray
Progress = Callable[[int, int], None]


class DigitClassifier(nn.Module):
    """A LeNet-style CNN (LeNet-5, LeCun et al. 1998) for 1x28x28 digits scaled to [-1, 1].

    Two conv(5x5)-ReLU-maxpool(2) stages, as in LeNet-5, but wider (32 and 64 maps, padded so that 28
    pixels become 7 after two poolings), ReLU instead of tanh, and max instead of average pooling: a
    common modern variant that trains to about 99% on MNIST in a few CPU epochs. `features` are the 128
    pre-activations of the penultimate layer, the space in which ganbench measures FID/KID/precision-
    recall on digits. Before the ReLU, not after: after it, images far from any digit (noise, blank
    images) map close to the origin, inside the real digits' k-NN balls (uniform noise measured
    0.9995 precise). Even before it, k-NN precision (k = 3) stays permissive for images that are no
    digit: uniform noise measured 0.15 on one machine and 0.81 on another, a blank image 1.0, as the
    classifier's training differs with the CPU's kernels. FID (about 4,200 for noise against 34 for
    real digits) and recall (0 against 0.9) are the robust signals; tests assert those.
    """

    def __init__(self, dropout: float = 0.3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5, padding=2)
        self.fc1 = nn.Linear(64 * 7 * 7, FEATURES)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(FEATURES, CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate pre-activations (B, 128) of float images (B, C, H, W) in [-1, 1].

        Several channels are averaged to one (grayscale repeated to RGB gives the digit back). Another
        side than 28 is resized to 28x28 with antialiased bilinear interpolation, so 32x32 digits (padded
        MNIST, DCGAN's 32-pixel generators) can be scored too.
        """
        if x.shape[1] != 1:
            x = x.mean(dim=1, keepdim=True)
        if tuple(x.shape[-2:]) != (SIDE, SIDE):
            x = F.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False, antialias=True)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc1(x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, 10); dropout acts in training mode only."""
        return self.fc2(self.dropout(F.relu(self.features(x))))


@dataclass(frozen=True)
class ClassifierSettings:
    """How the classifier is trained. Part of the cache key: changing any field trains anew."""

    seed: int = 0
    # Measured: 5 epochs over 8,000 digits of the MNIST test split take about 24 s on 2 CPU cores and reach
    # 98.95% on the 2,000 held out; the 60,000 of the train split would take about 3.5 minutes, once.
    epochs: int = 5
    batch_size: int = 64
    # Peak Adam learning rate of a one-cycle schedule (warm-up, then annealing to near zero).
    lr: float = 2e-3
    # Each training image is shifted by up to this many pixels in x and y (independently per image):
    # a cheap augmentation that helps with few training images and with off-center generated digits.
    max_shift: int = 2

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.max_shift < 0 or not self.lr > 0:
            raise GanbenchError(f"invalid classifier settings: {self}")

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict (for the cache key and the sidecar)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Classifier:
    """A trained digit classifier (in eval mode) with where it came from and how good it is."""

    model: DigitClassifier
    accuracy: float
    train_count: int
    heldout_count: int
    source: str
    content_hash: str
    path: Path

    def predict(self, images: ImageArray) -> torch.Tensor:
        """Predicted digits, int64 (N,), of uint8 images (N, 1, H, W)."""
        return _batched(self.model, self.model.forward, _check_images(images, channels=1)).argmax(dim=1)

    def features(self, images: ImageArray) -> torch.Tensor:
        """Penultimate features, float32 (N, 128), of uint8 images (N, C, H, W); channels are averaged."""
        return _batched(self.model, self.model.features, _check_images(images))


def to_input(images: ImageArray) -> torch.Tensor:
    """uint8 images (N, C, H, W) as the network's float32 input in [-1, 1], as the datasets give it."""
    return to_float(torch.as_tensor(images))


def _check_images(images: ImageArray, channels: int | None = None) -> torch.Tensor:
    images = torch.as_tensor(images)
    if (
        images.dtype != torch.uint8
        or images.ndim != 4
        or (channels is not None and images.shape[1] != channels)
    ):
        want = f"(N, {channels}, H, W)" if channels is not None else "(N, C, H, W)"
        raise GanbenchError(
            f"digit classifier expects uint8 images {want}, got {images.dtype} {tuple(images.shape)}"
        )
    return images


def _check_labels(labels: ImageArray, count: int) -> torch.Tensor:
    labels = torch.as_tensor(labels)
    if (
        labels.ndim != 1
        or len(labels) != count
        or labels.dtype.is_floating_point
        or labels.dtype == torch.bool
    ):
        raise GanbenchError(f"expected {count} integer labels, got {labels.dtype} {tuple(labels.shape)}")
    labels = labels.long()
    if count and (labels.min() < 0 or labels.max() >= CLASSES):
        raise GanbenchError(f"digit labels must lie in 0..{CLASSES - 1}")
    return labels


@torch.no_grad()
def _batched(
    model: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor
) -> torch.Tensor:
    """`fn` (a method of `model`) over uint8 images in batches on the model's device; results on the CPU."""
    device = next(model.parameters()).device
    outputs = []
    # An empty input still runs one (empty) batch, so the result has the right trailing shape.
    for start in range(0, max(len(images), 1), EVAL_BATCH):
        batch = images[start : start + EVAL_BATCH].to(device)
        if batch.shape[1] != 1:
            # Average in pixel units before scaling: the mean of equal integers is exact, so a digit repeated
            # to three channels gives bit-identical features to the one-channel digit.
            batch = batch.float().mean(dim=1, keepdim=True)
        outputs.append(fn(to_input(batch)).cpu())
    return torch.cat(outputs)


def _shift(batch: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image of a float batch (B, 1, H, W) by its own random offset, filling with -1."""
    if max_shift == 0:
        return batch
    size, _, height, width = batch.shape
    padded = F.pad(batch, (max_shift,) * 4, value=-1.0)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, size), generator=generator)
    rows = offsets[0][:, None] + torch.arange(height)
    cols = offsets[1][:, None] + torch.arange(width)
    return padded[torch.arange(size)[:, None, None], 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def train_classifier(
    train_images: ImageArray,
    train_labels: ImageArray,
    settings: ClassifierSettings = ClassifierSettings(),  # noqa: B008 (frozen, so a shared default is safe)
    progress: Progress | None = None,
) -> DigitClassifier:
    """Train a DigitClassifier on uint8 images (N, 1, 28, 28) and int64 labels; returned in eval mode.

    Deterministic for a given seed on a given machine: the initialization and dropout draw from a forked
    global RNG seeded with `seed` (the caller's RNG state is left alone), shuffling and shifts from an own
    generator. `progress(done, total)` is called after every optimizer step.
    """
    images = _check_images(train_images, channels=1)
    labels = _check_labels(train_labels, len(images))
    if len(images) == 0:
        raise GanbenchError("no training images for the digit classifier")
    generator = torch.Generator().manual_seed(settings.seed)
    steps_per_epoch = -(-len(images) // settings.batch_size)
    total = settings.epochs * steps_per_epoch
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = DigitClassifier()
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
        # One-cycle: the warm-up tolerates the high peak rate, the annealing settles a few epochs well.
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, total_steps=total)
        done = 0
        for _ in range(settings.epochs):
            order = torch.randperm(len(images), generator=generator)
            for start in range(0, len(images), settings.batch_size):
                index = order[start : start + settings.batch_size]
                batch = _shift(to_input(images[index]), settings.max_shift, generator)
                loss = F.cross_entropy(model(batch), labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                done += 1
                if progress is not None:
                    progress(done, total)
    return model.eval()


def accuracy(model: DigitClassifier, images: ImageArray, labels: ImageArray) -> float:
    """Fraction of uint8 images (N, 1, H, W) that `model` labels correctly (evaluated in eval mode)."""
    images = _check_images(images, channels=1)
    labels = _check_labels(labels, len(images))
    if len(images) == 0:
        raise GanbenchError("no images to measure the digit classifier's accuracy on")
    was_training = model.training
    model.eval()
    try:
        predicted = _batched(model, model.forward, images).argmax(dim=1)
    finally:
        model.train(was_training)
    return float((predicted == labels).double().mean())


def split_for_training(
    images: ImageArray, labels: ImageArray, heldout_fraction: float = 0.2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A seeded random split into (train images, train labels, held-out images, held-out labels).

    For when only one MNIST split is at hand (say the 10,000-image test set): train on 80% of it and
    report accuracy on the other 20%, which the classifier never saw.
    """
    images = torch.as_tensor(images)
    labels = torch.as_tensor(labels)
    if len(images) != len(labels):
        raise GanbenchError(f"{len(images)} images but {len(labels)} labels")
    heldout = round(len(images) * heldout_fraction)
    if not 0 < heldout < len(images):
        raise GanbenchError(
            f"cannot hold out {heldout_fraction} of {len(images)} images and keep some of each part"
        )
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    train, held = order[heldout:], order[:heldout]
    return images[train], labels[train], images[held], labels[held]


def content_hash(
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    heldout_images: torch.Tensor,
    heldout_labels: torch.Tensor,
    settings: ClassifierSettings,
) -> str:
    """sha256 (hex) of the data's bytes and shapes, the settings and ARCHITECTURE_VERSION: the cache key."""
    digest = hashlib.sha256()
    header = {"architecture": ARCHITECTURE_VERSION, "settings": settings.to_json()}
    digest.update(json.dumps(header, sort_keys=True).encode("utf-8"))
    for tensor in (train_images, train_labels, heldout_images, heldout_labels):
        array = np.ascontiguousarray(tensor.numpy())
        digest.update(f"|{array.dtype.str}{array.shape}|".encode())
        digest.update(array.data)
    return digest.hexdigest()


def get_classifier(
    train_images: ImageArray,
    train_labels: ImageArray,
    heldout_images: ImageArray,
    heldout_labels: ImageArray,
    source: str,
    settings: ClassifierSettings = ClassifierSettings(),  # noqa: B008 (frozen, so a shared default is safe)
    cache: Path | None = None,
    progress: Progress | None = None,
) -> Classifier:
    """The classifier for this data and these settings: from the cache if there, else trained and cached.

    Files: `<cache or paths.cache_dir()>/classifiers/digits-<hash[:16]>.pt` (a state_dict) and a `.json`
    sidecar written after it, so the sidecar's presence means the weights are complete. An unreadable or
    inconsistent cache entry is trained over; a cache that cannot be written only warns.
    """
    train_images = _check_images(train_images, channels=1)
    train_labels = _check_labels(train_labels, len(train_images))
    heldout_images = _check_images(heldout_images, channels=1)
    heldout_labels = _check_labels(heldout_labels, len(heldout_images))
    key = content_hash(train_images, train_labels, heldout_images, heldout_labels, settings)
    folder = (Path(cache) if cache is not None else paths.cache_dir()) / CACHE_SUBDIR
    weights_path = folder / f"digits-{key[:16]}.pt"
    sidecar_path = weights_path.with_suffix(".json")

    cached = _load(weights_path, sidecar_path, key)
    if cached is not None:
        return cached

    started = time.perf_counter()
    model = train_classifier(train_images, train_labels, settings, progress)
    seconds = time.perf_counter() - started
    held_accuracy = accuracy(model, heldout_images, heldout_labels)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    weights = buffer.getvalue()
    meta = {
        "content_hash": key,
        "architecture_version": ARCHITECTURE_VERSION,
        "accuracy": held_accuracy,
        "train_count": len(train_images),
        "heldout_count": len(heldout_images),
        "source": source,
        "settings": settings.to_json(),
        "torch_version": torch.__version__,
        "training_seconds": round(seconds, 3),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    try:
        write_atomic(weights_path, weights)
        write_atomic(sidecar_path, json.dumps(meta, indent=1).encode("utf-8"))
    except OSError as err:
        warnings.warn(f"could not cache the digit classifier in {folder}: {err}", stacklevel=2)
    return Classifier(
        model=model,
        accuracy=held_accuracy,
        train_count=len(train_images),
        heldout_count=len(heldout_images),
        source=source,
        content_hash=key,
        path=weights_path,
    )


def _load(weights_path: Path, sidecar_path: Path, key: str) -> Classifier | None:
    """The cached classifier, or None when absent, unreadable or not made for `key`."""
    if not sidecar_path.exists():
        return None
    try:
        meta = json.loads(sidecar_path.read_text(encoding="utf-8"))
        weights = weights_path.read_bytes()
        # The sidecar records the weights' digest: a truncated or overwritten file is caught before loading.
        if meta["content_hash"] != key or meta["weights_sha256"] != hashlib.sha256(weights).hexdigest():
            return None
        model = DigitClassifier()
        model.load_state_dict(torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True))
        return Classifier(
            model=model.eval(),
            accuracy=float(meta["accuracy"]),
            train_count=int(meta["train_count"]),
            heldout_count=int(meta["heldout_count"]),
            source=str(meta["source"]),
            content_hash=key,
            path=weights_path,
        )
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, EOFError, pickle.UnpicklingError):
        return None


@functools.cache
def _mnist_classifier(root: Path, cache: Path, say: Callable[[str], None] | None) -> Classifier:
    from ganbench.data.images import load_mnist, mnist_available

    if mnist_available("train", root) and mnist_available("test", root):
        train, test = load_mnist("train", root), load_mnist("test", root)
        source = f"trained on the mnist train split ({len(train)}), accuracy on the test split ({len(test)})"
        data = (train.images, train.labels, test.images, test.labels)
    else:
        test = load_mnist("test", root)  # downloads when allowed, else one line says what is missing
        data = split_for_training(test.images, test.labels)
        source = (
            f"trained on {len(data[0])} images of the mnist test split (no train split under {root}), "
            f"accuracy on the other {len(data[2])}"
        )
    return get_classifier(
        *data, source, cache=cache, progress=_announce(say, f"training the digit classifier: {source}")
    )


def _announce(say: Callable[[str], None] | None, message: str) -> Progress | None:
    """A training progress callback that says `message` once, when training really starts (not on a
    cache hit)."""
    if say is None:
        return None
    said: list[bool] = []

    def progress(done: int, total: int) -> None:
        if not said:
            said.append(True)
            say(f"{message} (once; cached afterwards)")

    return progress


def mnist_classifier(say: Callable[[str], None] | None = None) -> Classifier:
    """The digit classifier for this data root: trained on the MNIST train split when it is there
    (accuracy on the test split), else on 80% of the test split (accuracy on the other 20%).

    Trained once (`say` hears about it when it starts), then loaded from the cache, which is keyed by
    the content of its data and settings.
    """
    return _mnist_classifier(paths.data_root(), paths.cache_dir(), say)
