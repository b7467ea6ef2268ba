"""Dataset capabilities, the contract between plugin datasets and metrics (ganbench.data.base).

For each capability: a plugin dataset, registered as plugins register theirs (DATASETS.add, removed
again after the test), that declares it is scored by the metrics that need it (on the code path the
worker takes: `Metric.compute` of an EvalContext, the tracking observer, or a whole `ganbench run`),
with values worked out by hand; one that does not declare it is refused when the suite loads, in one
line naming the metric, the dataset and the capability, before anything is written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.data import (
    CONTINUOUS,
    DATASETS,
    DIRAC_EQUILIBRIUM,
    IMAGE_SOURCE,
    KNOWN_MODES,
    TRACKS,
    DatasetSpec,
)
from ganbench.data.base import declared
from ganbench.engine.tracking import w1_observer
from ganbench.metrics import METRICS, EvalContext
from ganbench.metrics.density_coverage import COVERAGE, DENSITY
from ganbench.metrics.dirac import EQUILIBRIUM_DISTANCE
from ganbench.metrics.fidelity import features
from ganbench.metrics.fidelity.extractors import Extractor
from ganbench.metrics.mode_collapse import HIGH_QUALITY_FRACTION, MODES_COVERED, REVERSE_KL
from ganbench.metrics.validity import HQ_CURVE, MODES_CURVE
from ganbench.models import METHODS

CPU = torch.device("cpu")

# ----------------------------------------------------------------------------- the plugin datasets


@dataclass(frozen=True)
class NoParams:
    """Plugin datasets without settings."""


@dataclass(frozen=True)
class ImageParams:
    """What a suite needs of an image dataset's parameters: the side (sample sizes are checked by it)."""

    size: int = 32


class Corners:
    """Four Gaussians at the corners (+-1, +-1), std 0.05: a mixture with known modes."""

    modality = "points"
    capabilities = frozenset({KNOWN_MODES, CONTINUOUS})

    def __init__(self, params: NoParams | None = None) -> None:
        self.centers = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]], dtype=torch.float64)
        self.std = 0.05

    @property
    def n_modes(self) -> int:
        return 4

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        device = generator.device
        modes = torch.randint(4, (n,), generator=generator, device=device)
        noise = torch.randn(n, 2, generator=generator, dtype=torch.float64, device=device)
        return (self.centers.to(device)[modes] + self.std * noise).to(torch.float32)


class Blob:
    """One standard Gaussian in 2-D: continuous, but with no modes to count."""

    modality = "points"
    capabilities = frozenset({CONTINUOUS})

    def __init__(self, params: NoParams | None = None) -> None:
        pass

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, 2, generator=generator, device=generator.device)


class Line:
    """The points (0, 0), (1, 0), ..., (n - 1, 0): distinct (continuous), and the same for every seed."""

    modality = "points"
    capabilities = frozenset({CONTINUOUS})

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.stack([torch.arange(n, dtype=torch.float32), torch.zeros(n)], dim=1)


class Atom:
    """All mass at (1, 1), declaring nothing: no k-NN ball around its samples has room."""

    modality = "points"
    capabilities: frozenset = frozenset()

    def __init__(self, params: NoParams | None = None) -> None:
        pass

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.ones(n, 2, device=generator.device)


class Stripes:
    """Twelve 1 x 4 x 4 images, image i all pixels 10 i; `reference` hands them out only where declared."""

    modality = "images"
    capabilities = frozenset({IMAGE_SOURCE})
    image_shape = (1, 4, 4)

    def __init__(self, params: ImageParams | None = None) -> None:
        self.images = (10 * torch.arange(12, dtype=torch.uint8)).view(12, 1, 1, 1).expand(12, 1, 4, 4).clone()

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        index = torch.randint(12, (n,), generator=generator)
        return self.images[index].to(torch.float32) / 127.5 - 1

    def reference(self, n: int) -> torch.Tensor:
        return self.images[:n].clone()


class UndeclaredStripes(Stripes):
    """The same images, declaring nothing: a `reference` method alone offers nothing."""

    capabilities: frozenset = frozenset()


class BrokenCorners(Blob):
    """Declares known modes without having any centers: a broken declaration."""

    capabilities = frozenset({KNOWN_MODES, CONTINUOUS})


