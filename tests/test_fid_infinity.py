"""FID extrapolated to infinite samples (Chong and Forsyth 2020): `fid-inf` and `fid-lenet-inf`."""

from __future__ import annotations

import math
import pathlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_fake_mnist
from typer.testing import CliRunner

from ganbench import paths
from ganbench.cli import app
from ganbench.data.base import IMAGE_SOURCE
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS, EvalContext
from ganbench.metrics.fidelity import INCEPTION_TS, LENET, cache, extractors, features
from ganbench.metrics.fidelity.fid import FID_INF_POINTS, fid_infinity, fid_infinity_counts, frechet_distance

# ------------------------------------------------------------------------ the extrapolation itself

D, N, SIGMA = 64, 2000, 1.5
MU_GENERATED = np.r_[np.full(4, 0.5), np.zeros(D - 4)]  # |mu1 - mu2|^2 = 4 * 0.25 = 1, with mu2 = 0
# Generated ~ N(mu1, I), reference ~ N(0, sigma^2 I) in d dimensions. FID between two Gaussians is
#   |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)),
# and with S1 = I, S2 = sigma^2 I: (S1 S2)^(1/2) = sigma I, so the trace is d (1 + sigma^2 - 2 sigma)
# = d (1 - sigma)^2. Here: 1 + 64 * 0.25 = 17.
TRUE_FID = float(MU_GENERATED @ MU_GENERATED) + D * (1 - SIGMA) ** 2


def _gaussians(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, D)) + MU_GENERATED, SIGMA * rng.normal(size=(N, D))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_extrapolation_removes_the_small_sample_bias(seed: int) -> None:
    generated, reference = _gaussians(seed)
    value, details = fid_infinity(generated, reference, seed=seed)

    at_n = details["fid"][-1]
    assert details["n"][-1] == N and at_n == frechet_distance(
        torch.tensor(generated), torch.tensor(reference)
    )
    # FID at N = 2,000 in 64 dimensions is visibly biased upward (about +1.7, 10 %), and the fit's
    # intercept lands far closer: within half of that error on every seed (in fact within a quarter).
    assert at_n - TRUE_FID > 1.0
    assert abs(value - TRUE_FID) < 0.5 * abs(at_n - TRUE_FID)
    assert details["slope"] > 0 and details["intercept"] == value
    assert len(details["n"]) == len(details["fid"]) == len(details["n_reference"]) == 15
    # Deterministic: the same features and seed give the same fit; another seed other subsets.
    assert fid_infinity(generated, reference, seed=seed) == (value, details)
    other = fid_infinity(generated, reference, seed=seed + 100)[1]
    assert other["fid"][-1] == at_n and other["fid"][:-1] != details["fid"][:-1]


def test_the_default_counts() -> None:
    # 15 counts evenly spaced from a tenth of N (Chong and Forsyth's 5,000 of 50,000) to N ...
    assert fid_infinity_counts(50_000, 50_000, 2048) == [round(x) for x in np.linspace(5000, 50_000, 15)]
    counts = fid_infinity_counts(N, N, D)
    assert (counts[0], counts[-1], len(counts)) == (200, N, 15)
    # ... but no subset below twice the feature dimension: 4,096 Inception features of 10,000 ...
    assert fid_infinity_counts(10_000, 10_000, 2048)[0] == 4096
    # ... the smaller set sets it (its subsets are the fraction n / N of it) ...
    assert fid_infinity_counts(10_000, 5_000, 128)[0] == 1000
    assert fid_infinity_counts(2_000, 1_000, 128)[0] == 512
    assert fid_infinity_counts(1_000, 500, 128)[0] == 500  # at most N / 2
    # ... and at most N / 2, so that the fit spans a factor of two; few samples, fewer counts.
    assert fid_infinity_counts(12, 12, 2048) == [6, 7, 8, 9, 10, 11, 12]


def test_the_reference_is_subsampled_in_proportion() -> None:
    generated, reference = _gaussians(3)
    _, details = fid_infinity(generated, reference[:1000], ns=[500, 1000, 2000])
    assert details["n_reference"] == [250, 500, 1000]
    with pytest.raises(GanbenchError, match="at least 3 sample counts"):
        fid_infinity(generated, reference, ns=[1000, 2000])


# ---------------------------------------------------------------------- fid-lenet-inf end to end


@pytest.fixture
def fake_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake MNIST split (the digit classifier trains on it in about a second) and an own cache folder."""
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(write_fake_mnist(tmp_path / "mnist")))
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "cache"))
    return tmp_path


def _squares(seed: int, n: int, size: int) -> torch.Tensor:
    """Digit-like uint8 images (n, 1, 28, 28): noise with a bright square of `size` at a random place."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(n, 1, 28, 28))
    for image, (row, col) in zip(images, rng.integers(0, 28 - size, size=(n, 2)), strict=True):
        image[0, row : row + size, col : col + size] = 255
    return torch.from_numpy(images.astype(np.uint8))


class _Reference:
    modality = "images"
    capabilities = frozenset({IMAGE_SOURCE})

    def reference(self, n: int) -> torch.Tensor:
        return _squares(1, n, size=6)


