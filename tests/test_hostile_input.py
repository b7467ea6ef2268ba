"""Hostile and careless input: non-finite and huge settings, escaping names, shared folders, signals."""

from __future__ import annotations

import itertools
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_tiny_suite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ganbench.app import run as app_run
from ganbench.cli import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED, app
from ganbench.errors import GanbenchError
from ganbench.files import write_atomic
from ganbench.records.store import differences
from ganbench.registry import Registry
from ganbench.run.guard import HOLDER_FILE, check_out, locked


def _invoke(cli: CliRunner, *args: str):
    result = cli.invoke(app, list(args))
    # An uncaught exception (a traceback) is never an answer; typer.Exit is a SystemExit.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _one_error_line(result) -> str:
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# ------------------------------------------------------------------------------------ suite values


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("[method.gan]\nlr = nan\n", "method.gan.lr must be a finite number"),
        ("[method.gan]\nlr = inf\n", "method.gan.lr must be a finite number"),
        ("[method.gan]\nbeta1 = 5.0\n", "method.gan.beta1 must be < 1"),
        ("[method.wgan]\nclip = -inf\n", "method.wgan.clip must be a finite number"),
        ("[dataset.ring-8]\nstd = nan\n", "dataset.ring-8.std must be a finite number"),
        ("[dataset.ring-8]\nradius = inf\n", "dataset.ring-8.radius must be a finite number"),
        ("[dataset.ring-8]\nradius = 1e300\n", "dataset.ring-8.radius must be <= 1e+06"),
        ("[dataset.mnist]\nsize = 100000\n", "dataset.mnist.size must be <= 1,024"),
        ("[train]\nsteps = 1000000000000\n", "train.steps must be <= 10,000,000"),
        ("[train]\nwidth = 10000000\n", "train.width must be <= 16,384"),
        ("[eval]\nsamples = 10000000000\n", "eval.samples must be <= 1,000,000"),
        ("[eval]\nsamples = 60000\n", "eval.samples = 60,000 is more than metric 'w1' can score (50,000)"),
    ],
)
def test_non_finite_and_huge_values_are_refused_at_validate(
    cli: CliRunner, tmp_path: Path, extra: str, named: str
) -> None:
    text = write_tiny_suite(tmp_path).read_text()
    # Replace the tiny suite's own tables rather than repeating them (TOML forbids a table twice).
    for table in ("[train]", "[eval]"):
        if extra.startswith(table):
            key = extra.split("\n")[1].split(" =")[0]
            text = "\n".join(line for line in text.splitlines() if not line.startswith(f"{key} ="))
            text = text.replace(table, extra.strip(), 1)
            extra = ""
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n" + extra)
    line = _one_error_line(_invoke(cli, "validate", str(path)))
    assert str(path) in line and named in line


def test_image_samples_beyond_memory_are_refused(cli: CliRunner, tmp_path: Path) -> None:
    # 500,000 RGB images of 1024^2 are 5.7 TiB as float32: the per-tensor limit names both numbers.
    path = tmp_path / "big.toml"
    path.write_text(
        'methods = ["dcgan"]\ndatasets = ["cifar10"]\nmetrics = ["fid"]\n'
        "[dataset.cifar10]\nsize = 1024\n[eval]\nsamples = 500000\n"
    )
    line = _one_error_line(_invoke(cli, "validate", str(path)))
    assert "eval.samples = 500,000 samples of cifar10 take 5859 GiB; at most 32 GiB (2,730 samples)" in line


def test_huge_seed_counts_are_refused_before_any_folder_is_made(cli: CliRunner, tmp_path: Path) -> None:
    suite, out = write_tiny_suite(tmp_path), tmp_path / "run"
    started = time.perf_counter()
    line = _one_error_line(
        _invoke(cli, "run", "--suite", str(suite), "--seeds", "1000000", "--out", str(out))
    )
    assert "--seeds must be <= 1,000" in line
    assert time.perf_counter() - started < 10 and not out.exists()


@pytest.mark.parametrize("name", ["../../../x", "/abs", "a/b", "x\u0000y", "..", ".hidden", "tab\there"])
def test_suite_names_that_would_leave_results_are_refused(cli: CliRunner, tmp_path: Path, name: str) -> None:
    path = tmp_path / "named.toml"
    path.write_text(
        write_tiny_suite(tmp_path).read_text().replace('name = "tiny"', f"name = {json.dumps(name)}")
    )
    line = _one_error_line(_invoke(cli, "validate", str(path)))
    assert "name" in line and "results/" in line


def test_an_odd_file_name_gives_a_sanitized_suite_name(cli: CliRunner, tmp_path: Path) -> None:
    text = write_tiny_suite(tmp_path).read_text().replace('name = "tiny"\n', "")
    path = tmp_path / "my suite..v2.toml"
    path.write_text(text)
    result = _invoke(cli, "validate", str(path))
    assert result.exit_code == 0 and "suite 'my-suite-v2'" in result.stdout


