"""Task runner: `nox -s tests`, `nox -s lint`, `nox -s bench`, `nox -s demo`.

Environments are reused between runs (installing torch takes minutes). Inside an environment that
already has ganbench installed, `nox --no-venv -s bench` runs a session without creating another.
"""

from __future__ import annotations

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]


def _install(session: nox.Session) -> None:
    if not isinstance(session.virtualenv, nox.virtualenv.PassthroughEnv):
        session.install("-e", ".[test]")


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
def demo(session: nox.Session) -> None:
    """The quick mode-collapse suite end to end, into results/mode-collapse/."""
    _install(session)
    session.run("ganbench", "run", "--suite", "mode-collapse", "--quick", *session.posargs)
