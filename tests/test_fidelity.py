"""Image metrics through torch-fidelity: FID against its closed form, the cache, the weights files."""

from __future__ import annotations

import dataclasses
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from ganbench import paths
from ganbench.data.base import IMAGE_SOURCE
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS, EvalContext
from ganbench.metrics.fidelity import cache, extractors, fid, inception_score, kid, precision_recall
from ganbench.metrics.fidelity.extractors import Extractor
from ganbench.metrics.fidelity.features import (
    Extraction,
    FeatureKey,
    UInt8Images,
    fidelity_features,
    reference_features,
)

PROJECTION = "ganbench-test-projection"
FEATURES = 6


def _register_projection() -> None:
    """A linear feature extractor whose weights file is a (3*H*W, FEATURES) matrix the tests make."""
    torch_fidelity = extractors.torch_fidelity()
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    if PROJECTION in FEATURE_EXTRACTORS_REGISTRY:
        return

    class Projection(FeatureExtractorBase):
        def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
            super().__init__(name, features_list)
            self.register_buffer("matrix", torch.load(feature_extractor_weights_path, weights_only=True))

        @staticmethod
        def get_provided_features_list():
            return ("features",)

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return "features"

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return torch.zeros(1, 3, 8, 8, dtype=torch.uint8)

        def forward(self, x):
            return (x.to(torch.float64).flatten(1) @ self.matrix,)

    torch_fidelity.register_feature_extractor(PROJECTION, Projection)


@pytest.fixture
def projection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """Register the projection extractor with a weights file written here; returns the matrix."""
    _register_projection()
    matrix = torch.from_numpy(np.random.default_rng(0).normal(size=(3 * 8 * 8, FEATURES)) / 8)
    weights = tmp_path / "projection.pt"
    torch.save(matrix, weights)
    extractor = Extractor(
        PROJECTION,
        "projection",
        "a random projection",
        lambda say=None: weights,
        lambda path: torch.load(path, weights_only=True),
        {"fid": "features", "kid": "features", "prc": "features"},
    )
    monkeypatch.setitem(extractors.EXTRACTORS, PROJECTION, extractor)
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "cache"))
    return matrix.numpy()


def _images(seed: int, n: int = 300, low: int = 0, high: int = 200) -> torch.Tensor:
    return torch.randint(
        low, high, (n, 1, 8, 8), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8
    )


def _features(images: torch.Tensor, matrix: np.ndarray) -> np.ndarray:
    """The projection's features of `images`, grayscale repeated to 3 channels as torch-fidelity feeds it."""
    return images.expand(-1, 3, -1, -1).to(torch.float64).flatten(1).numpy() @ matrix


def closed_form_fid(a: np.ndarray, b: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) (Heusel et al. 2017), with scipy's sqrtm."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def _fid(generated: torch.Tensor, reference: torch.Tensor, dataset_id: str = "test") -> float:
    found = fidelity_features(generated, reference, dataset_id, PROJECTION)
    return fid.frechet_distance(found.generated, found.reference)


def test_fid_equals_the_closed_form_on_the_same_features(projection: np.ndarray) -> None:
    generated, reference = _images(1), _images(2, low=30, high=255)
    expected = closed_form_fid(_features(generated, projection), _features(reference, projection))
    assert expected > 1.0  # the two sets differ: not a trivial zero
    assert _fid(generated, reference) == pytest.approx(expected, rel=1e-6)


def test_fid_of_a_set_against_itself_is_zero(projection: np.ndarray) -> None:
    images = _images(3)
    scale = np.trace(np.cov(_features(images, projection), rowvar=False))
    assert abs(_fid(images, images)) < 1e-6 * scale


def test_a_shift_raises_fid_by_the_squared_shift_norm(projection: np.ndarray) -> None:
    # Adding c to every pixel (no clipping: pixels stay below 200 + 40) shifts every feature vector
    # by v = c * (column sums of the projection); covariances are unchanged, so FID = ||v||^2.
    images, c = _images(4), 40
    v = c * projection.sum(axis=0)
    shifted = images + c
    assert _fid(shifted, images, "shifted") == pytest.approx(float(v @ v), rel=1e-6)


