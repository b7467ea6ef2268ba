"""Hostile input to `ganbench eval`: misbehaving generators, sample files and kept generators, bombs,
bounds, resuming, interrupts and terminal text; each a reproduced finding, plus a Hypothesis fuzz."""

from __future__ import annotations

import io
import json
import shutil
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import hostile_factories
import numpy as np
import pytest
import torch
from conftest import write_tiny_suite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ganbench.cli import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_JOBS_FAILED, app
from ganbench.data.external import load_samples
from ganbench.errors import GanbenchError
from ganbench.limits import MAX_IMAGE_PIXELS, MAX_SAMPLES, MAX_SEEDS

POINTS = ["--dataset", "ring-8", "--metrics", "modes-covered"]


def _invoke(cli: CliRunner, *args: str):
    result = cli.invoke(app, [str(a) for a in args])
    # An uncaught exception (a traceback) is never an answer; typer.Exit is a SystemExit.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _one_error_line(result) -> str:
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def _status(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "jobs").glob("*.json")}


def _reads(cli: CliRunner, out: Path) -> None:
    """The folder's own reader accepts it: `report` rebuilds its tables."""
    result = _invoke(cli, "report", out)
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------- generators that misbehave


@pytest.mark.parametrize(
    ("factory", "named"),
    [
        ("raises", "the factory failed (RuntimeError: factory exploded)"),
        ("exits", "the factory failed (it called sys.exit(0))"),
    ],
)
def test_a_factory_that_raises_or_exits_is_one_line_and_writes_nothing(
    cli: CliRunner, tmp_path: Path, factory: str, named: str
) -> None:
    out = tmp_path / "out"
    result = _invoke(cli, "eval", "--generator", f"hostile_factories:{factory}", "--latent-dim", 2, *POINTS,
                     "--out", out)  # fmt: skip
    line = _one_error_line(result)
    assert f"--generator hostile_factories:{factory}" in line and named in line
    assert not out.exists()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("factory", "reason"),
    [
        ("exits_in_forward", "the generator called sys.exit(0)"),
        ("three_columns_later", "returned shape (1000, 3) for 1000 latent codes; expected (1000, 2)"),
        ("flat_later", "returned shape (1000,) for 1000 latent codes; expected (1000, 2)"),
        ("five_rows", "returned shape (5, 2) for 1000 latent codes; expected (1000, 2)"),
    ],
)
def test_a_generator_that_misbehaves_on_real_batches_fails_its_record_and_the_folder_reads(
    cli: CliRunner, tmp_path: Path, factory: str, reason: str
) -> None:
    out = tmp_path / "out"
    result = _invoke(cli, "eval", "--generator", f"hostile_factories:{factory}", "--latent-dim", 2, *POINTS,
                     "--out", out)  # fmt: skip
    assert result.exit_code == EXIT_JOBS_FAILED, result.output
    (record,) = _status(out).values()
    assert record["status"] == "failed" and reason in record["reason"]
    assert not list(out.glob("samples/*"))  # nothing the folder's reader would refuse is kept
    _reads(cli, out)


def test_a_failed_record_is_retried_and_can_succeed(cli: CliRunner, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    args = ["eval", "--generator", "hostile_factories:configured", "--latent-dim", 2, *POINTS, "--out", out]
    monkeypatch.setitem(hostile_factories.BEHAVIOUR, "kind", "exit")
    monkeypatch.setitem(hostile_factories.BEHAVIOUR, "from_batch", 3)
    assert _invoke(cli, *args).exit_code == EXIT_JOBS_FAILED
    monkeypatch.setitem(hostile_factories.BEHAVIOUR, "kind", "ok")
    result = _invoke(cli, *args)
    assert result.exit_code == 0, result.output
    assert [r["status"] for r in _status(out).values()] == ["ok"]


# ------------------------------------------------------------------------------------------- bounds


@pytest.mark.parametrize("seeds", [MAX_SEEDS + 1, 100_000, 0, -3])
def test_seeds_out_of_range_are_refused_before_any_folder(cli: CliRunner, tmp_path: Path, seeds: int) -> None:
    out = tmp_path / "out"
    result = _invoke(cli, "eval", "--generator", "hostile_factories:ok", "--latent-dim", 2, *POINTS,
                     "--seeds", seeds, "--out", out)  # fmt: skip
    assert f"--seeds must be 1..{MAX_SEEDS:,} (got {seeds})" in _one_error_line(result)
    assert not out.exists()


def test_seeds_with_sample_files_are_refused(cli: CliRunner, tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((300, 2), np.float32))
    result = _invoke(
        cli, "eval", "--samples", tmp_path / "a.npy", *POINTS, "--seeds", 3, "--out", tmp_path / "o"
    )
    assert "--seeds is for --generator" in _one_error_line(result)


def _npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()  # magic, version and header: what np.save writes before the data


def _sample_file(kind: str, folder: Path) -> Path:
    """The hostile sample files of the findings."""
    if kind == "too-many":
        path = folder / "many.npy"
        np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(MAX_SAMPLES + 1, 2))
    elif kind == "beyond-w1":
        path = folder / "w1.npy"
        np.save(path, np.random.default_rng(0).normal(size=(50_001, 2)).astype(np.float32))
    elif kind == "npz-bomb":  # 248 bytes claiming (10^11, 2) float32: 800 GB
        path = folder / "bomb.npz"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("samples.npy", _npy_header((10**11, 2)))
    elif kind == "pt-bomb":  # a torch file whose zip member inflates to 8 MB of zeros
        path = folder / "bomb.pt"
        torch.save(torch.zeros(300, 2), path)
        with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("bomb/data/9", b"\0" * 8 * 2**20)
    else:  # "npz-truncated": a member whose data ends early
        path = folder / "cut.npz"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("samples.npy", _npy_header((600, 2)) + b"\0" * 100)
    return path