@pytest.fixture
def plugin() -> Iterator[None]:
    """Register the test's plugin datasets as a plugin module would, and remove them again after."""
    specs = [
        DatasetSpec("test-corners", "four Gaussians at the corners", "points", NoParams, Corners),
        DatasetSpec("test-blob", "one Gaussian", "points", NoParams, Blob),
        DatasetSpec("test-atom", "all mass at (1, 1)", "points", NoParams, Atom),
        DatasetSpec("test-broken", "declares modes it lacks", "points", NoParams, BrokenCorners),
        DatasetSpec("test-stripes", "twelve grey images", "images", ImageParams, Stripes),
        DatasetSpec("test-undeclared", "twelve grey images", "images", ImageParams, UndeclaredStripes),
    ]
    for spec in specs:
        DATASETS.add(spec.name, spec)
    try:
        yield
    finally:
        for spec in specs:
            DATASETS._entries.pop(spec.name, None)


SUITE = """
name = "capabilities"
description = "a plugin dataset's capabilities, for tests"
methods = ["{method}"]
datasets = ["{dataset}"]
seeds = 1
metrics = {metrics}

[train]
steps = 10
batch_size = 32
latent_dim = 2
width = 16
depth = 2
log_every = 5
track_every = 5

[eval]
samples = 200
track_samples = 50
"""


def _suite(folder: Path, dataset: str, metrics: list[str], method: str = "gan") -> Path:
    path = folder / "capabilities.toml"
    text = SUITE.format(method=method, dataset=dataset, metrics=json.dumps(metrics))
    path.write_text(text, encoding="utf-8")
    return path


def _run(suite: Path, out: Path):
    return CliRunner().invoke(app, ["run", "--suite", str(suite), "--out", str(out), "--device", "cpu"])


# ----------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("dataset", "metric", "method", "capability", "wanted"),
    [
        ("test-blob", MODES_COVERED, "gan", KNOWN_MODES, "a Gaussian mixture with known modes"),
        ("test-atom", DENSITY, "gan", CONTINUOUS, "true samples that are never all one point"),
        ("test-undeclared", "coverage-lenet", "dcgan", IMAGE_SOURCE, "real images to compare against"),
    ],
)
@pytest.mark.usefixtures("plugin")
def test_a_dataset_without_the_capability_a_metric_needs_is_refused_in_one_line(
    tmp_path: Path, dataset: str, metric: str, method: str, capability, wanted: str
) -> None:
    out = tmp_path / "run"
    suite = _suite(tmp_path, dataset, [metric], method)
    result = _run(suite, out)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.endswith(
        f": metric '{metric}' cannot score dataset '{dataset}': it needs {wanted} "
        f"(capability '{capability.name}'), which '{dataset}' does not declare"
    ), line
    assert not out.exists()


@pytest.mark.usefixtures("plugin")
def test_a_declaration_without_the_attributes_it_promises_is_refused_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = _run(_suite(tmp_path, "test-broken", [MODES_COVERED]), out)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.endswith(
        "dataset 'test-broken' declares capability 'known-modes' but has no 'centers', 'std', 'n_modes'"
    )
    assert not out.exists()


@pytest.mark.usefixtures("plugin")
def test_the_declaration_decides_not_the_attributes(tmp_path: Path) -> None:
    # UndeclaredStripes has every attribute of an image source, and offers none; Stripes declares it.
    assert declared(UndeclaredStripes()) == frozenset() and IMAGE_SOURCE.of(UndeclaredStripes()) is None
    stripes = Stripes()
    assert IMAGE_SOURCE.of(stripes) is stripes and IMAGE_SOURCE.missing(stripes) == []
    suite = _suite(tmp_path, "test-stripes", ["coverage-lenet", "density-lenet"], "dcgan")
    result = CliRunner().invoke(app, ["validate", str(suite)])
    assert result.exit_code == 0, result.output


# ----------------------------------------------------------------------------- declared: known modes


@pytest.mark.usefixtures("plugin")
def test_mode_metrics_score_a_declared_mixture_by_hand() -> None:
    corners = Corners()
    centers = corners.centers.numpy()
    # 20 samples on corner 0, 10 on corners 1 and 2, none on 3, and 10 at (5, 5): far from every
    # corner (4 sqrt(2) = 5.7 from corner 3, its nearest, over 3 std = 0.15), so low quality.
    samples = np.concatenate(
        [np.repeat(centers[[0]], 20, 0), np.repeat(centers[[1, 2]], 10, 0), np.full((10, 2), 5.0)]
    )
    ctx = EvalContext(samples, corners, seed=0, dataset_id="test-corners")
    values = {
        name: METRICS.get(name).compute(ctx).value
        for name in (MODES_COVERED, HIGH_QUALITY_FRACTION, REVERSE_KL)
    }
    assert values[MODES_COVERED] == 3  # corner 3 has only low-quality samples
    assert values[HIGH_QUALITY_FRACTION] == pytest.approx(40 / 50)
    # Nearest-corner histogram p = (20, 10, 10, 10) / 50; KL(p || 1/4) = sum p log(4 p).
    assert values[REVERSE_KL] == pytest.approx(0.4 * math.log(1.6) + 3 * 0.2 * math.log(0.8))


