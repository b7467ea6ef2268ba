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
from ganbench.metrics.fidelity import LENET, cache, extractors, fidelity_features
from ganbench.metrics.fidelity.fid import frechet_distance
from ganbench.metrics.fidelity.kid import kid
from ganbench.metrics.fidelity.precision_recall import precision_recall


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


def _lenet(generated: torch.Tensor, reference: torch.Tensor) -> tuple[dict[str, float], bool]:
    """FID, KID, precision and recall in the classifier's features, and whether the reference's came
    from the cache."""
    found = fidelity_features(generated, reference, "poison", LENET)
    pair = (found.generated, found.reference)
    scores = {"fid": frechet_distance(*pair), "kid": kid(*pair, seed=0), **precision_recall(*pair)}
    return scores, found.cached


def test_a_poisoned_cache_entry_is_a_miss_not_code(
    fake_mnist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generated, reference = _digits(1, 50), _digits(2, 60)
    clean, _ = _lenet(generated, reference)
    (target,) = sorted(cache.cache_root().glob("ganbench-poison-*.pt"))
    assert "-lenet-fc1-w" in target.name, "one entry: the reference's features, keyed by the weights"
    marker = fake_mnist / "marker"
    _poison(target, marker)
    torch.load(target, weights_only=False)  # the poison is live: an unchecked loader would run it
    assert marker.exists()
    marker.unlink()
    capsys.readouterr()

    again, cached = _lenet(generated, reference)

    assert not marker.exists() and not cached
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"warning: ignoring unsafe or unreadable cache file {target} (refused by ")
    assert line.endswith("; recomputing")
    assert again == clean
    extractors.safe_load(target)  # recomputed and cached again: a clean entry
    assert _lenet(generated, reference) == (clean, True)
    assert capsys.readouterr().err == ""


def test_a_file_swapped_after_the_check_is_never_read(
    fake_mnist: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The race a shared cache allows: another user replaces an entry (or the weights) between ganbench's
    # check and torch-fidelity's load. torch-fidelity reads only the private copy of the weights, and
    # cache entries are read by the safe loader alone, so nothing runs.
    import torch_fidelity.utils

    generated, reference = _digits(1, 50), _digits(2, 60)
    clean, _ = _lenet(generated, reference)
    shared = sorted(cache.cache_root().glob("ganbench-poison-*.pt")) + [extractors.lenet_weights()]
    marker = fake_mnist / "marker"
    real = torch_fidelity.utils.create_feature_extractor
    seen: list[str] = []

    def swap_then_create(name, layers, **kwargs):
        for path in shared:
            _poison(path, marker)
        seen.append(kwargs["feature_extractor_weights_path"])
        return real(name, layers, **kwargs)

    monkeypatch.setattr(torch_fidelity.utils, "create_feature_extractor", swap_then_create)
    with pytest.raises(GanbenchError, match="cannot be loaded safely"):
        _lenet(generated, reference)  # the weights were swapped: the next check refuses them
    assert not marker.exists()
    private = Path(seen[0]).parent
    assert private.name.startswith("ganbench-fidelity-") and not private.exists(), (
        "a private folder, then gone"
    )
    assert str(private) not in {str(p.parent) for p in shared}


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
    real = extractors.lenet_weights()
    extractors.check_weights(LENET, real)  # ganbench's own trained classifier passes

    state = torch.load(real, weights_only=True)
    del state["fc2.bias"]
    missing = fake_mnist / "missing-key.pt"
    torch.save(state, missing)
    with pytest.raises(GanbenchError, match=r"does not fit the ganbench-lenet network") as err:
        extractors.check_weights(LENET, missing)
    assert str(missing) in str(err.value) and '"fc2.bias"' in str(err.value)

    state = torch.load(real, weights_only=True)
    state["fc2.bias"] = torch.zeros(11)
    torch.save(state, missing)
    with pytest.raises(GanbenchError, match=r"size mismatch for fc2\.bias"):
        extractors.check_weights(LENET, missing)

    torch.save(list(state.values()), missing)
    with pytest.raises(GanbenchError, match=r"holds a list, not a state dict"):
        extractors.check_weights(LENET, missing)