@pytest.mark.parametrize(
    ("kind", "metrics", "named"),
    [
        ("too-many", "modes-covered", f"holds {MAX_SAMPLES + 1:,} samples; at most {MAX_SAMPLES:,}"),
        (
            "beyond-w1",
            "modes-covered,w1",
            "holds 50,001 samples; at most 50,000 (what metric 'w1' can score)",
        ),
        ("npz-bomb", "modes-covered", f"holds {10**11:,} samples; at most {MAX_SAMPLES:,}"),
        ("npz-truncated", "modes-covered", "unreadable or truncated"),
        ("pt-bomb", "w1", "its archive claims 8,"),
    ],
)
def test_sample_files_beyond_the_bounds_or_lying_are_refused_from_their_header(
    cli: CliRunner, tmp_path: Path, kind: str, metrics: str, named: str
) -> None:
    path, out = _sample_file(kind, tmp_path), tmp_path / "out"
    result = _invoke(
        cli, "eval", "--samples", path, "--dataset", "ring-8", "--metrics", metrics, "--out", out
    )
    line = _one_error_line(result)
    assert str(path) in line and named in line and "unpickle" not in line
    assert not out.exists()


@pytest.mark.e2e
def test_a_metric_cap_applies_to_kept_generators_too(cli: CliRunner, tmp_path: Path) -> None:
    run = _kept_run(cli, tmp_path)
    record_file = next((run / "jobs").glob("*.json"))
    record = json.loads(record_file.read_text())
    record["config"]["eval"]["samples"] = 75_000  # a hand-edited folder: input like any other
    record_file.write_text(json.dumps(record))
    result = _invoke(cli, "eval", "--from-run", run, "--metrics", "w1", "--out", tmp_path / "again")
    assert "is more than metric 'w1' can score (50,000)" in _one_error_line(result)
    assert not (tmp_path / "again").exists()


# -------------------------------------------------------------------------------------- image bombs


def _png(path: Path, width: int, height: int) -> Path:
    """A valid PNG header claiming `width` x `height` gray pixels, with almost no data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def _bmp(path: Path, width: int, height: int) -> Path:
    """A BMP header (54 bytes) claiming `width` x `height` RGB pixels."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    path.write_bytes(b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + info)
    return path


@pytest.fixture
def mnist_like():
    """An image dataset of 1 x 28 x 28 samples that needs no files (load_samples reads its shape)."""

    class Digits:
        modality = "images"
        image_shape = (1, 28, 28)

    return Digits()


@pytest.mark.parametrize(
    ("make", "claimed"),
    [
        (lambda p: _bmp(p / "a.bmp", 100_000, 100_000), "10,000,000,000"),
        (lambda p: _png(p / "a.png", 200_000, 200_000), "40,000,000,000"),
        (lambda p: _png(p / "a.png", 20_000, 20_000), "400,000,000"),
        (lambda p: _png(p / "a.png", 3_000, 3_000), "3,000x3,000"),  # below PIL's own bound, above ganbench's
    ],
)
def test_image_bombs_are_refused_from_their_header_without_decoding(
    tmp_path: Path, mnist_like, monkeypatch, make, claimed: str
) -> None:
    folder = tmp_path / "samples"
    folder.mkdir()
    bomb = make(folder)
    shutil.copy(bomb, folder / f"b{bomb.suffix}")  # two files: the metrics need at least two

    def never(*args, **kwargs):
        raise AssertionError("a pixel was decoded")

    monkeypatch.setattr("torchvision.io.decode_image", never)
    with pytest.raises(GanbenchError) as err:
        load_samples(folder, mnist_like, 2, name="mnist")
    assert f"claims {claimed} pixels" in str(err.value) and f"at most {MAX_IMAGE_PIXELS:,}" in str(err.value)