class _CountImages:
    """Counts the images that go through the digit classifier's torch-fidelity feature extractor."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

        self.images = 0
        network = FEATURE_EXTRACTORS_REGISTRY[LENET]
        forward = network.forward

        def counted(module: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            self.images += len(x)
            return forward(module, x)

        monkeypatch.setattr(network, "forward", counted)


# Both subsets keep at least 2 x 128 classifier features: n from 299 (and 299 x 600 / 700 = 256).
GENERATED, REFERENCE = 700, 600


def _context(seed: int = 7) -> EvalContext:
    samples = (_squares(2, GENERATED, size=8).to(torch.float32) / 127.5 - 1).numpy()
    wanted = ("fid-lenet", "fid-lenet-inf")
    return EvalContext(
        samples, _Reference(), seed, dataset_id="squares", reference_count=REFERENCE, wanted=wanted
    )


@pytest.mark.e2e
def test_fid_lenet_inf_extracts_features_once_and_ends_at_fid_lenet(
    fake_mnist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extractors.lenet_weights()  # the classifier trains first (it is not the counted extractor)
    extractors.torch_fidelity()
    count = _CountImages(monkeypatch)
    ctx = _context()

    result = METRICS.get("fid-lenet-inf").compute(ctx)

    assert count.images == GENERATED + REFERENCE, "each image goes through the network once"
    details = result.details
    assert math.isfinite(result.value) and result.value == details["intercept"]
    assert details["extractor"] == LENET and len(details["n"]) == len(details["fid"]) >= 5
    assert details["n"] == fid_infinity_counts(GENERATED, REFERENCE, 128)  # 128 classifier features
    assert (details["n"][-1], details["n_reference"][-1]) == (GENERATED, REFERENCE)
    assert result.counts == {"generated": GENERATED, "reference": REFERENCE}
    assert (
        "extrapolated from FID at 15 counts" in result.note and "reference features computed" in result.note
    )
    assert "less reliable" not in result.note  # no subset below 2 x 128 features
    assert all(math.isfinite(f) for f in details["fid"]) and details["slope"] > 0

    # Again in the same evaluation: the features are shared, and the fit is the same.
    again = METRICS.get("fid-lenet-inf").compute(ctx)
    assert count.images == GENERATED + REFERENCE and again == result

    # The last point is fid-lenet's FID: the same features at the same counts.
    plain = METRICS.get("fid-lenet").compute(ctx)
    assert details["fid"][-1] == pytest.approx(plain.value, rel=1e-6)
    assert plain.value > result.value, "the small-sample bias is upward"

    # A new evaluation reads the reference's features from the cache that fid-lenet shares.
    count.images = 0
    cached = METRICS.get("fid-lenet-inf").compute(_context())
    assert count.images == GENERATED and "reference features from cache" in cached.note
    assert cached.details == details
    # Another seed draws other subsets: the same last point, other points before it.
    other = METRICS.get("fid-lenet-inf").compute(_context(seed=8)).details
    assert other["fid"][-1] == details["fid"][-1] and other["fid"][:-1] != details["fid"][:-1]

    # Its extraction reads the same cache safely: a planted cache entry is a miss, not code.
    (entry,) = cache.cache_root().glob("ganbench-squares-*-features.pt")
    marker = fake_mnist / "marker"
    torch.save({"features": _Poison(marker)}, entry)
    torch.load(entry, weights_only=False)  # the poison is live: torch-fidelity's loader would run it
    assert marker.exists()
    marker.unlink()
    poisoned = METRICS.get("fid-lenet-inf").compute(_context())
    assert not marker.exists() and "reference features computed" in poisoned.note
    assert poisoned.details == details


class _Poison:
    """Unpickling it (weights_only=False) creates the marker file: a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


# ------------------------------------------------------------------------------- fid-inf declared


def test_fid_inf_is_registered_with_inception_features(monkeypatch: pytest.MonkeyPatch) -> None:
    generated, reference = _gaussians(4)
    asked: list[str] = []

    def extract(images, extractor, device=None, batch_size=None):
        asked.append(extractor.name)
        return {
            "2048" if extractor.name == INCEPTION_TS else "features": torch.tensor(
                generated if len(images) == N else reference
            )
        }

    # No network runs here: the features are stand-ins, and so is the weights' file and identity line.
    monkeypatch.setattr(features, "extract", extract)
    monkeypatch.setattr(cache, "load", lambda *args: None)
    monkeypatch.setattr(cache, "store", lambda *args: None)
    monkeypatch.setattr(extractors, "inception_source", lambda: INCEPTION_TS)
    for name, extractor in (("fid-inf", INCEPTION_TS), ("fid-lenet-inf", LENET)):
        metric = METRICS.get(name)
        assert metric.higher_is_better is False and metric.modality == "images" and metric.prepare
        assert "extrapolated" in metric.description and "Chong and Forsyth 2020" in metric.description
        assert f"from {FID_INF_POINTS} subset sizes" in metric.description

        stand_in = extractors.Extractor(
            extractor,
            "stand-in",
            "stand-in",
            lambda say=None: Path(__file__),
            layers=extractors.EXTRACTORS[extractor].layers,
        )
        monkeypatch.setitem(extractors.EXTRACTORS, extractor, stand_in)
        asked.clear()
        reference_images = np.zeros((N + 1, 1, 2, 2), np.float32)
        ctx = EvalContext(
            np.zeros((N, 1, 2, 2), np.float32), _Stub(reference_images), seed=0, reference_count=N + 1
        )
        result = metric.compute(ctx)
        assert asked == [extractor, extractor] and result.details["extractor"] == extractor
        assert result.value == fid_infinity(generated, reference, seed=0)[0]


class _Stub:
    modality = "images"
    capabilities = frozenset({IMAGE_SOURCE})

    def __init__(self, images: np.ndarray) -> None:
        self.images = images

    def reference(self, n: int) -> torch.Tensor:
        return torch.from_numpy(self.images[:n]).to(torch.uint8)


def test_ganbench_list_shows_them(cli: CliRunner) -> None:
    result = cli.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.startswith("  fid")}
    assert "Chong and Forsyth 2020" in lines["fid-inf"] and "Inception-v3" in lines["fid-inf"]
    assert "MNIST-classifier" in lines["fid-lenet-inf"]
