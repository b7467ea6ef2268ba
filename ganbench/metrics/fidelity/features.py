"""The feature service: image features extracted once per (dataset, extractor, samples), for every metric.

Each image metric (FID, KID, precision/recall, IS, density/coverage, FID at infinity) reads the features
of the generated and the reference images in one feature space. Within an evaluation they are
extracted once, by torch-fidelity's own feature extraction (`get_featuresdict_from_dataset`) with
every layer the space's metrics read in one pass, and kept in the evaluation's `shared` under a typed
`FeatureKey`; the reference's features are also cached on disk (`ganbench.metrics.fidelity.cache`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ganbench.data.base import IMAGE_SOURCE
from ganbench.data.images import to_uint8
from ganbench.errors import GanbenchError
from ganbench.metrics.base import EvalContext, MetricValue, needed, register_metric
from ganbench.metrics.fidelity import cache
from ganbench.metrics.fidelity.extractors import EXTRACTORS, Extractor, Say, network, resolve

# torch-fidelity's default batch size, for GPUs; each extractor declares its CPU batch size
# (tests/test_bench_fidelity.py measures the Inception network's). Results do not depend on it.
BATCH_SIZE = 64


@dataclass(frozen=True)
class FeatureKey:
    """What one extraction covers: a dataset (with its parameters), a feature network, which images of
    the evaluation ("generated" or "reference") and how many."""

    dataset: str
    extractor: str
    samples: str
    count: int


@dataclass(frozen=True)
class ScoreKey:
    """Scores computed together from one feature pair (precision with recall, density with coverage),
    kept in an evaluation's `shared` for the metric that reads the other one."""

    family: str
    extractor: str


@dataclass(frozen=True)
class Extraction:
    """Features by layer (float (n, d) tensors on the CPU), whether they came from the cache, and the
    seconds extracting them took."""

    layers: dict[str, torch.Tensor]
    cached: bool
    seconds: float