def test_an_image_of_another_size_is_refused_before_decoding(tmp_path: Path, mnist_like, monkeypatch) -> None:
    folder = tmp_path / "samples"
    folder.mkdir()
    for name in "ab":
        _png(folder / f"{name}.png", 30, 32)
    monkeypatch.setattr("torchvision.io.decode_image", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(GanbenchError, match="got a 32x30 image"):
        load_samples(folder, mnist_like, 2, name="mnist")


def test_the_folder_dataset_refuses_an_image_bomb(cli: CliRunner, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    _png(images / "huge.png", 20_000, 20_000)
    suite = tmp_path / "folder.toml"
    suite.write_text(
        f'name = "folder"\nmethods = ["dcgan"]\ndatasets = ["folder"]\nseeds = 1\nmetrics = ["fid-lenet"]\n'
        f'[dataset.folder]\npath = "{images.as_posix()}"\n'
    )
    result = _invoke(cli, "run", "--suite", suite, "--out", tmp_path / "out", "--steps", 1)
    assert "claims 400,000,000 pixels" in _one_error_line(result)


# --------------------------------------------------------------------------------- kept generators


def _kept_run(cli: CliRunner, tmp_path: Path) -> Path:
    suite = write_tiny_suite(tmp_path, methods=("gan",), seeds=1, steps=5)
    run = tmp_path / "run"
    result = _invoke(cli, "run", "--suite", suite, "--out", run, "--keep-generators")
    assert result.exit_code == 0, result.output
    return run


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"depth": 10**6}, "depth must be <= 64 (got 1000000)"),
        ({"pack": 1e9}, "pack must be an integer"),
        ({"pack": 10**9}, "pack must be <= 64"),
        ({"width": 10**9}, "width must be <= 16,384"),
        ({"latent_dim": -1}, "latent_dim must be >= 1"),
        ({"data_shape": [3, 100_000, 100_000]}, "data_shape [3, 100000, 100000] is neither points"),
        ({"data_shape": [3]}, "does not rebuild"),  # the weights are a 2-D net's
        ({"architecture": 7}, "does not rebuild"),
    ],
)
def test_kept_generators_sizes_are_checked_before_anything_is_built(
    cli: CliRunner, tmp_path: Path, change: dict, named: str
) -> None:
    run = _kept_run(cli, tmp_path)
    (path,) = (run / "generators").glob("*.pt")
    kept = torch.load(path, weights_only=True)
    torch.save({**kept, **change}, path)
    result = _invoke(cli, "eval", "--from-run", run, "--out", tmp_path / "again")
    line = _one_error_line(result)
    assert str(path) in line and named in line
    assert not (tmp_path / "again").exists()


# ------------------------------------------------------------------------------ resuming, interrupts


def test_a_multi_file_eval_resumes(cli: CliRunner, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    files = [tmp_path / "a600.npy", tmp_path / "b700.npy"]
    for path, n in zip(files, (600, 700), strict=True):
        np.save(path, rng.normal(size=(n, 2)).astype(np.float32))
    args = ["eval", "--samples", files[0], "--samples", files[1], *POINTS, "--out", tmp_path / "out"]
    assert _invoke(cli, *args).exit_code == 0
    again = _invoke(cli, *args)
    assert again.exit_code == 0, again.output
    # A file of another count for a seed already scored is still refused, naming that job.
    np.save(files[1], rng.normal(size=(650, 2)).astype(np.float32))
    assert "eval.samples: 700 != 650" in _one_error_line(_invoke(cli, *args))


def test_ctrl_c_during_eval_says_what_is_stored_and_how_to_resume(
    cli: CliRunner, tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "out"
    args = [
        "eval",
        "--generator",
        "hostile_factories:interrupted",
        "--latent-dim",
        "2",
        *POINTS,
        "--out",
        str(out),
    ]
    monkeypatch.setattr(sys, "argv", ["ganbench", *args])
    result = _invoke(cli, *args)
    assert result.exit_code == EXIT_INTERRUPTED
    (line,) = result.stderr.splitlines()
    assert "interrupted during scoring: 0 of 1 jobs are stored in" in line
    assert line.endswith(f"start again with: ganbench {' '.join(args)}")  # no record yet


def test_ctrl_c_in_report_says_the_command_that_writes_it_again(
    cli: CliRunner, tmp_path: Path, monkeypatch
) -> None:
    np.save(tmp_path / "a.npy", np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32))
    out = tmp_path / "out"
    assert _invoke(cli, "eval", "--samples", tmp_path / "a.npy", *POINTS, "--out", out).exit_code == 0

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("ganbench.app.report.build_report", interrupt)
    monkeypatch.setattr(sys, "argv", ["ganbench", "report", str(out)])
    result = _invoke(cli, "report", out)
    assert result.exit_code == EXIT_INTERRUPTED
    assert result.stderr.splitlines() == [
        f"interrupted: report stopped; what it finished is kept; run it again with: ganbench report {out}"
    ]


# ---------------------------------------------------------------------------------- terminal text


def test_error_lines_print_names_as_typed_and_control_characters_inert(
    cli: CliRunner, tmp_path: Path
) -> None:
    emoji = _one_error_line(
        _invoke(cli, "eval", "--generator", "hostile_factories:ok:", "--latent-dim", 2, *POINTS)
    )
    assert "hostile_factories:ok:" in emoji  # not an emoji
    hostile = tmp_path / "a\x1b[2Jb\u202e.npy"
    line = _one_error_line(_invoke(cli, "eval", "--samples", hostile, *POINTS))
    assert "\x1b" not in line and "\u202e" not in line
    assert "a\\x1b[2Jb\\u202e.npy" in line


# ------------------------------------------------------------------------------------------ fuzzing

_FACTORIES = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(
            [
                "ok",
                "factory-raises",
                "factory-exits",
                "raise",
                "exit",
                "three-columns",
                "flat",
                "short",
                "nan",
                "inf",
                "huge",
                "list",
            ]
        ),  # fmt: skip
        "from_batch": st.sampled_from([1, 2, 3, 1000]),
        "rows": st.integers(0, 3),
    }
)