@pytest.mark.e2e
@pytest.mark.usefixtures("plugin")
def test_a_run_on_a_declared_mixture_tracks_and_flags_its_modes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    metrics = [MODES_COVERED, HIGH_QUALITY_FRACTION, REVERSE_KL, DENSITY, COVERAGE]
    result = _run(_suite(tmp_path, "test-corners", metrics), out)
    assert result.exit_code == 0, result.output
    (path,) = (out / "jobs").glob("gan__test-corners__seed*.json")
    job = json.loads(path.read_text())
    assert job["status"] == "ok"
    assert 0 <= job["metrics"][MODES_COVERED]["value"] <= 4
    for name in metrics:
        assert math.isfinite(job["metrics"][name]["value"]), name
    # The worker and the tracking observer asked the declaration: mode curves, the W1 floor, the flags.
    assert job["curves"]["step"] == [0, 5, 10]
    assert len(job["curves"][MODES_CURVE]) == len(job["curves"][HQ_CURVE]) == 3
    assert job["extra"]["w1_noise_floor"] > 0
    # 10 steps leave the samples near the origin, far from every corner: the verdict flags it.
    assert "off-modes" in job["flags"]
    assert job["dataset"]["centers"] == Corners().centers.tolist()


# ------------------------------------------------------------------------------ declared: continuous


def test_density_and_coverage_score_a_declared_continuous_dataset_by_hand() -> None:
    # True points x = 0..11 on a line; their k-NN radii (k = 5, the 5th nearest other point) are
    # 5, 4, 3, 3, 3, 3, 3, 3, 3, 3, 4, 5. Samples at x = j + 0.5, j = 0..11: never on a radius.
    # Coverage: every true point has the sample 0.5 away inside its ball: 1.
    # Density: sample j lies in ball i when |i - j - 0.5| < r_i; the balls hold 5, 5, 5 samples
    # (i = 0, 1, 2), 6 each for i = 3..9 and 6 for i = 10 and 11: 69, over k * 12 = 60.
    samples = np.stack([np.arange(12) + 0.5, np.zeros(12)], axis=1)
    ctx = EvalContext(samples, Line(), seed=0, dataset_id="line")
    assert METRICS.get(COVERAGE).compute(ctx).value == 1.0
    assert METRICS.get(DENSITY).compute(ctx).value == pytest.approx(69 / 60)


# ---------------------------------------------------------------------------- declared: image source


def _pixels(images: torch.Tensor, *_, **__) -> dict[str, torch.Tensor]:
    """A stand-in feature network: the pixels themselves, as float64 features."""
    return {"pixels": images.flatten(1).to(torch.float64)}


@pytest.mark.usefixtures("plugin")
def test_image_metrics_read_a_declared_image_source_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    pixels = Extractor(
        "test-pixels", "pixels", "pixels", lambda say: Path("unused"), layers={"fid": "pixels"}
    )
    monkeypatch.setattr(features, "resolve", lambda space: pixels)
    monkeypatch.setattr(features, "extract", _pixels)
    monkeypatch.setattr(
        features,
        "reference_features",
        lambda reference, *_: features.Extraction(_pixels(reference), False, 0.0),
    )
    # The reference: Stripes' 12 images, pixel value 10 i (i = 0..11); 16 pixels, so image i and j are
    # 40 |i - j| apart and the k-NN radii are 40 x (5, 4, 3, 3, 3, 3, 3, 3, 3, 3, 4, 5). Generated:
    # 6 images of pixel value 10 j + 5 (j = 0..5), 40 |i - j - 0.5| from image i, never on a radius.
    # Coverage: images 0..8 hold one (8: j = 5, 2.5 < 3), 9..11 none (3.5, 4.5, 5.5): 9 / 12.
    # Density: ball i holds 5, 5, 5, 6, 5, 4, 3, 2, 1, 0, 0, 0 of them: 36, over k * 6 = 30.
    generated = (10 * torch.arange(6, dtype=torch.float32) + 5).view(6, 1, 1, 1).expand(6, 1, 4, 4)
    ctx = EvalContext(
        (generated / 127.5 - 1).numpy(), Stripes(), seed=0, dataset_id="stripes", reference_count=12
    )
    assert METRICS.get("coverage-lenet").compute(ctx).value == pytest.approx(9 / 12)
    assert METRICS.get("density-lenet").compute(ctx).value == pytest.approx(36 / 30)
    # Scored without a suite's check (as `ganbench eval` may), an undeclared source is refused in one line.
    undeclared = EvalContext(
        ctx.samples, UndeclaredStripes(), seed=0, dataset_id="undeclared", reference_count=12
    )
    with pytest.raises(Exception, match="capability 'image-source'") as caught:
        METRICS.get("coverage-lenet").compute(undeclared)
    assert "\n" not in str(caught.value)