@dataclass(frozen=True)
class FeaturePair:
    """The generated and the reference images' extractions in one feature space."""

    extractor: Extractor
    generated: Extraction
    reference: Extraction

    def layer(self, family: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(generated, reference) features of the layer that `family` ("fid", "kid", ...) reads."""
        layer = self.extractor.layers[family]
        return self.generated.layers[layer], self.reference.layers[layer]

    @property
    def note(self) -> str:
        """Where the reference features came from and which weights made them, for the record."""
        origin = "reference features from cache" if self.reference.cached else "reference features computed"
        return "; ".join(filter(None, [origin, self.extractor.identity()]))

    @property
    def details(self) -> dict[str, str]:
        """The feature network by name and weights, stored beside every value it made."""
        return {"extractor": self.extractor.name, "weights": self.extractor.identity()}


class UInt8Images(torch.utils.data.Dataset):
    """In-memory uint8 images (N, C, H, W) served as 3xHxW tensors, the form torch-fidelity reads."""

    def __init__(self, images: torch.Tensor) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
            raise GanbenchError(
                f"images must be uint8 (N, 1 or 3, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.images[index]
        return image.expand(3, -1, -1) if image.shape[0] == 1 else image


def extract(
    images: torch.Tensor,
    extractor: Extractor,
    device: torch.device | None = None,
    batch_size: int | None = None,
) -> dict[str, torch.Tensor]:
    """Every layer `extractor`'s metrics read, of uint8 images (N, 1 or 3, H, W), in one pass; by
    default in batches of BATCH_SIZE on a GPU and of the extractor's own size on a CPU."""
    from torch_fidelity.utils import get_featuresdict_from_dataset

    layers = sorted(set(extractor.layers.values()))
    model = network(extractor, layers, device)
    cuda = device is not None and device.type == "cuda"
    if batch_size is None:
        batch_size = BATCH_SIZE if cuda else extractor.cpu_batch_size
    # save_cpu_ram: the images are in memory, so DataLoader workers would only add start-up time.
    return get_featuresdict_from_dataset(UInt8Images(images), model, batch_size, cuda, True, False)


def reference_features(
    reference: torch.Tensor, dataset_id: str, extractor: Extractor, device: torch.device | None = None
) -> Extraction:
    """The reference images' features: from the cache when an entry for exactly these images, extractor
    and weights is there, else extracted and cached."""
    name = cache.cache_name(dataset_id, reference, extractor, extractor.weights(None))
    layers = set(extractor.layers.values())
    started = time.perf_counter()
    found = cache.load(name, layers, len(reference))
    if found is not None:
        return Extraction(found, True, time.perf_counter() - started)
    features = extract(reference, extractor, device)
    seconds = time.perf_counter() - started
    cache.store(name, features)
    return Extraction(features, False, seconds)


def shared_features(ctx: EvalContext, space: str) -> FeaturePair:
    """The generated samples' and the reference's features in `space` ("inception", "lenet", ...), extracted
    once per evaluation: every metric of this feature space reads the same ones."""
    extractor = resolve(space)
    n = len(ctx.samples)
    keys = [
        FeatureKey(ctx.dataset_id, extractor.name, role, count)
        for role, count in (("generated", n), ("reference", ctx.reference_count))
    ]
    if keys[0] not in ctx.shared:
        started = time.perf_counter()
        layers = extract(to_uint8(torch.from_numpy(ctx.samples)), extractor, ctx.device)
        ctx.shared[keys[0]] = Extraction(layers, False, time.perf_counter() - started)
    if keys[1] not in ctx.shared:
        source = needed(ctx, IMAGE_SOURCE, f"the {extractor.name} feature metrics")
        reference = torch.as_tensor(source.reference(ctx.reference_count))
        ctx.shared[keys[1]] = reference_features(reference, ctx.dataset_id, extractor, ctx.device)
    return FeaturePair(extractor, ctx.shared[keys[0]], ctx.shared[keys[1]])


@dataclass(frozen=True)
class Features:
    """One feature space's (fid layer) features of two image sets, whether the second's came from the
    cache, and the seconds both extractions took."""

    generated: torch.Tensor
    reference: torch.Tensor
    cached: bool
    seconds: float


def fidelity_features(
    generated: torch.Tensor,
    reference: torch.Tensor,
    dataset_id: str,
    extractor: str,
    device: torch.device | None = None,
) -> Features:
    """The FID-layer features of `generated` and `reference` (uint8 (N, 1 or 3, H, W)) by the extractor
    named `extractor` (a key of EXTRACTORS), the reference's through the cache."""
    network_ = EXTRACTORS[extractor]
    started = time.perf_counter()
    generated_layers = extract(generated, network_, device)
    reference_extraction = reference_features(reference, dataset_id, network_, device)
    layer = network_.layers["fid"]
    return Features(
        generated_layers[layer],
        reference_extraction.layers[layer],
        reference_extraction.cached,
        time.perf_counter() - started,
    )


def prepare(space: str) -> Callable[[Say], None]:
    """A metric's `prepare`: find and check the feature network's weights before any training, so a
    missing or bad file stops a run at once with one line."""

    def run(say: Say) -> None:
        extractor = resolve(space)
        extractor.check(extractor.weights(say))

    return run


def shared_scores(ctx: EvalContext, family: str, pair: FeaturePair, compute: Callable[[], Any]) -> Any:
    """`compute()` once per evaluation, family and feature network; later calls read it back."""
    key = ScoreKey(family, pair.extractor.name)
    if key not in ctx.shared:
        ctx.shared[key] = compute()
    return ctx.shared[key]


def metric_value(
    pair: FeaturePair, ctx: EvalContext, score: float, note: str = "", details: dict[str, Any] | None = None
) -> MetricValue:
    """A feature metric's MetricValue: the score with its sample counts, the feature network and the
    reference's origin in the note, and the network's name and weights in the details."""
    return MetricValue(
        score,
        note="; ".join(filter(None, [note, pair.note])),
        counts={"generated": len(ctx.samples), "reference": ctx.reference_count},
        details={**pair.details, **(details or {})},
    )


def register_feature_metric(
    name: str,
    description: str,
    space: str,
    *,
    higher_is_better: bool,
    display_name: str,
    domain: tuple[float | None, float | None] = (None, None),
    min_samples: int = 2,
) -> Callable[[Callable[[EvalContext], MetricValue]], Callable[[EvalContext], MetricValue]]:
    """Register an image metric computed in feature space `space`, its weights checked before training.

    Noise tolerance of `compare`: FID and KID vary by a few percent between seeds of the same model
    (Lucic et al. 2018 report seed spreads of this size), IS and precision/recall by less: 5%.
    """
    return register_metric(
        name,
        description,
        higher_is_better=higher_is_better,
        unit="",
        modality="images",
        rel_tol=0.05,
        prepare=prepare(space),
        min_samples=min_samples,
        display_name=display_name,
        domain=domain,
        needs=(IMAGE_SOURCE,),  # the real images whose features are the reference
    )
