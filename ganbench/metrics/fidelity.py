"""Image quality through torch-fidelity (FID, IS, KID, precision/recall): the only module importing it.

Generated images go to `torch_fidelity.calculate_metrics` in memory as uint8 3xHxW tensors (no PNG
round trip; grayscale repeated to three channels, as torch-fidelity expects). Two feature spaces:
- Inception-v3 (torch-fidelity's `inception-v3-compat`, the TF-FID network): metrics `fid`, `isc`,
  `kid`, `precision`, `recall`. Its weights come from `--inception-weights` / GANBENCH_INCEPTION_WEIGHTS,
  else torch hub's cache, else a download; offline without the file, one line says what is missing.
- ganbench's own MNIST digit classifier (`ganbench.metrics.classifier`), registered with torch-fidelity's
  `register_feature_extractor` as `ganbench-lenet`: metrics `fid-lenet`, `kid-lenet`,
  `precision-lenet`, `recall-lenet`, fast on CPU, and never to be confused with Inception FID.

Real-data features and FID statistics are cached by torch-fidelity under a name that covers the
dataset with its parameters, the reference count and content, the extractor and its weights' hash.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganbench import paths
from ganbench.data.images import to_uint8
from ganbench.errors import GanbenchError
from ganbench.metrics.base import EvalContext, MetricValue, register_metric

# torch-fidelity's metric families; each registered ganbench metric reads one key of its result.
FID, ISC, KID, PRC = "fid", "isc", "kid", "prc"
INCEPTION = "inception-v3-compat"
LENET = "ganbench-lenet"

# Result keys of torch-fidelity (its KEY_METRIC_* constants, repeated here so that `ganbench list`
# does not import it; tests/test_fidelity.py checks that they match).
KEY_FID = "frechet_inception_distance"
KEY_ISC_MEAN = "inception_score_mean"
KEY_KID_MEAN = "kernel_inception_distance_mean"
KEY_PRECISION = "precision"
KEY_RECALL = "recall"

# torch-fidelity's KID default: subsets of 1,000 samples (Binkowski et al. 2018); smaller runs use
# every sample in each subset, as the estimate needs subset size <= n.
KID_SUBSET_SIZE = 1000

Say = Callable[[str], None]  # prints one line to the user


@dataclass(frozen=True)
class Extractor:
    """A feature space: torch-fidelity's name for it, how to find its weights file, and a line that
    identifies those weights in every record."""

    name: str  # torch-fidelity registry name
    label: str  # short name in cache keys
    # The weights file; the optional argument hears about slow work (a download, a training).
    weights: Callable[[Say | None], Path]
    identity: Callable[[], str] = lambda: ""


def _file_sha256(path: Path) -> str:
    return _sha256_cached(str(path.resolve()), path.stat().st_mtime_ns, path.stat().st_size)


@functools.lru_cache(maxsize=16)
def _sha256_cached(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inception_weights(say: Say | None = None) -> Path:
    """The Inception-v3 weights file: the configured one, else torch hub's copy, else downloaded there.

    Raises GanbenchError (one line) when the configured file is missing, or when there is none and
    the download fails (no network), naming the file, where it was looked for and how to provide it.
    """
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    configured = paths.inception_weights()
    if configured is not None:
        if not configured.is_file():
            raise GanbenchError(
                f"Inception weights file not found: {configured} "
                f"(from --inception-weights or ${paths.INCEPTION_WEIGHTS_ENV})"
            )
        return configured
    filename = URL_INCEPTION_V3.rsplit("/", 1)[1]
    hub_copy = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if hub_copy.is_file():
        return hub_copy
    if say is not None:
        say(f"downloading the Inception weights to {hub_copy} (once)")
    try:
        hub_copy.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(URL_INCEPTION_V3, str(hub_copy), progress=False)
    except Exception as err:  # noqa: BLE001 - any download failure gets the same advice
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise GanbenchError(
            f"Inception weights missing: {filename} is not in {hub_copy.parent} and downloading it failed "
            f"({reason}); fetch {URL_INCEPTION_V3} on a machine with network and pass "
            f"--inception-weights PATH (or set ${paths.INCEPTION_WEIGHTS_ENV})"
        ) from None
    return hub_copy


def lenet_weights(say: Say | None = None) -> Path:
    """The digit classifier's weights file, trained on the available MNIST split on first use."""
    from ganbench.metrics.classifier import mnist_classifier

    return mnist_classifier(say).path