# ----------------------------------------------------------------- declared: tracks, dirac equilibrium


class Constant(nn.Module):
    """A generator whose every sample is `point`."""

    def __init__(self, point: list[float]) -> None:
        super().__init__()
        self.point = nn.Parameter(torch.tensor(point))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.point.expand(len(z), -1)


class Tracked(Corners):
    """Declares TRACKS: its own curve, the samples' mean first coordinate."""

    capabilities = frozenset({KNOWN_MODES, CONTINUOUS, TRACKS})

    def track(self, generated: torch.Tensor, critic: nn.Module) -> dict[str, float]:
        return {"mean-x": float(generated[:, 0].mean())}


class Untracked(Tracked):
    """The same `track` method, undeclared: tracking leaves it alone."""

    capabilities = frozenset({KNOWN_MODES, CONTINUOUS})


def test_tracking_adds_the_curves_of_a_dataset_that_declares_tracks() -> None:
    objective = METHODS.get("gan").objective
    generator, critic = Constant([0.25, -0.5]), nn.Linear(2, 1)
    tracked = w1_observer(objective, Tracked(), 40, 2, 0, CPU)(generator, critic)
    assert tracked["mean-x"] == pytest.approx(0.25)
    # (0.25, -0.5) is nearest corner (1, -1) at distance 0.9, over 3 std: one mode, none of quality.
    assert (tracked[MODES_CURVE], tracked[HQ_CURVE]) == (0.0, 0.0)
    untracked = w1_observer(objective, Untracked(), 40, 2, 0, CPU)(generator, critic)
    assert "mean-x" not in untracked and MODES_CURVE in untracked


class Origin:
    """A plugin Dirac-GAN dataset: the point mass at 0 on the real line, declaring its equilibrium."""

    modality = "points"
    capabilities = frozenset({DIRAC_EQUILIBRIUM})

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.zeros(n, 1, device=generator.device)


class Zeros(Origin):
    """The same points, without the declaration: the distance is not applicable."""

    capabilities: frozenset = frozenset()


def test_the_equilibrium_distance_scores_a_dataset_that_declares_the_dirac_equilibrium() -> None:
    critic = nn.Linear(1, 1)
    with torch.no_grad():
        critic.weight.fill_(0.75)
        critic.bias.fill_(0.125)
    samples = np.full((8, 1), 0.5)
    # theta = 0.5 (the samples' mean), psi = D(1) - D(0) = 0.75: sqrt(0.25 + 0.5625) = 0.901...
    value = METRICS.get(EQUILIBRIUM_DISTANCE).compute(EvalContext(samples, Origin(), 0, critic=critic))
    assert value.value == pytest.approx(math.hypot(0.5, 0.75))
    off = METRICS.get(EQUILIBRIUM_DISTANCE).compute(EvalContext(samples, Zeros(), 0, critic=critic))
    assert math.isnan(off.value) and off.note.startswith("n/a: ")


def test_every_built_in_dataset_declares_what_its_metrics_rely_on() -> None:
    # Points datasets build cheaply: their declarations are checked on the built object; image
    # datasets repeat theirs in the spec (suites are checked without loading images).
    for name in DATASETS.names():
        spec = DATASETS.get(name)
        if spec.modality == "points":
            built = spec.build(spec.params())
            assert spec.offered(spec.params()) == declared(built), name
            assert all(not capability.missing(built) for capability in declared(built)), name
        else:
            assert spec.capabilities is not None and IMAGE_SOURCE in spec.capabilities, name
    assert KNOWN_MODES in DATASETS.get("ring-8").offered(DATASETS.get("ring-8").params())
    assert DATASETS.get("dirac").offered(DATASETS.get("dirac").params()) == {TRACKS, DIRAC_EQUILIBRIUM}