_ARRAYS = st.fixed_dictionaries(
    {
        "suffix": st.sampled_from([".npy", ".npz", ".pt", ".bin"]),
        "rows": st.sampled_from([0, 1, 2, 5, 300]),
        "columns": st.sampled_from([(2,), (3,), (), (2, 1)]),
        "dtype": st.sampled_from(["float32", "float64", "int16", "bool", "complex64", "uint8"]),
        "fill": st.sampled_from(["normal", "nan", "inf", "huge", "zeros"]),
        "damage": st.sampled_from(["none", "truncate", "garbage"]),
    }
)


def _write_array(spec: dict, folder: Path) -> Path:
    rng = np.random.default_rng(0)
    shape = (spec["rows"], *spec["columns"])
    values = {"normal": rng.normal(size=shape), "nan": np.full(shape, np.nan), "inf": np.full(shape, np.inf),
              "huge": np.full(shape, 1e300), "zeros": np.zeros(shape)}[spec["fill"]]  # fmt: skip
    with np.errstate(all="ignore"):
        array = values.astype(spec["dtype"])
    path = folder / f"s{spec['suffix']}"
    if spec["suffix"] == ".npy":
        np.save(path, array)
    elif spec["suffix"] == ".npz":
        np.savez(path, samples=array)
    elif spec["suffix"] == ".pt":
        torch.save(torch.from_numpy(np.ascontiguousarray(array)), path)
    else:
        path.write_bytes(array.tobytes())
    data = path.read_bytes()
    if spec["damage"] == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif spec["damage"] == "garbage":
        path.write_bytes(data[:16] + bytes(range(256)) * 4)
    return path


def _check_outcome(cli: CliRunner, result, out: Path) -> None:
    """Exit 0, 2 or 3; exit 2 is one line and writes nothing; any folder made still reads."""
    assert result.exit_code in (0, EXIT_BAD_INPUT, EXIT_JOBS_FAILED), (result.exit_code, result.output)
    if result.exit_code == EXIT_BAD_INPUT:
        _one_error_line(result)
        assert not out.exists()
    else:
        _reads(cli, out)


def _fuzz(folder: Path, factory: dict, array: dict) -> None:
    cli = CliRunner()
    hostile_factories.BEHAVIOUR.clear()
    hostile_factories.BEHAVIOUR.update(factory)
    out = folder / "g"
    shutil.rmtree(out, ignore_errors=True)
    result = _invoke(cli, "eval", "--generator", "hostile_factories:configured", "--latent-dim", 2, *POINTS,
                     "--out", out)  # fmt: skip
    _check_outcome(cli, result, out)
    out = folder / "s"
    shutil.rmtree(out, ignore_errors=True)
    result = _invoke(cli, "eval", "--samples", _write_array(array, folder), *POINTS, "--out", out)
    _check_outcome(cli, result, out)


@pytest.mark.e2e
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(factory=_FACTORIES, array=_ARRAYS)
def test_eval_of_random_factories_and_sample_files_exits_0_2_or_3_and_folders_read(
    tmp_path: Path, factory: dict, array: dict
) -> None:
    _fuzz(tmp_path, factory, array)


@pytest.mark.slow
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(factory=_FACTORIES, array=_ARRAYS)
def test_many_more_random_factories_and_sample_files(tmp_path: Path, factory: dict, array: dict) -> None:
    _fuzz(tmp_path, factory, array)