def inception_identity() -> str:
    return f"Inception weights sha256 {_file_sha256(inception_weights())[:12]}"


def lenet_identity() -> str:
    from ganbench.metrics.classifier import mnist_classifier

    classifier = mnist_classifier()
    return (
        f"digit classifier {classifier.content_hash[:12]}, held-out accuracy {classifier.accuracy:.4f} "
        f"({classifier.source})"
    )


EXTRACTORS = {
    INCEPTION: Extractor(INCEPTION, "inception", inception_weights, inception_identity),
    # "fc1": the classifier's pre-activation features; a new feature layer needs a new label here,
    # as cached statistics are keyed by the label and the weights' hash only.
    LENET: Extractor(LENET, "lenet-fc1", lenet_weights, lenet_identity),
}


@functools.cache
def _torch_fidelity() -> Any:
    """Import torch-fidelity once, registering ganbench's digit-classifier feature extractor with it."""
    import torch_fidelity
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase

    class LeNetFeatures(FeatureExtractorBase):
        """ganbench's MNIST classifier as a torch-fidelity feature extractor (uint8 Bx3xHxW input)."""

        def __init__(
            self,
            name: str,
            features_list: list[str],
            feature_extractor_weights_path: str | None = None,
            **_: Any,
        ) -> None:
            from ganbench.metrics.classifier import DigitClassifier

            super().__init__(name, features_list)
            if feature_extractor_weights_path is None:
                raise GanbenchError(f"{LENET}: no weights file given")
            self.model = DigitClassifier()
            self.model.load_state_dict(torch.load(feature_extractor_weights_path, weights_only=True))
            self.model.eval()

        @staticmethod
        def get_provided_features_list() -> tuple[str, ...]:
            return ("features",)

        @staticmethod
        def get_default_feature_layer_for_metric(metric: str) -> str:
            return "features"

        @staticmethod
        def can_be_compiled() -> bool:
            return False

        @staticmethod
        def get_dummy_input_for_compile() -> torch.Tensor:
            return torch.zeros(1, 3, 28, 28, dtype=torch.uint8)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            from ganbench.metrics.classifier import to_input

            # torch-fidelity repeats grayscale to 3 channels; the classifier averages them back.
            return (self.model.features(to_input(x)).to(torch.float64),)

    torch_fidelity.register_feature_extractor(LENET, LeNetFeatures)
    return torch_fidelity


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


def cache_name(dataset_id: str, reference: torch.Tensor, extractor: str, weights: Path) -> str:
    """The cache key of real-data statistics: dataset with parameters, count, content, extractor, weights."""
    content = hashlib.sha256(reference.numpy().tobytes()).hexdigest()[:12]
    label = re.sub(r"[^A-Za-z0-9.=_-]+", "_", dataset_id)[:80]
    return (
        f"ganbench-{label}-n{reference.shape[0]}-data{content}-"
        f"{EXTRACTORS[extractor].label}-w{_file_sha256(weights)[:12]}"
    )


def cache_root() -> Path:
    """Where torch-fidelity keeps ganbench's cached real-data features and statistics."""
    return paths.cache_dir() / "fidelity"


@dataclass(frozen=True)
class FidelityResult:
    """torch-fidelity's raw result keys, whether the reference came from the cache, and the seconds."""

    scores: dict[str, float]
    cached: bool
    seconds: float


def fidelity_scores(
    generated: torch.Tensor,
    reference: torch.Tensor,
    dataset_id: str,
    extractor: str,
    families: set[str],
    device: torch.device | None = None,
    seed: int = 0,
) -> FidelityResult:
    """One `torch_fidelity.calculate_metrics` call for the `families` (fid, isc, kid, prc) asked for.

    `generated` and `reference` are uint8 (N, 1 or 3, H, W). The reference's features (and FID
    statistics) are cached under `cache_name`, so the next call against it reads them back.
    """
    torch_fidelity = _torch_fidelity()
    weights = EXTRACTORS[extractor].weights()
    name = cache_name(dataset_id, reference, extractor, weights)
    cached = any(cache_root().glob(f"{name}-*.pt"))
    n = min(len(generated), len(reference))
    started = time.perf_counter()
    scores = torch_fidelity.calculate_metrics(
        input1=UInt8Images(generated),
        input2=UInt8Images(reference),
        input2_cache_name=name,
        cache_root=str(cache_root()),
        cuda=device is not None and device.type == "cuda",
        feature_extractor=extractor,
        feature_extractor_weights_path=str(weights),
        fid=FID in families,
        isc=ISC in families,
        kid=KID in families,
        prc=PRC in families,
        kid_subset_size=min(KID_SUBSET_SIZE, n),
        rng_seed=seed,
        save_cpu_ram=True,  # in-memory tensors: DataLoader worker processes would only add start-up time
        verbose=False,
    )
    return FidelityResult({k: float(v) for k, v in scores.items()}, cached, time.perf_counter() - started)


