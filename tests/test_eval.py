"""`ganbench eval`: score generators and sample files that ganbench did not train, and kept generators."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_tiny_suite
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.data import DATASETS
from ganbench.engine.streams import stream_seed
from ganbench.metrics import METRICS, EvalContext

METRIC_NAMES = ["modes-covered", "high-quality-fraction", "reverse-kl", "w1"]


def _invoke(cli: CliRunner, *args: str):
    result = cli.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _record(out: Path, key: str) -> dict:
    return json.loads((out / "jobs" / f"{key}.json").read_text())


def _values(record: dict) -> dict[str, float]:
    return {name: result["value"] for name, result in record["metrics"].items()}


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny trained run (gan on ring-8, two seeds) that kept its generators, and its suite file."""
    folder = tmp_path_factory.mktemp("kept")
    suite = write_tiny_suite(folder, methods=("gan",), seeds=2, steps=30)
    out = folder / "run"
    result = _invoke(CliRunner(), "run", "--suite", str(suite), "--out", str(out), "--keep-generators")
    assert result.exit_code == 0, result.output
    return out, suite


def test_a_sample_file_scores_exactly_what_the_metrics_give_on_its_array(
    cli: CliRunner, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    angles = rng.integers(0, 8, 300) * np.pi / 4
    points = np.stack([np.cos(angles), np.sin(angles)], 1) + rng.normal(0, 0.02, (300, 2))
    np.save(tmp_path / "mine.npy", points.astype(np.float32))
    out = tmp_path / "out"
    args = ["eval", "--samples", str(tmp_path / "mine.npy"), "--dataset", "ring-8", "--out", str(out)]
    result = _invoke(cli, *args, "--metrics", ",".join(METRIC_NAMES))
    assert result.exit_code == 0, result.output
    record = _record(out, "mine__ring-8__seed0")
    # By hand: the same array (float32, as stored, then float64) against seed 0's reference stream.
    dataset = DATASETS.get("ring-8").build(DATASETS.get("ring-8").params())
    ctx = EvalContext(points.astype(np.float32).astype(np.float64), dataset, stream_seed(0, "reference"))
    assert _values(record) == {name: METRICS.get(name).compute(ctx).value for name in METRIC_NAMES}
    assert record["config"]["source"] == {"kind": "samples"} and record["config"]["eval"]["samples"] == 300
    assert record["extra"]["input"]["path"] == str((tmp_path / "mine.npy").resolve())


@pytest.mark.e2e
def test_a_factory_with_a_trained_jobs_weights_gives_that_jobs_values(
    cli: CliRunner, tmp_path: Path, kept: tuple[Path, Path]
) -> None:
    run, suite = kept
    out = tmp_path / "out"
    checkpoints = [str(run / "generators" / f"gan__ring-8__seed{seed}.pt") for seed in (0, 1)]
    args = ["eval", "--generator", "eval_factory:tiny_mlp", "--latent-dim", "2", "--suite", str(suite)]
    args += [
        "--checkpoint",
        checkpoints[0],
        "--checkpoint",
        checkpoints[1],
        "--label",
        "mine",
        "--out",
        str(out),
    ]
    result = _invoke(cli, *args)
    assert result.exit_code == 0, result.output
    for seed in (0, 1):
        trained, scored = _record(run, f"gan__ring-8__seed{seed}"), _record(out, f"mine__ring-8__seed{seed}")
        assert _values(scored) == _values(trained) and scored["flags"] == trained["flags"]
    assert scored["config"]["source"] == {
        "kind": "generator",
        "generator": "eval_factory:tiny_mlp",
        "latent_dim": 2,
    }


@pytest.mark.e2e
def test_eval_from_run_reproduces_the_stored_values(
    cli: CliRunner, tmp_path: Path, kept: tuple[Path, Path]
) -> None:
    run, _ = kept
    out = tmp_path / "again"
    result = _invoke(cli, "eval", "--from-run", str(run), "--out", str(out))
    assert result.exit_code == 0, result.output
    for seed in (0, 1):
        key = f"gan__ring-8__seed{seed}"
        assert _values(_record(out, key)) == _values(_record(run, key))
        assert _record(out, key)["config"] == _record(run, key)["config"]
    # Fewer metrics, re-scored from the same generators: the values of those metrics again.
    result = _invoke(cli, "eval", "--from-run", str(run), "--metrics", "w1", "--out", str(tmp_path / "w1"))
    assert result.exit_code == 0, result.output
    assert _values(_record(tmp_path / "w1", "gan__ring-8__seed1")) == {
        "w1": _values(_record(run, "gan__ring-8__seed1"))["w1"]
    }
    # ... and compare sees the re-scored folder as the same setup, unchanged.
    assert _invoke(cli, "compare", str(run), str(out)).exit_code == 0


@pytest.mark.e2e
def test_the_kept_generator_file_loads_with_weights_only(kept: tuple[Path, Path]) -> None:
    run, _ = kept
    kept_file = torch.load(run / "generators" / "gan__ring-8__seed0.pt", weights_only=True)
    assert kept_file["format"] == "ganbench-generator-1" and kept_file["architecture"] == "mlp"
    assert (kept_file["latent_dim"], kept_file["width"], kept_file["depth"]) == (2, 16, 2)
    assert _record(run, "gan__ring-8__seed0")["extra"]["kept_generator"] == "generators/gan__ring-8__seed0.pt"


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda d: ["--generator", "no_such_module:f", "--latent-dim", "2"], "cannot import no_such_module"),
        (
            lambda d: ["--generator", "eval_factory:not_a_module", "--latent-dim", "2"],
            "not a torch.nn.Module",
        ),
        (lambda d: ["--generator", "eval_factory:tiny_mlp"], "needs --latent-dim"),
        (
            lambda d: [
                "--generator",
                "eval_factory:tiny_mlp",
                "--latent-dim",
                "2",
                "--checkpoint",
                str(d / "bad.pt"),
            ],
            "does not fit the generator",
        ),
        (lambda d: ["--samples", str(d / "wrong.npy")], "wrong.npy"),
        (lambda d: ["--samples", str(d / "empty")], "empty"),
        (lambda d: ["--samples", str(d / "strings.npy")], "strings.npy"),
        (
            lambda d: ["--samples", str(d / "wrong.npy"), "--generator", "eval_factory:tiny_mlp"],
            "exactly one of",
        ),
    ],
)
def test_bad_inputs_are_one_line_and_write_nothing(cli: CliRunner, tmp_path: Path, make, says: str) -> None:
    torch.save({"layer.weight": torch.zeros(3, 3)}, tmp_path / "bad.pt")
    np.save(tmp_path / "wrong.npy", np.zeros((10, 3), dtype=np.float32))  # 3 columns: not 2-D points
    np.save(tmp_path / "strings.npy", np.array([["a", "b"]] * 10))  # a dtype no metric reads
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    result = _invoke(
        cli, "eval", *make(tmp_path), "--dataset", "ring-8", "--metrics", "w1", "--out", str(out)
    )
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and says in line
    assert not out.exists()


