"""Shared fixtures: tiny suite files and a CLI runner."""

from __future__ import annotations

import gzip
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
# The official MNIST test set for tests and CI (docs/pages/development.md): ../shared/data/mnist beside the
# checkout, or the folder GANBENCH_TEST_MNIST names. Tests that need it skip, saying so, without it.
SHARED_MNIST = Path(os.environ.get("GANBENCH_TEST_MNIST", ROOT.parent / "shared" / "data" / "mnist"))

# The documentation: the README and the MkDocs site's pages (docs/mkdocs.yml, pages under docs/pages/).
DOCS = ROOT / "docs"


def docs_pages() -> list[Path]:
    """The README and every page of the documentation site, the README first."""
    return [ROOT / "README.md", *sorted((DOCS / "pages").rglob("*.md"))]


def docs_text() -> str:
    """The README and every documentation page as one text: where a fact the tests check is written."""
    return "\n\n".join(page.read_text(encoding="utf-8") for page in docs_pages())


TINY_SUITE = """
name = "tiny"
description = "tiny widths and few steps, for tests"
methods = {methods}
datasets = {datasets}
seeds = {seeds}
metrics = ["modes-covered", "high-quality-fraction", "reverse-kl", "w1"]

[train]
steps = {steps}
batch_size = 32
latent_dim = 2
width = 16
depth = 2
log_every = 5

[eval]
samples = 200

[quick]
steps = 3
samples = 100
"""


def write_idx(path: Path, data: np.ndarray, gz: bool = False) -> Path:
    """Write `data` (uint8, 1-D labels or 3-D images) in the idx format; `gz` appends .gz and compresses."""
    magic = 2051 if data.ndim == 3 else 2049  # 0x08 (uint8) << 8 | number of dimensions
    payload = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in data.shape)
    payload += data.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def write_fake_mnist(root: Path, n: int = 120, seed: int = 0) -> Path:
    """A fake MNIST test split under `root` (flat, gzipped, as in ../shared/data/mnist): `n` 28x28
    images, label i % 10, each a bright square at a position set by its label, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 40, size=(n, 28, 28))
    for i, label in enumerate(labels):
        row, col = 2 + 8 * (label // 4), 2 + 8 * (label % 4)
        images[i, row : row + 6, col : col + 6] = 255
    write_idx(root / "t10k-images-idx3-ubyte", images.astype(np.uint8), gz=True)
    write_idx(root / "t10k-labels-idx1-ubyte", labels.astype(np.uint8), gz=True)
    return root


TINY_IMAGE_SUITE = """
name = "tiny-images"
methods = {methods}
datasets = ["{dataset}"]
seeds = 1
metrics = {metrics}

[method.wgan]
architecture = "dcgan"

[method.wgan-gp]
architecture = "dcgan-gp"

[dataset.{dataset}]
split = "test"

[train]
steps = 2
batch_size = 8
latent_dim = 8
width = 4

[eval]
samples = {samples}
reference_samples = 100
"""


def write_tiny_image_suite(
    folder: Path, dataset: str, metrics: list[str], methods: tuple[str, ...] = ("dcgan",), samples: int = 40
) -> Path:
    """A tiny image suite (DCGAN nets of width 4, two steps) on the test split of `dataset`."""
    text = TINY_IMAGE_SUITE.format(
        methods=json.dumps(list(methods)), dataset=dataset, metrics=json.dumps(metrics), samples=samples
    )
    path = folder / "tiny-images.toml"
    path.write_text(text, encoding="utf-8")
    return path


def point_methods() -> list[str]:
    """Registered methods whose default networks are for 2-D points (the image ones have their own tests)."""
    from ganbench.models import ARCHITECTURES, METHODS

    return [
        name
        for name in METHODS.names()
        if ARCHITECTURES.get(METHODS.get(name).defaults.architecture).modality == "points"
    ]


def write_tiny_suite(
    folder: Path,
    methods: tuple[str, ...] = ("gan", "wgan"),
    datasets: tuple[str, ...] = ("ring-8",),
    seeds: int = 2,
    steps: int = 10,
    extra: str = "",
) -> Path:
    """A small valid suite file; `extra` is appended verbatim (for override tables)."""
    text = TINY_SUITE.format(
        methods=list(methods), datasets=list(datasets), seeds=seeds, steps=steps
    ).replace("'", '"')
    path = folder / "tiny.toml"
    path.write_text(text + extra, encoding="utf-8")
    return path


@pytest.fixture
def tiny_suite(tmp_path: Path) -> Path:
    return write_tiny_suite(tmp_path)


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ganbench cache folder for the whole test session: the digit classifier trains once."""
    return tmp_path_factory.mktemp("ganbench-cache")


@pytest.fixture
def real_mnist(session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared MNIST test split as the data root, with the session's cache; skips without it."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the MNIST test set is not in {SHARED_MNIST}; set GANBENCH_TEST_MNIST to its folder")
    monkeypatch.setenv("GANBENCH_DATA_ROOT", str(SHARED_MNIST))
    monkeypatch.setenv("GANBENCH_CACHE_DIR", str(session_cache))
    return SHARED_MNIST


@pytest.fixture(autouse=True)
def _paths_stay_as_they_were(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--data-root`, `--inception-weights` and `--cache-dir` export their paths for worker processes:
    undo that, so that no test reads a folder another test named (and deleted)."""
    from ganbench import paths

    for name in (paths.DATA_ROOT_ENV, paths.INCEPTION_WEIGHTS_ENV, paths.CACHE_DIR_ENV):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # recorded, so restored afterwards
        if not os.environ[name]:
            monkeypatch.delenv(name)  # unset during the test, as it was before


@pytest.fixture(autouse=True)
def _threads_stay_as_they_were(monkeypatch: pytest.MonkeyPatch):
    """`ganbench run` exports its thread choice (GANBENCH_THREADS) and sets torch's: undo both."""
    import torch

    threads = torch.get_num_threads()
    monkeypatch.setenv("GANBENCH_THREADS", str(threads))
    yield
    torch.set_num_threads(threads)