@pytest.mark.parametrize("name", ["../x", "a/b", "a__b", "a b", "", "-a", "a-", "\u00e9t\u00e9"])
def test_registered_names_are_file_name_safe(name: str) -> None:
    # Method and dataset names make job file names: a plugin's name cannot leave jobs/ or split a key.
    with pytest.raises(GanbenchError, match="name .* must be letters and digits"):
        Registry("method").add(name, object())
    for good in ("gan-ns", "grid-25", "fid-lenet", "my_method", "v1.2", "a+b"):
        Registry("method").add(good, object())


# ------------------------------------------------------------------------------------- run folders


@pytest.mark.e2e
def test_adding_a_method_with_other_settings_is_refused_naming_every_difference(
    cli: CliRunner, tmp_path: Path
) -> None:
    suite, out = write_tiny_suite(tmp_path, methods=("gan",), seeds=1, steps=6), tmp_path / "run"
    assert _invoke(cli, "run", "--suite", str(suite), "--out", str(out)).exit_code == 0
    before = {p.name: p.read_bytes() for p in (out / "jobs").iterdir()}
    other = tmp_path / "other.toml"
    other.write_text(suite.read_text().replace("samples = 200", "samples = 150"))
    args = ("run", "--suite", str(other), "--out", str(out), "--methods", "gan-ns", "--steps", "5")
    line = _one_error_line(_invoke(cli, *args))
    assert "train.steps: 6 != 5" in line and "eval.samples: 200 != 150" in line
    assert line.count("train.steps") == 1
    assert {p.name: p.read_bytes() for p in (out / "jobs").iterdir()} == before


@pytest.mark.e2e
def test_other_hyperparameters_for_a_stored_method_are_refused(cli: CliRunner, tmp_path: Path) -> None:
    suite, out = write_tiny_suite(tmp_path, methods=("gan",), seeds=1, steps=4), tmp_path / "run"
    assert _invoke(cli, "run", "--suite", str(suite), "--out", str(out)).exit_code == 0
    changed = write_tiny_suite(
        tmp_path, methods=("gan",), seeds=2, steps=4, extra="[method.gan]\nlr = 1e-3\n"
    )
    line = _one_error_line(_invoke(cli, "run", "--suite", str(changed), "--out", str(out)))
    assert "hyperparameters.lr: 0.0002 != 0.001 (method gan)" in line


def test_differences_lists_every_leaf_once() -> None:
    old = {"train": {"steps": 30, "width": 16}, "metrics": ["w1"], "suite": "a"}
    new = {"train": {"steps": 5, "width": 16}, "metrics": ["w1", "reverse-kl"], "suite": "a", "x": 1}
    assert differences(old, new) == [
        "metrics: ['w1'] != ['w1', 'reverse-kl']",
        "train.steps: 30 != 5",
        "x: None != 1",
    ]


@pytest.mark.e2e
def test_out_refuses_a_folder_that_is_not_ganbench(cli: CliRunner, tmp_path: Path) -> None:
    suite, mine = write_tiny_suite(tmp_path, seeds=1, steps=2), tmp_path / "mine"
    mine.mkdir()
    (mine / "records.csv").write_text("my own data\n")
    line = _one_error_line(_invoke(cli, "run", "--suite", str(suite), "--out", str(mine)))
    assert "is not a ganbench folder (it holds records.csv)" in line
    run = tmp_path / "run"
    assert _invoke(cli, "run", "--suite", str(suite), "--out", str(run)).exit_code == 0
    _one_error_line(_invoke(cli, "report", str(run), "--out", str(mine)))
    assert (mine / "records.csv").read_text() == "my own data\n" and len(list(mine.iterdir())) == 1
    # An empty folder is fine, and so is a report folder written before.
    (tmp_path / "empty").mkdir()
    assert _invoke(cli, "report", str(run), "--out", str(tmp_path / "empty")).exit_code == 0
    assert _invoke(cli, "report", str(run), "--out", str(tmp_path / "empty")).exit_code == 0


def test_a_run_that_writes_nothing_leaves_no_folder_or_only_its_lock(tmp_path: Path) -> None:
    with locked(tmp_path / "new"):  # made for the lock, and nothing else written: removed again
        assert (tmp_path / "new" / HOLDER_FILE).is_file()
    assert not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()
    with locked(tmp_path / "mine"):
        pass
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["run.lock"]
    check_out(tmp_path / "mine")  # still a folder --out may use