MYGEN = """
from torch import nn


def ring():
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
"""


def test_a_factory_in_the_current_folder_imports_as_python_m_finds_it(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `ganbench eval --generator mygen:ring` where mygen.py is, without PYTHONPATH; sys.path is left as
    # it was, after a scored run and after a refused one.
    (tmp_path / "mygen.py").write_text(MYGEN, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "mygen", raising=False)
    before = list(sys.path)
    try:
        args = ["--latent-dim", "2", "--dataset", "ring-8", "--metrics", "w1"]
        result = _invoke(cli, "eval", "--generator", "mygen:ring", *args, "--out", "out")
        assert result.exit_code == 0, result.output
        assert _record(tmp_path / "out", "ring__ring-8__seed0")["status"] == "ok"
        assert sys.path == before
        result = _invoke(cli, "eval", "--generator", "mygen:missing", *args, "--out", "again")
        assert result.exit_code == 2 and "mygen has no callable 'missing'" in result.stderr
        assert sys.path == before and not (tmp_path / "again").exists()
    finally:
        sys.modules.pop("mygen", None)


def test_names_with_emoji_codes_and_markup_print_as_typed(cli: CliRunner, tmp_path: Path) -> None:
    # rich would print `:ring:` as an emoji and drop `[bold]` as a style: both on stdout and on stderr.
    np.save(tmp_path / "mine.npy", np.zeros((20, 2), dtype=np.float32))
    out = tmp_path / "out:ring:[bold]x[/bold]"
    args = ["eval", "--samples", str(tmp_path / "mine.npy"), "--dataset", "ring-8", "--metrics", "w1"]
    result = _invoke(cli, *args, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"results in {out}" in result.stdout
    args = ["eval", "--generator", "no_such_module:ring:[bold]", "--latent-dim", "2", "--dataset", "ring-8"]
    result = _invoke(cli, *args, "--metrics", "w1", "--out", str(tmp_path / "never"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --generator no_such_module:ring:[bold]: cannot import")


@pytest.mark.parametrize(
    ("factory", "latent", "says"),
    [
        ("tiny_mlp", "3", "eval_factory:tiny_mlp takes latent codes of size 2, not --latent-dim 3 ("),
        ("three_columns", "2", "latent codes): shape (2, 3); expected points (N, 2) for ring-8"),
        ("flat", "2", "latent codes): shape (2,); expected points (N, 2) for ring-8"),
    ],
    ids=["latent-size", "three-columns", "flat"],
)
def test_a_generator_that_does_not_fit_is_refused_before_any_folder_exists(
    cli: CliRunner, tmp_path: Path, factory: str, latent: str, says: str
) -> None:
    # A test batch runs through the network first: one line and exit 2, not a folder of failed jobs.
    out = tmp_path / "out"
    args = ["eval", "--generator", f"eval_factory:{factory}", "--latent-dim", latent, "--seeds", "3"]
    result = _invoke(cli, *args, "--dataset", "ring-8", "--metrics", "w1", "--out", str(out))
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: --generator ") and says in line
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.e2e
def test_image_generators_kept_and_rescored_with_the_digit_classifier(cli: CliRunner, tmp_path: Path) -> None:
    # DCGAN on a fake MNIST: a kept convolutional generator rebuilds, and fid-lenet/kid-lenet come back
    # exactly; the samples saved as PNG files score as a folder of images.
    from conftest import write_fake_mnist, write_tiny_image_suite
    from torchvision.io import write_png

    data, cache = write_fake_mnist(tmp_path / "mnist"), tmp_path / "cache"
    suite = write_tiny_image_suite(tmp_path, "mnist", ["fid-lenet", "kid-lenet"])
    common = ["--data-root", str(data), "--cache-dir", str(cache)]
    run = tmp_path / "run"
    result = _invoke(cli, "run", "--suite", str(suite), *common, "--out", str(run), "--keep-generators")
    assert result.exit_code == 0, result.output
    result = _invoke(cli, "eval", "--from-run", str(run), *common, "--out", str(tmp_path / "again"))
    assert result.exit_code == 0, result.output
    key = "dcgan__mnist__seed0"
    assert _values(_record(tmp_path / "again", key)) == _values(_record(run, key))

    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, image in enumerate(torch.from_numpy(np.load(run / "samples" / f"{key}.npy"))):
        write_png(image, str(folder / f"{i:03d}.png"))
    args = ["eval", "--samples", str(folder), "--suite", str(suite), "--label", "pngs", *common]
    result = _invoke(cli, *args, "--out", str(tmp_path / "pngs-run"))
    assert result.exit_code == 0, result.output
    scored = _record(tmp_path / "pngs-run", "pngs__mnist__seed0")
    assert scored["status"] == "ok" and scored["config"]["eval"]["samples"] == 40
    assert scored["metrics"]["fid-lenet"]["counts"] == {"generated": 40, "reference": 100}


def test_fewer_images_than_a_metric_needs_are_refused(cli: CliRunner, tmp_path: Path) -> None:
    # precision/recall take each sample's third nearest neighbour (k = 3): 3 images cannot be scored.
    from conftest import write_fake_mnist, write_tiny_image_suite

    data = write_fake_mnist(tmp_path / "mnist")
    suite = write_tiny_image_suite(tmp_path, "mnist", ["fid-lenet", "precision-lenet"])
    np.save(tmp_path / "three.npy", np.zeros((3, 1, 28, 28), dtype=np.uint8))
    out = tmp_path / "out"
    args = ["eval", "--samples", str(tmp_path / "three.npy"), "--suite", str(suite), "--data-root", str(data)]
    result = _invoke(cli, *args, "--cache-dir", str(tmp_path / "cache"), "--out", str(out))
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert "three.npy" in line and "at least 4" in line and not out.exists()