def test_result_keys_match_torch_fidelity() -> None:
    from torch_fidelity import metric_fid, metric_isc, metric_kid, metric_prc

    assert fid.KEY_FID == metric_fid.KEY_METRIC_FID
    assert inception_score.KEY_ISC_MEAN == metric_isc.KEY_METRIC_ISC_MEAN
    assert kid.KEY_KID_MEAN == metric_kid.KEY_METRIC_KID_MEAN
    assert (precision_recall.KEY_PRECISION, precision_recall.KEY_RECALL) == (
        metric_prc.KEY_METRIC_PRECISION,
        metric_prc.KEY_METRIC_RECALL,
    )


def _isc_of(logits: torch.Tensor, monkeypatch: pytest.MonkeyPatch) -> float:
    """The registered `isc` metric on 8x8 images whose Inception logits are `logits`, without the network:
    both extractions are already in the evaluation's `shared` (as the first image metric leaves them)."""
    real = extractors.EXTRACTORS[extractors.INCEPTION]
    # The real extractor's layers (which layer IS reads), with no weights file behind it.
    stand_in = dataclasses.replace(real, weights=lambda say=None: Path("unused"), identity=lambda: "test")
    monkeypatch.setitem(extractors.EXTRACTORS, extractors.INCEPTION, stand_in)
    n = len(logits)
    other = torch.zeros(n, 4, dtype=torch.float64)  # every other layer: a wrong pick scores 1, not 3
    layers = {layer: other for layer in real.layers.values()} | {real.layers["isc"]: logits}
    ctx = EvalContext(np.zeros((n, 1, 8, 8), np.float32), None, seed=7, dataset_id="test", reference_count=n)
    for role in ("generated", "reference"):
        ctx.shared[FeatureKey("test", real.name, role, n)] = Extraction(layers, False, 0.0)
    return METRICS.get("isc").compute(ctx).value


def test_inception_score_of_hand_made_logits(monkeypatch: pytest.MonkeyPatch) -> None:
    # 30 samples, each certain of its own class (logit 50 on it, 0 elsewhere), in IS's 10 splits of 3:
    # in every split, however shuffled, p(y) is 1/3 on three classes and each p(y|x) is one of them, so
    # KL(p(y|x) || p(y)) = log 3 and the score is exp(log 3) = 3.
    assert _isc_of(50 * torch.eye(30, dtype=torch.float64), monkeypatch) == pytest.approx(3.0, rel=1e-9)
    # The same logits for every sample: p(y|x) = p(y), KL = 0, the score is exp(0) = 1.
    same = torch.arange(30, dtype=torch.float64).repeat(30, 1)
    assert _isc_of(same, monkeypatch) == pytest.approx(1.0, rel=1e-12)