@pytest.mark.e2e
@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_written_files_follow_the_umask(cli: CliRunner, tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "one.txt", b"x")
        suite, out = write_tiny_suite(tmp_path, methods=("gan",), seeds=1, steps=2), tmp_path / "run"
        assert _invoke(cli, "run", "--suite", str(suite), "--out", str(out)).exit_code == 0
    finally:
        os.umask(old)
    files = [tmp_path / "one.txt", *(p for p in out.rglob("*") if p.is_file())]
    modes = {p.relative_to(tmp_path).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in files}
    assert set(modes.values()) == {0o666 & ~umask}, modes
    assert {"run/records.csv", "run/summary.md", "run/manifest.json", "run/plan.json"} <= set(modes)


# ------------------------------------------------------------------------- processes and signals


def _start(suite: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "GANBENCH_THREADS": "1"}
    command = [sys.executable, "-m", "ganbench", "run", "--suite", str(suite), "--out", str(out), *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(path: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.e2e
def test_a_second_run_on_a_locked_folder_exits_2_naming_the_holder(tmp_path: Path) -> None:
    suite, out = write_tiny_suite(tmp_path, methods=("gan",), seeds=2, steps=1500), tmp_path / "run"
    first = _start(suite, out)
    try:
        _wait_for(out / HOLDER_FILE, first)
        second = _start(suite, out)
        _, stderr = second.communicate(timeout=120)
        assert second.returncode == EXIT_BAD_INPUT, stderr
        assert stderr.count("\n") == 1 and f"is in use by another ganbench run (pid {first.pid} on " in stderr
        stdout, stderr = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, stderr
    assert sorted(p.name for p in (out / "jobs").iterdir()) == [
        "gan__ring-8__seed0.json",
        "gan__ring-8__seed1.json",
    ]
    assert not (out / HOLDER_FILE).exists()


@pytest.mark.e2e
def test_sigterm_prints_the_resume_command_and_the_run_resumes(tmp_path: Path) -> None:
    suite = write_tiny_suite(tmp_path, methods=("gan", "wgan"), seeds=1, steps=3000)
    out = tmp_path / "run"
    process = _start(suite, out, "--no-batch-seeds")
    _wait_for(out / "jobs" / "gan__ring-8__seed0.json", process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == EXIT_TERMINATED, stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("interrupted")]
    assert line.startswith("interrupted during training: 1 of 2 jobs are stored in ")
    assert line.endswith(f"resume with: ganbench run --suite {suite} --out {out} --no-batch-seeds")
    resumed = _start(suite, out, "--no-batch-seeds")
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    assert "ran 1 jobs (1 already finished, skipped)" in stdout


@pytest.mark.parametrize(
    ("phase", "target"), [("data preparation", "prepare"), ("the report", "build_report")]
)
def test_ctrl_c_outside_training_is_one_line(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, phase: str, target: str
) -> None:
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(app_run, target, interrupt)
    suite, out = write_tiny_suite(tmp_path, methods=("gan",), seeds=1, steps=2), tmp_path / "run"
    result = _invoke(cli, "run", "--suite", str(suite), "--out", str(out))
    assert result.exit_code == EXIT_INTERRUPTED
    (line,) = result.stderr.splitlines()
    if target == "prepare":
        assert line.startswith("interrupted during data preparation: nothing was written; start again with:")
        assert not out.exists()
    else:
        assert line.startswith(
            f"interrupted during the report: 1 of 1 jobs are stored in {out}; resume with:"
        )


# ------------------------------------------------------------------------------ property-based


def _toml_value(value: object) -> str:
    """A TOML literal: floats keep nan and inf (TOML has them), strings JSON-escaped (TOML accepts that)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan" if value != value else {float("inf"): "inf", float("-inf"): "-inf"}.get(value, repr(value))
        )
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else str(value)


def _toml(suite: dict) -> str:
    top = [f"{k} = {_toml_value(v)}" for k, v in suite.items() if not isinstance(v, dict)]
    tables = [
        f"[{name}]\n" + "\n".join(f"{k} = {_toml_value(v)}" for k, v in table.items())
        for name, table in suite.items()
        if isinstance(table, dict)
    ]
    return "\n".join(top) + "\n\n" + "\n\n".join(tables) + "\n"


def _suites():
    """Suite files a careless user or an attacker might write: a cheap valid suite with up to two
    hostile values put in (non-finite, huge, negative, odd names), or text that is not TOML at all.

    Valid values are always cheap (a few steps, tiny networks) and expensive ones are always beyond a
    bound, so every example either runs in a second or is refused."""
    base = st.fixed_dictionaries(
        {
            "name": st.just("ok"),
            "methods": st.lists(
                st.sampled_from(["gan", "wgan", "gan-ns"]), min_size=1, max_size=2, unique=True
            ),
            "datasets": st.lists(st.sampled_from(["ring-8", "grid-25"]), min_size=1, max_size=2, unique=True),
            "seeds": st.integers(1, 2),
            "metrics": st.lists(
                st.sampled_from(["modes-covered", "high-quality-fraction", "reverse-kl", "w1"]),
                min_size=1,
                max_size=3,
                unique=True,
            ),
            "train": st.fixed_dictionaries(
                {"steps": st.integers(0, 3), "batch_size": st.integers(1, 16), "width": st.integers(1, 8)}
            ),
            "eval": st.fixed_dictionaries({"samples": st.integers(1, 64)}),
            "method.gan": st.fixed_dictionaries({"lr": st.floats(1e-6, 10.0), "beta1": st.floats(0.0, 0.99)}),
            "dataset.ring-8": st.fixed_dictionaries(
                {"radius": st.floats(1e-3, 1e3), "std": st.floats(1e-4, 10.0)}
            ),
        }
    )
    hostile_values = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=10**7 + 1, max_value=2**63 - 1),
        st.integers(-(2**63), 0),
        st.sampled_from(["../../escape", "/abs", "a/b", "..", "x\x00y", "", "nope", "../x"]),
        st.text(max_size=12),
        st.lists(st.text(max_size=5), max_size=2),
    )
    places = st.sampled_from(
        ["name", "methods", "datasets", "seeds", "metrics", "train.steps", "train.batch_size", "train.width",
         "train.depth", "train.log_every", "eval.samples", "eval.track_samples", "method.gan.lr",
         "method.gan.beta1", "method.wgan.n_critic", "dataset.ring-8.radius", "dataset.ring-8.std",
         "dataset.mnist.size", "extra", "train.extra"]
    )  # fmt: skip

    def put(suite: dict, changes: list[tuple[str, object]]) -> str:
        suite = {k: dict(v) if isinstance(v, dict) else v for k, v in suite.items()}
        for place, value in changes:
            table, _, key = place.rpartition(".")
            if table:
                suite.setdefault(table, {})[key] = value
            else:
                suite[key] = value
        return _toml(suite)

    structured = st.builds(put, base, st.lists(st.tuples(places, hostile_values), max_size=2))
    return st.one_of(structured, structured, structured, st.text(max_size=200))


def _arguments():
    numbers = st.one_of(
        st.integers(1, 2).map(str),
        st.sampled_from(["0", "-1", "nan", "inf", "1e30", "99999999999999999999", "x"]),
    )
    return st.lists(
        st.one_of(
            st.tuples(st.just("--steps"), numbers),
            st.tuples(st.just("--seeds"), numbers),
            st.tuples(st.just("--methods"), st.sampled_from(["gan", "nope", "", ",", "../x"])),
            st.tuples(st.just("--quick")),
        ),
        max_size=2,
    ).map(lambda pairs: [arg for pair in pairs for arg in pair])


@pytest.mark.e2e
def test_hostile_suites_and_arguments_exit_0_or_2_without_writing_elsewhere(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    _hostile_runs(
        tmp_path_factory, examples=40, derandomize=True
    )  # the same 40 on every run: CI stays stable


@pytest.mark.slow
def test_many_more_hostile_suites(tmp_path_factory: pytest.TempPathFactory) -> None:
    _hostile_runs(
        tmp_path_factory, examples=int(os.environ.get("GANBENCH_HOSTILE_EXAMPLES", "400")), derandomize=False
    )


def _hostile_runs(tmp_path_factory: pytest.TempPathFactory, examples: int, derandomize: bool) -> None:
    cli = CliRunner()
    sandbox = tmp_path_factory.mktemp("sandbox")
    cases = itertools.count()

    @settings(
        max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=derandomize
    )
    @given(text=_suites(), args=_arguments(), give_out=st.booleans())
    def check(text: str, args: list[str], give_out: bool) -> None:
        # Each example works three folders deep in an empty sandbox: anything written outside the
        # working folder's own output (its --out, or results/ without one) shows up in the scan.
        work = sandbox / "a" / "b" / f"case{next(cases)}"
        work.mkdir(parents=True)
        suite = work / "suite.toml"
        suite.write_text(text, encoding="utf-8", errors="surrogatepass")
        out = work / "out"
        allowed = out if give_out else work / "results"
        before = {p for p in sandbox.rglob("*")}
        cwd = Path.cwd()
        os.chdir(work)
        try:
            validated = _invoke(cli, "validate", str(suite))
            ran = _invoke(
                cli, "run", "--suite", str(suite), *args, *(["--out", str(out)] if give_out else [])
            )
        finally:
            os.chdir(cwd)
        for result in (validated, ran):
            assert result.exit_code in (0, EXIT_BAD_INPUT), result.output
            if result.exit_code == EXIT_BAD_INPUT:
                assert len(result.stderr.splitlines()) == 1, result.stderr
        created = {p for p in sandbox.rglob("*") if p.is_file()} - before - {suite}
        assert all(p.is_relative_to(allowed) for p in created), sorted(created)

    check()
