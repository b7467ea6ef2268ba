"""Files that torch-fidelity unpickles (its cache entries, the weights) are checked before it loads them."""

from __future__ import annotations

import pathlib
import random
from pathlib import Path

import pytest
import torch
from conftest import write_fake_mnist, write_tiny_image_suite
from typer.testing import CliRunner

from ganbench import paths
from ganbench.cli import app
from ganbench.errors import GanbenchError
from ganbench.metrics import fidelity
from ganbench.metrics.fidelity import LENET, fidelity_scores


class Poison:
    """Unpickling it (weights_only=False) creates the marker file: a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def _poison(path: Path, marker: Path) -> Path:
    torch.save({"mu": Poison(marker)}, path)
    return path


@pytest.fixture
def fake_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake MNIST split (the digit classifier trains on it in about a second) and an own cache folder."""
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(write_fake_mnist(tmp_path / "mnist")))
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path / "cache"))
    return tmp_path


def _digits(seed: int, n: int) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8
    )


def _lenet(generated: torch.Tensor, reference: torch.Tensor) -> fidelity.FidelityResult:
    # FID and KID: torch-fidelity loads both the cached features and the cached FID statistics.
    return fidelity_scores(generated, reference, "poison", LENET, {"fid", "kid", "prc"})


@pytest.mark.parametrize("entry", ["features-features", "stat-fid-features"])
def test_a_poisoned_cache_entry_is_a_miss_not_code(
    fake_mnist: Path, capsys: pytest.CaptureFixture[str], entry: str
) -> None:
    generated, reference = _digits(1, 50), _digits(2, 60)
    clean = _lenet(generated, reference)
    files = sorted(fidelity.cache_root().glob("ganbench-poison-*.pt"))
    assert [f.name.rsplit("-ganbench-lenet-", 1)[1] for f in files] == [
        "features-features.pt",
        "stat-fid-features.pt",
    ], "torch-fidelity's cache names changed: the poison must replace a file it loads"
    target = next(f for f in files if f.name.endswith(f"-{entry}.pt"))
    marker = fake_mnist / "marker"
    _poison(target, marker)
    torch.load(target, weights_only=False)  # the poison is live: torch-fidelity's loader would run it
    assert marker.exists()
    marker.unlink()
    capsys.readouterr()

    again = _lenet(generated, reference)

    assert not marker.exists()
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"warning: ignoring unsafe or unreadable cache file {target} (refused by ")
    assert line.endswith("; recomputing")
    assert again.scores == clean.scores
    fidelity._safe_load(target)  # recomputed and cached again: a clean entry
    assert _lenet(generated, reference).scores == clean.scores
    assert capsys.readouterr().err == ""


def test_a_file_swapped_after_the_check_is_never_read(
    fake_mnist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race a shared cache allows: another user replaces an entry (or the weights) between ganbench's
    # check and torch-fidelity's load. torch-fidelity reads only the private copies, so nothing runs.
    generated, reference = _digits(1, 50), _digits(2, 60)
    clean = _lenet(generated, reference)
    shared = sorted(fidelity.cache_root().glob("ganbench-poison-*.pt")) + [fidelity.lenet_weights()]
    marker = fake_mnist / "marker"
    torch_fidelity = fidelity._torch_fidelity()
    real = torch_fidelity.calculate_metrics
    seen: dict[str, str] = {}

    def swap_then_calculate(**kwargs):
        for path in shared:
            _poison(path, marker)
        seen.update(cache=kwargs["cache_root"], weights=kwargs["feature_extractor_weights_path"])
        return real(**kwargs)

    monkeypatch.setattr(torch_fidelity, "calculate_metrics", swap_then_calculate)
    again = fidelity_scores(generated, reference, "poison", LENET, {"fid", "kid", "prc"})
    assert not marker.exists()
    assert again.scores == clean.scores and again.cached
    private = Path(seen["cache"]).parent
    assert Path(seen["weights"]).parent == private and not private.exists(), "a private folder, then gone"


def _bad_weights(kind: str, path: Path, marker: Path) -> Path:
    if kind == "poison":
        return _poison(path, marker)
    if kind == "garbage":
        path.write_bytes(random.Random(0).randbytes(4096))
    else:
        torch.save({"conv.weight": torch.zeros(3, 3)}, path)
    return path


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("poison", "cannot be loaded safely: refused by torch.load(weights_only=True)"),
        ("garbage", "cannot be loaded safely"),
        ("wrong-keys", "does not fit the inception-v3-compat network: Missing key(s)"),
    ],
)
def test_bad_inception_weights_stop_the_run_before_training(
    fake_mnist: Path, monkeypatch: pytest.MonkeyPatch, cli: CliRunner, kind: str, says: str
) -> None:
    marker = fake_mnist / "marker"
    weights = _bad_weights(kind, fake_mnist / "inception.pth", marker)
    # The run exports its paths to the environment: monkeypatch restores them afterwards.
    monkeypatch.setenv(paths.INCEPTION_WEIGHTS_ENV, str(weights))
    suite = write_tiny_image_suite(fake_mnist, "mnist", ["fid"], samples=20)
    out = fake_mnist / "out"
    args = ["run", "--suite", str(suite), "--data-root", str(fake_mnist / "mnist")]
    args += ["--cache-dir", str(fake_mnist / "cache"), "--out", str(out), "--inception-weights", str(weights)]

    result = cli.invoke(app, args)

    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: weights file {weights} ") and says in line
    assert not marker.exists()
    assert not out.exists(), "nothing is trained or written before the weights are checked"


def test_the_lenet_weights_check(fake_mnist: Path) -> None:
    real = fidelity.lenet_weights()
    fidelity.check_weights(LENET, real)  # ganbench's own trained classifier passes

    state = torch.load(real, weights_only=True)
    del state["fc2.bias"]
    missing = fake_mnist / "missing-key.pt"
    torch.save(state, missing)
    with pytest.raises(GanbenchError, match=r"does not fit the ganbench-lenet network") as err:
        fidelity.check_weights(LENET, missing)
    assert str(missing) in str(err.value) and '"fc2.bias"' in str(err.value)

    state = torch.load(real, weights_only=True)
    state["fc2.bias"] = torch.zeros(11)
    torch.save(state, missing)
    with pytest.raises(GanbenchError, match=r"size mismatch for fc2\.bias"):
        fidelity.check_weights(LENET, missing)

    torch.save(list(state.values()), missing)
    with pytest.raises(GanbenchError, match=r"holds a list, not a state dict"):
        fidelity.check_weights(LENET, missing)