@dataclass(frozen=True)
class _Spec:
    name: str
    family: str
    key: str
    extractor: str
    higher_is_better: bool
    description: str


# Noise tolerances for `compare`: FID and KID vary by a few percent between seeds of the same model
# (Lucic et al. 2018 report seed spreads of this size), IS and precision/recall by less.
_SPECS = [
    _Spec("fid", FID, KEY_FID, INCEPTION, False, "Frechet Inception Distance (torch-fidelity, Inception-v3)"),
    _Spec("isc", ISC, KEY_ISC_MEAN, INCEPTION, True, "Inception Score, mean over 10 splits (torch-fidelity)"),
    _Spec("kid", KID, KEY_KID_MEAN, INCEPTION, False, "Kernel Inception Distance, mean over subsets"),
    _Spec("precision", PRC, KEY_PRECISION, INCEPTION, True, "precision (Kynkaanniemi et al. 2019)"),
    _Spec("recall", PRC, KEY_RECALL, INCEPTION, True, "recall (Kynkaanniemi et al. 2019)"),
    _Spec("fid-lenet", FID, KEY_FID, LENET, False, "FID in ganbench's MNIST-classifier feature space"),
    _Spec("kid-lenet", KID, KEY_KID_MEAN, LENET, False, "KID in ganbench's MNIST-classifier feature space"),
    _Spec("precision-lenet", PRC, KEY_PRECISION, LENET, True, "precision in MNIST-classifier feature space"),
    _Spec("recall-lenet", PRC, KEY_RECALL, LENET, True, "recall in MNIST-classifier feature space"),
]
SPECS = {spec.name: spec for spec in _SPECS}


def _shared_result(ctx: EvalContext, spec: _Spec) -> FidelityResult:
    """One torch-fidelity call per extractor and evaluation, for every metric of it that is wanted."""
    wanted = {s.family for s in _SPECS if s.extractor == spec.extractor and s.name in ctx.wanted}
    families = frozenset(wanted | {spec.family})
    slot = f"fidelity:{spec.extractor}:{sorted(families)}"
    if slot not in ctx.shared:
        reference = torch.as_tensor(ctx.dataset.reference(ctx.reference_count))
        ctx.shared[slot] = fidelity_scores(
            to_uint8(torch.from_numpy(ctx.samples)),
            reference,
            ctx.dataset_id,
            spec.extractor,
            set(families),
            ctx.device,
            ctx.seed % 2**32,  # torch-fidelity seeds numpy's RandomState, which takes 32-bit seeds
        )
    return ctx.shared[slot]


def _metric(spec: _Spec) -> Callable[[EvalContext], MetricValue]:
    def compute(ctx: EvalContext) -> MetricValue:
        result = _shared_result(ctx, spec)
        origin = "reference features from cache" if result.cached else "reference features computed"
        note = "; ".join(filter(None, [origin, EXTRACTORS[spec.extractor].identity()]))
        counts = {"generated": len(ctx.samples), "reference": ctx.reference_count}
        return MetricValue(result.scores[spec.key], note=note, counts=counts)

    return compute


def _prepare(extractor: str) -> Callable[[Say], None]:
    """Find the extractor's weights before training: a missing file (or MNIST split) fails at once."""

    def prepare(say: Say) -> None:
        EXTRACTORS[extractor].weights(say)

    return prepare


for _spec in _SPECS:
    register_metric(
        _spec.name,
        _spec.description,
        higher_is_better=_spec.higher_is_better,
        unit="",
        modality="images",
        rel_tol=0.05,
        prepare=_prepare(_spec.extractor),
    )(_metric(_spec))
