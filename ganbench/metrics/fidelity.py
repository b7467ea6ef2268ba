"""Image quality through torch-fidelity (FID, IS, KID, precision/recall): the only module importing it.

Generated images go to `torch_fidelity.calculate_metrics` in memory as uint8 3xHxW tensors (no PNG
round trip; grayscale repeated to three channels, as torch-fidelity expects). Two feature spaces:
- Inception-v3 (torch-fidelity's `inception-v3-compat`, the TF-FID network): metrics `fid`, `isc`,
  `kid`, `precision`, `recall`. Its weights come from `--inception-weights` / GANBENCH_INCEPTION_WEIGHTS,
  else torch hub's cache, else a download; offline without the file, one line says what is missing.
- ganbench's own MNIST digit classifier (`ganbench.metrics.classifier`), registered with torch-fidelity's
  `register_feature_extractor` as `ganbench-lenet`: metrics `fid-lenet`, `kid-lenet`,
  `precision-lenet`, `recall-lenet`, fast on CPU, and never to be confused with Inception FID.
`fid-inf` and `fid-lenet-inf` extrapolate FID to infinitely many samples (Chong and Forsyth 2020) from
one extraction of each feature space's features (`fidelity_features`, `fid_infinity`).

Real-data features and FID statistics are cached by torch-fidelity under a name that covers the
dataset with its parameters, the reference count and content, the extractor and its weights' hash.

torch-fidelity unpickles its cache files and the Inception weights with `weights_only=False`, so a
planted file would run code; cache folders are shared on clusters. torch-fidelity therefore never
reads them: each call gets a private temporary folder (mode 0700) holding copies that ganbench wrote
itself from what torch's safe loader (`_safe_load`) read, and new cache entries are copied back. A bad
cache entry is a miss (one warning line, the file removed); a bad weights file is a GanbenchError,
which `_prepare` raises before any training.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganbench import paths
from ganbench.data.images import to_uint8
from ganbench.errors import GanbenchError
from ganbench.files import write_atomic
from ganbench.metrics.base import FRACTION, NON_NEGATIVE, EvalContext, MetricValue, register_metric

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

# What torch-fidelity's cache files hold beyond tensors: its FID statistics are {"mu", "sigma"} numpy
# arrays (float32 mu from Inception features, float64 otherwise); its feature files are plain tensors.
# Allowing numpy's array rebuilder with the float dtypes lets them load safely; an object array would
# need ObjectDType, which stays refused. `__reduce__` names the rebuilder this numpy pickles with.
_CACHE_GLOBALS = [
    np.zeros(0).__reduce__()[0],
    np.ndarray,
    np.dtype,
    type(np.dtype(np.float32)),
    type(np.dtype(np.float64)),
]


@dataclass(frozen=True)
class Extractor:
    """A feature space: torch-fidelity's name for it, how to find its weights file, and a line that
    identifies those weights in every record."""

    name: str  # torch-fidelity registry name
    label: str  # short name in cache keys
    # The weights file; the optional argument hears about slow work (a download, a training).
    weights: Callable[[Say | None], Path]
    identity: Callable[[], str] = lambda: ""
    # What is wrong with the (safely loaded) weights for the network, or None when they fit it.
    problem: Callable[[Any], str | None] = lambda state: None


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


def _safe_load(path: Path) -> Any:
    """Load a torch file without running pickled code: tensors, containers and float numpy arrays only."""
    # torch warns about unusual pickle protocols on stderr; the verdict (loaded or raised) is what counts.
    with warnings.catch_warnings(), torch.serialization.safe_globals(_CACHE_GLOBALS):
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reason(err: Exception) -> str:
    """Why a file did not load safely, in one short line (torch's own message is a page of advice)."""
    found = re.search(r"WeightsUnpickler error:\s*(.+)", str(err))
    if found:  # e.g. "Unsupported global: GLOBAL posix.system": what the pickle would have called
        return _short(f"refused by torch.load(weights_only=True): {found.group(1).split(' was not an ')[0]}")
    return _short(f"{type(err).__name__}: {err}") if str(err).strip() else type(err).__name__


def _not_a_state_dict(state: Any) -> str | None:
    if not isinstance(state, Mapping):
        return f"it holds a {type(state).__name__}, not a state dict (a mapping of names to tensors)"
    bad = [key for key, value in state.items() if not isinstance(key, str) or not torch.is_tensor(value)]
    if bad:
        return f"{len(bad)} entries are not a name with a tensor, e.g. {_short(repr(bad[0]), 60)}"
    return None


def _load_error(err: Exception) -> str:
    """torch's load_state_dict error (missing/unexpected keys, wrong shapes) in one short line."""
    return _short(re.sub(r"^Error\(s\) in loading state_dict for \w+:", "", str(err).strip()))


def _lenet_problem(state: Any) -> str | None:
    from ganbench.metrics.classifier import DigitClassifier

    if problem := _not_a_state_dict(state):
        return problem
    try:
        DigitClassifier().load_state_dict(state)  # strict: every key, no extra one, every shape
    except RuntimeError as err:
        return _load_error(err)
    return None


def _inception_problem(state: Any) -> str | None:
    if problem := _not_a_state_dict(state):
        return problem
    digest = _state_digest(state)
    if digest not in _INCEPTION_FITS:  # building the network takes about 0.7 s: once per content
        _INCEPTION_FITS[digest] = _inception_load_error(state)
    return _INCEPTION_FITS[digest]


def _state_digest(state: Mapping[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key, tensor in state.items():
        digest.update(key.encode("utf-8"))
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


_INCEPTION_FITS: dict[str, str | None] = {}


def _inception_load_error(state: Mapping[str, torch.Tensor]) -> str | None:
    """Whether torch-fidelity builds its Inception network from `state` (None) or why not."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    # torch-fidelity's own network is the reference: its strict load_state_dict compares every key and
    # shape with the installed version's architecture, so no list of ~570 names is kept here. It reads
    # a file (with weights_only=False): one written here, in a private folder, from the safely loaded
    # tensors.
    with tempfile.TemporaryDirectory(prefix="ganbench-weights-") as private:
        path = Path(private) / "weights.pt"
        torch.save(dict(state), path)
        try:
            FeatureExtractorInceptionV3(INCEPTION, ["2048"], feature_extractor_weights_path=str(path))
        except Exception as err:  # noqa: BLE001 - whatever fails, the file is not these weights
            return _load_error(err)
    return None


def check_weights(extractor: str, path: Path) -> dict[str, torch.Tensor]:
    """The state dict in `path`, loaded without running pickled code; GanbenchError unless it loads so
    and fits the extractor's network."""
    try:
        state = _safe_load(path)
    except Exception as err:  # noqa: BLE001 - any failure to load safely refuses the file
        raise GanbenchError(
            f"weights file {path} ({extractor}) cannot be loaded safely: {_reason(err)}"
        ) from None
    problem = EXTRACTORS[extractor].problem(state)
    if problem:
        raise GanbenchError(f"weights file {path} does not fit the {extractor} network: {problem}")
    return state


EXTRACTORS = {
    INCEPTION: Extractor(INCEPTION, "inception", inception_weights, inception_identity, _inception_problem),
    # "fc1": the classifier's pre-activation features; a new feature layer needs a new label here,
    # as cached statistics are keyed by the label and the weights' hash only.
    LENET: Extractor(LENET, "lenet-fc1", lenet_weights, lenet_identity, _lenet_problem),
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


def _copy_cache_in(name: str, private: Path) -> list[str]:
    """Safe copies of the cache entries of `name` in `private`; the names of those copied.

    An entry that does not load safely is a miss: one warning line, and it is removed (torch-fidelity
    then recomputes it, and the good copy goes back); if it cannot be removed, it stays, unread."""
    copied = []
    for path in sorted(cache_root().glob(f"{name}-*.pt")):
        try:
            torch.save(_safe_load(path), private / path.name)
            copied.append(path.name)
        except Exception as err:  # noqa: BLE001 - whatever fails, torch-fidelity must not unpickle it
            print(
                f"warning: ignoring unsafe or unreadable cache file {path} ({_reason(err)}); recomputing",
                file=sys.stderr,
            )
            with contextlib.suppress(OSError):  # someone else's file in a shared folder: left unread
                path.unlink()
    return copied


def _copy_cache_out(private: Path, copied: list[str]) -> None:
    """Share the entries torch-fidelity computed in `private` (written atomically; best effort)."""
    for path in sorted(private.glob("*.pt")):
        if path.name not in copied:
            with contextlib.suppress(OSError):  # a read-only shared cache: the next run recomputes
                write_atomic(cache_root() / path.name, path.read_bytes())


@dataclass(frozen=True)
class _Private:
    """A private folder for one torch-fidelity call: the checked weights, the cache copies and the
    cache name of the reference."""

    weights: Path
    cache: Path
    name: str
    copied: list[str]


@contextlib.contextmanager
def _private_folder(reference: torch.Tensor, dataset_id: str, extractor: str) -> Iterator[_Private]:
    """A temporary folder (mode 0700: ours alone) holding what torch-fidelity may read: the weights,
    checked and written here, and safe copies of the reference's cache entries. On a normal exit the
    entries torch-fidelity added are copied back to the shared cache; then the folder is removed."""
    weights = EXTRACTORS[extractor].weights()
    name = cache_name(dataset_id, reference, extractor, weights)
    with tempfile.TemporaryDirectory(prefix="ganbench-fidelity-") as folder:
        private = Path(folder)
        # Checked again (the file may have changed since `_prepare`), and copied as checked.
        torch.save(check_weights(extractor, weights), private / "weights.pt")
        (private / "cache").mkdir()
        copied = _copy_cache_in(name, private / "cache")
        yield _Private(private / "weights.pt", private / "cache", name, copied)
        _copy_cache_out(private / "cache", copied)


def _inputs(
    private: _Private,
    generated: torch.Tensor,
    reference: torch.Tensor,
    extractor: str,
    device: torch.device | None,
) -> dict[str, Any]:
    """torch-fidelity's arguments for one call: the images in memory, and only the private folder's files."""
    return {
        "input1": UInt8Images(generated),
        "input2": UInt8Images(reference),
        "input2_cache_name": private.name,
        "cache_root": str(private.cache),
        "cuda": device is not None and device.type == "cuda",
        "feature_extractor": extractor,
        "feature_extractor_weights_path": str(private.weights),
        "save_cpu_ram": True,  # in-memory tensors: DataLoader workers would only add start-up time
        "verbose": False,
    }


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
    torch-fidelity reads only copies in a private folder, written here from safely loaded content
    (see the module docstring), so no file another process can change is ever unpickled.
    """
    torch_fidelity = _torch_fidelity()
    n = min(len(generated), len(reference))
    with _private_folder(reference, dataset_id, extractor) as private:
        started = time.perf_counter()
        scores = torch_fidelity.calculate_metrics(
            **_inputs(private, generated, reference, extractor, device),
            fid=FID in families,
            isc=ISC in families,
            kid=KID in families,
            prc=PRC in families,
            kid_subset_size=min(KID_SUBSET_SIZE, n),
            rng_seed=seed,
        )
        seconds = time.perf_counter() - started
    return FidelityResult({k: float(v) for k, v in scores.items()}, bool(private.copied), seconds)


@dataclass(frozen=True)
class Features:
    """One extraction's features (float tensors (n, d), on the CPU), whether the reference's came
    from the cache, and the seconds the extraction took."""

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
    """The FID features of `generated` and `reference` (uint8 (N, 1 or 3, H, W)), extracted once by
    torch-fidelity's own feature extraction, in the private folder of `fidelity_scores`.

    The reference's features share the cache entry (`<name>-<extractor>-features-<layer>.pt`) that
    `fidelity_scores` writes for FID, so either call reads back what the other computed.
    """
    _torch_fidelity()  # registers the digit classifier
    from torch_fidelity.utils import (
        create_feature_extractor,
        extract_featuresdict_from_input_id_cached,
        resolve_feature_layer_for_metric,
    )

    with _private_folder(reference, dataset_id, extractor) as private:
        kwargs = _inputs(private, generated, reference, extractor, device)
        layer = resolve_feature_layer_for_metric("fid", **kwargs)
        network = create_feature_extractor(extractor, [layer], **kwargs)
        cached = f"{private.name}-{network.get_name()}-features-{layer}.pt" in private.copied
        started = time.perf_counter()
        features = [extract_featuresdict_from_input_id_cached(i, network, **kwargs)[layer] for i in (1, 2)]
        seconds = time.perf_counter() - started
    return Features(features[0], features[1], cached, seconds)


# FID at infinity (Chong and Forsyth 2020, "Effectively Unbiased FID and Inception Score and where to
# find them", CVPR 2020). FID from n samples is biased upward, and to first order the bias is linear
# in 1/n: FID(n) ~= FID_inf + slope / n. FID_inf is the intercept of a least-squares line through FID
# at several n, all computed from one extraction's features (subsets of them, never new images).
# The paper evaluates 15 counts evenly spaced in n from 5,000 to 50,000 (a tenth of N to N) against
# fixed reference statistics. Here both sets are subsampled by the same fraction (m = n M / N
# reference features beside n generated ones): the reference's own bias is then linear in 1/n too and
# goes into the slope, not the intercept, which matters when the reference is no larger than the
# generated set (ganbench's default: 10,000 and 10,000). The smallest subset also keeps at least
# twice the feature dimension, where FID(n) is still close to its line (below about d, where the
# sample covariance is singular, it bends away).
FID_INF_POINTS = 15
FID_INF_SMALLEST_FRACTION = 0.1
FID_INF_DIMS_FACTOR = 2


def fid_infinity_counts(generated: int, reference: int, dims: int, points: int = FID_INF_POINTS) -> list[int]:
    """The default generated counts n of `fid_infinity`: `points` evenly spaced from n_min to N, where
    n_min = max(N / 10, 2 d N / min(N, M)) (so both subsets keep >= 2 d features), at most N / 2 so that
    the fit spans a factor of two at least. Fewer distinct counts when N is small."""
    smallest = max(
        FID_INF_SMALLEST_FRACTION * generated,
        FID_INF_DIMS_FACTOR * dims * generated / min(generated, reference),
    )
    smallest = min(smallest, generated / 2)
    return sorted({int(round(n)) for n in np.linspace(smallest, generated, points)})


def frechet_distance(generated: torch.Tensor, reference: torch.Tensor) -> float:
    """FID between two feature sets (n, d), by torch-fidelity's own statistics and Frechet distance."""
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    statistics = [fid_features_to_statistics(f) for f in (generated, reference)]
    return float(fid_statistics_to_metric(*statistics, verbose=False)[KEY_FID])


def fid_infinity(
    features_generated: np.ndarray | torch.Tensor,
    features_reference: np.ndarray | torch.Tensor,
    ns: Sequence[int] | None = None,
    seed: int = 0,
) -> tuple[float, dict[str, Any]]:
    """FID extrapolated to infinitely many samples (Chong and Forsyth 2020): (value, details).

    For each generated count n in `ns` (default `fid_infinity_counts`), FID between n generated
    features and m = round(n M / N) reference features, each drawn without replacement by a numpy
    Generator seeded with `seed` (n = N uses both whole sets: that point is the plain FID); then a
    least-squares line FID = slope / n + intercept, whose intercept is the value. `details` holds
    the fit: {"n", "n_reference", "fid", "slope", "intercept"} (JSON values).
    """
    generated, reference = torch.as_tensor(features_generated), torch.as_tensor(features_reference)
    if generated.dim() != 2 or reference.dim() != 2 or generated.shape[1] != reference.shape[1]:
        raise ValueError(
            f"features must be (n, d) with one d, got {tuple(generated.shape)} and {tuple(reference.shape)}"
        )
    total, total_reference = len(generated), len(reference)
    if ns is None:
        ns = fid_infinity_counts(total, total_reference, generated.shape[1])
    counts = sorted({int(n) for n in ns})
    pairs = [(n, total_reference if n == total else int(round(n * total_reference / total))) for n in counts]
    if len(pairs) < 3 or min(min(pair) for pair in pairs) < 2 or counts[-1] > total:
        raise GanbenchError(
            f"FID at infinity needs at least 3 sample counts of 2 to {total} generated (and their share of "
            f"{total_reference} reference) samples, got {counts}"
        )
    rng = np.random.default_rng(seed)
    fids = []
    for n, m in pairs:
        subsets = [
            features
            if k == len(features)
            else features[torch.from_numpy(np.sort(rng.choice(len(features), k, replace=False)))]
            for features, k in ((generated, n), (reference, m))
        ]
        fids.append(frechet_distance(*subsets))
    slope, intercept = np.polyfit(1.0 / np.asarray(counts, dtype=np.float64), np.asarray(fids), 1)
    details = {
        "n": counts,
        "n_reference": [m for _, m in pairs],
        "fid": fids,
        "slope": float(slope),
        "intercept": float(intercept),
    }
    return float(intercept), details


@dataclass(frozen=True)
class _Spec:
    name: str
    family: str
    key: str
    extractor: str
    higher_is_better: bool
    description: str

    @property
    def display_name(self) -> str:
        """'FID', 'IS', 'Precision (LeNet)': the family's name, with the feature space when not Inception."""
        title = {FID: "FID", ISC: "IS", KID: "KID"}.get(self.family) or self.name.split("-")[0].title()
        return title if self.extractor == INCEPTION else f"{title} (LeNet)"

    @property
    def domain(self) -> tuple[float | None, float | None]:
        """FID >= 0 (a distance); IS >= 1 (the exponential of a mean KL); precision and recall are
        fractions; KID's unbiased estimate can fall below 0, so it is unbounded."""
        if self.family == PRC:
            return FRACTION
        return {FID: NON_NEGATIVE, ISC: (1.0, None)}.get(self.family, (None, None))


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
    """Find and check the extractor's weights before training: a missing or bad file fails at once."""

    def prepare(say: Say) -> None:
        check_weights(extractor, EXTRACTORS[extractor].weights(say))

    return prepare


def _fid_infinity_metric(extractor: str) -> Callable[[EvalContext], MetricValue]:
    def compute(ctx: EvalContext) -> MetricValue:
        slot = f"fidelity-features:{extractor}"  # one extraction per extractor and evaluation
        if slot not in ctx.shared:
            reference = torch.as_tensor(ctx.dataset.reference(ctx.reference_count))
            ctx.shared[slot] = fidelity_features(
                to_uint8(torch.from_numpy(ctx.samples)), reference, ctx.dataset_id, extractor, ctx.device
            )
        features: Features = ctx.shared[slot]
        value, details = fid_infinity(features.generated, features.reference, seed=ctx.seed)
        details["extractor"] = extractor
        ns = details["n"]
        fit = (
            f"extrapolated from FID at {len(ns)} counts n = {ns[0]}..{ns[-1]} (slope {details['slope']:.4g})"
        )
        dims = features.generated.shape[1]
        if min(ns[0], details["n_reference"][0]) < FID_INF_DIMS_FACTOR * dims:
            fit += f"; subsets below {FID_INF_DIMS_FACTOR} x {dims} features: less reliable"
        origin = "reference features from cache" if features.cached else "reference features computed"
        note = "; ".join(filter(None, [fit, origin, EXTRACTORS[extractor].identity()]))
        counts = {"generated": len(ctx.samples), "reference": ctx.reference_count}
        return MetricValue(value, note=note, counts=counts, details=details)

    return compute


# Their descriptions name the extrapolation and its point count (`ganbench list` shows them).
_INFINITY = f"FID extrapolated to n = infinity (Chong and Forsyth 2020) from {FID_INF_POINTS} subset sizes"
_INFINITY_SPECS = {
    "fid-inf": (INCEPTION, f"{_INFINITY}, Inception-v3", "FID∞"),
    "fid-lenet-inf": (LENET, f"{_INFINITY}, MNIST-classifier features", "FID∞ (LeNet)"),
}

for _spec in _SPECS:
    register_metric(
        _spec.name,
        _spec.description,
        higher_is_better=_spec.higher_is_better,
        unit="",
        modality="images",
        rel_tol=0.05,
        prepare=_prepare(_spec.extractor),
        # FID and KID need a covariance (2 samples); precision and recall each sample's third nearest
        # neighbour (torch-fidelity's k = 3), so 4.
        min_samples=4 if _spec.family == PRC else 2,
        display_name=_spec.display_name,
        domain=_spec.domain,
    )(_metric(_spec))

for _name, (_extractor, _description, _display) in _INFINITY_SPECS.items():
    register_metric(
        _name,
        _description,
        higher_is_better=False,
        unit="",
        modality="images",
        rel_tol=0.05,
        prepare=_prepare(_extractor),
        min_samples=6,  # three distinct subset sizes of at least 2 samples, from N / 2 to N
        # An extrapolated intercept, not a distance: nothing keeps it >= 0, so no domain is declared.
        display_name=_display,
    )(_fid_infinity_metric(_extractor))