class _Counting:
    """Counts the images torch-fidelity reads from the input of `size` images (the reference)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
        self.reads, self.size = 0, size
        original = UInt8Images.__getitem__

        def getitem(dataset, index):
            self.reads += len(dataset) == self.size
            return original(dataset, index)

        monkeypatch.setattr(UInt8Images, "__getitem__", getitem)


def test_reference_features_are_cached_and_the_key_invalidates(
    projection: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _images(6, n=200)
    extractor = extractors.EXTRACTORS[PROJECTION]
    counter = _Counting(monkeypatch, size=200)
    first = reference_features(reference, "mnist-split=test", extractor)
    assert not first.cached and counter.reads >= 200

    counter.reads = 0
    second = reference_features(reference, "mnist-split=test", extractor)
    assert (second.cached, counter.reads) == (True, 0), "the reference is not read again"
    assert torch.equal(second.layers["features"], first.layers["features"])

    # Each part of the key invalidates: the dataset id, the count, the content.
    changed_pixel = reference.clone()
    changed_pixel[0, 0, 0, 0] += 1
    for dataset_id, ref in (
        ("mnist-split=train", reference),
        ("mnist-split=test", reference[:199]),
        ("mnist-split=test", changed_pixel),
    ):
        counter.reads, counter.size = 0, len(ref)
        result = reference_features(ref, dataset_id, extractor)
        assert not result.cached and counter.reads >= len(ref)


def test_the_cache_key_covers_the_weights_file(projection: np.ndarray, tmp_path: Path) -> None:
    reference = _images(7, n=50)
    extractor = extractors.EXTRACTORS[PROJECTION]
    weights = extractor.weights(None)
    other = tmp_path / "other.pt"
    torch.save(torch.from_numpy(projection * 2), other)
    assert cache.cache_name("d", reference, extractor, weights) != cache.cache_name(
        "d", reference, extractor, other
    )
    name = cache.cache_name("mnist-split=test", reference, extractor, weights)
    assert name.startswith("ganbench-mnist-split=test-n50-") and "projection" in name


def _inception_weights(path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A randomly initialized Inception-v3 in torch-fidelity's format, saved locally (no download)."""
    from torch_fidelity import feature_extractor_inceptionv3 as inception

    with monkeypatch.context() as patch:
        patch.setattr(inception, "load_state_dict_from_url", lambda *a, **k: {})
        patch.setattr(inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        torch.manual_seed(0)
        model = inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.e2e
def test_inception_metrics_run_end_to_end_from_a_local_weights_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = _inception_weights(tmp_path / "inception.pth", monkeypatch)
    monkeypatch.setenv(paths.INCEPTION_WEIGHTS_ENV, str(weights))
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)

    class Reference:
        modality = "images"
        capabilities = frozenset({IMAGE_SOURCE})

        def reference(self, n: int) -> torch.Tensor:
            return _images(9, n=n, high=256).expand(-1, 3, -1, -1).contiguous()

    samples = (_images(8, n=12, high=256).to(torch.float32) / 127.5 - 1).numpy()
    wanted = ("fid", "isc", "kid", "precision", "recall")
    ctx = EvalContext(samples, Reference(), seed=0, dataset_id="noise", reference_count=12, wanted=wanted)
    values = {name: METRICS.get(name).compute(ctx) for name in wanted}
    assert all(np.isfinite(v.value) for v in values.values())
    assert values["isc"].value >= 1.0 - 1e-9  # exp(mean KL) >= 1
    assert 0 <= values["precision"].value <= 1 and 0 <= values["recall"].value <= 1
    assert values["fid"].counts == {"generated": 12, "reference": 12}
    assert values["fid"].details["extractor"] == extractors.INCEPTION
    keys = [k for k in ctx.shared if isinstance(k, FeatureKey)]
    assert sorted(k.samples for k in keys) == ["generated", "reference"], "one extraction of each set"


def _no_network(*args: object, **kwargs: object) -> None:
    raise urllib.error.URLError("no network")


def test_missing_inception_weights_say_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(paths.INCEPTION_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    with pytest.raises(GanbenchError) as err:
        extractors.inception_weights()
    message = str(err.value)
    assert "weights-inception-2015-12-05-6726825d.pth" in message and "--inception-weights" in message
    assert "no network" in message and "\n" not in message

    monkeypatch.setenv(paths.INCEPTION_WEIGHTS_ENV, str(tmp_path / "nowhere.pth"))
    with pytest.raises(GanbenchError, match=r"Inception weights file not found: .*nowhere\.pth"):
        extractors.inception_weights()


def test_torch_hub_copy_of_the_weights_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(paths.INCEPTION_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    copy = tmp_path / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
    copy.parent.mkdir()
    copy.write_bytes(b"weights")
    assert extractors.inception_weights() == copy


def test_image_metrics_declare_their_direction() -> None:
    for name in ("fid", "kid", "fid-lenet", "kid-lenet"):
        assert METRICS.get(name).higher_is_better is False and METRICS.get(name).modality == "images"
    for name in ("isc", "precision", "recall", "precision-lenet", "recall-lenet"):
        assert METRICS.get(name).higher_is_better is True
