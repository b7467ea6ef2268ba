"""Hostile checkpoints: a file that does not fit its group is ignored with one warning line, never trusted."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import write_tiny_suite
from typer.testing import CliRunner

from ganbench.cli import EXIT_INTERRUPTED, app
from ganbench.run import checkpoints, driver, estimate, worker
from ganbench.suite import load_suite

pytestmark = pytest.mark.e2e  # every test trains a tiny suite (and interrupts, damages, resumes it)

STOP_AT = 12  # a Ctrl-C after the checkpoint of step 10 (checkpoint_every = 5), before the next one


def _suite(folder: Path, steps: int = 20) -> Path:
    """`gan` on ring-8, one seed, a checkpoint every 5 steps and curves every 10."""
    folder.mkdir(exist_ok=True)
    path = write_tiny_suite(folder, methods=("gan",), seeds=1, steps=steps)
    text = path.read_text().replace("log_every = 5", "log_every = 5\ncheckpoint_every = 5\ntrack_every = 10")
    path.write_text(text.replace("[eval]", "[eval]\ntrack_samples = 64"))
    return path


def _run(suite: Path, out: Path) -> Any:
    result = CliRunner().invoke(app, ["run", "--suite", str(suite), "--out", str(out), "--threads", "1"])
    # An uncaught exception (a traceback) is never an answer; typer.Exit is a SystemExit.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _interrupt_at(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    """Ctrl-C once the group has trained `step` steps."""
    real = worker.train_group

    def train_group(*args: Any, on_step: Callable[[int], None], **kwargs: Any) -> Any:
        def stop(done: int) -> None:
            on_step(done)
            if done == step:
                raise KeyboardInterrupt

        return real(*args, on_step=stop, **kwargs)

    monkeypatch.setattr(worker, "train_group", train_group)


def _records(out: Path) -> dict[str, dict]:
    keep = ("metrics", "losses", "curves", "status", "flags")
    return {
        path.stem: {k: json.loads(path.read_text())[k] for k in keep}
        for path in sorted((out / "jobs").glob("*.json"))
    }


def _extras(out: Path) -> list[dict]:
    return [json.loads(path.read_text())["extra"] for path in (out / "jobs").glob("*.json")]


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


class Genuine:
    """The suite, a run folder interrupted after its checkpoint at step 10 (and the checkpoint's bytes),
    and the records of a run without any checkpoint."""

    def __init__(self, suite: Path, stopped: Path, name: str, data: bytes, clean: dict[str, dict]) -> None:
        self.suite, self.stopped, self.name, self.data, self.clean = suite, stopped, name, data, clean

    def state(self) -> dict[str, Any]:
        return torch.load(io.BytesIO(self.data), weights_only=True)

    def place(self, out: Path, state: dict[str, Any] | None = None) -> Path:
        """A copy of the interrupted folder in `out`, with the checkpoint (or `state` in its place)."""
        shutil.copytree(self.stopped, out)
        path = out / checkpoints.CHECKPOINTS_DIR / self.name
        if state is None:
            path.write_bytes(self.data)
        else:
            torch.save(state, path)
        return path


@pytest.fixture(scope="module")
def genuine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Genuine]:
    folder = tmp_path_factory.mktemp("genuine")
    suite = _suite(folder)
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("GANBENCH_THREADS", "1")
        clean = _run(suite, folder / "clean")
        assert clean.exit_code == 0, clean.output
        _interrupt_at(monkeypatch, STOP_AT)
        stopped = _run(suite, folder / "stopped")
        assert stopped.exit_code == EXIT_INTERRUPTED, stopped.output
    torch.set_num_threads(threads)
    (path,) = (folder / "stopped" / checkpoints.CHECKPOINTS_DIR).glob("group-*.pt")
    assert torch.load(path, weights_only=True)["step"] == 10
    yield Genuine(suite, folder / "stopped", path.name, path.read_bytes(), _records(folder / "clean"))


def _set(key: str, value: object) -> Callable[[dict], None]:
    def change(state: dict) -> None:
        state[key] = value

    return change


def _first_weight(name: str, value: torch.Tensor) -> Callable[[dict], None]:
    def change(state: dict) -> None:
        state[name][next(iter(state[name]))] = value

    return change


def _optimizer(name: str, key: str, value: object) -> Callable[[dict], None]:
    def change(state: dict) -> None:
        state[name]["state"][0][key] = value

    return change


def _stream(value: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[dict], None]:
    def change(state: dict) -> None:
        state["streams"][0][1] = value(state["streams"][0][1])

    return change


def _lr(state: dict) -> None:
    state["opt_g"]["param_groups"][0]["lr"] = 1e9


def _alive(state: dict) -> None:
    state["alive"] = torch.zeros_like(state["alive"])  # dead, yet never diverged


def _curves(state: dict) -> None:
    state["curves"][0]["step"] = [0]  # tracked at step 0 only, though the checkpoint is at step 10


def _missing(state: dict) -> None:
    del state["history"]


CORRUPTIONS = {
    "step as a string": (_set("step", "abc"), "step 'abc' is not a whole number from 1 to 20"),
    "negative step": (_set("step", -1), "step -1 is not a whole number from 1 to 20"),
    "step beyond the steps": (_set("step", 10**12), "step 1000000000000 is not a whole number"),
    "step as a bool": (_set("step", True), "step True is not a whole number"),
    "generator weight of another shape": (
        _first_weight("generator", torch.zeros(3, 3)),
        "is float32 (3, 3), not float32",
    ),
    "critic weight of another dtype": (_first_weight("critic", torch.zeros(1, dtype=torch.int64)), "critic."),
    "optimizer moment of another shape": (
        _optimizer("opt_g", "exp_avg", torch.zeros(1)),
        "opt_g.state.0.exp_avg",
    ),
    "optimizer step count": (
        _optimizer("opt_d", "step", torch.tensor(0.0)),
        "opt_d.state.0 has taken 0 steps",
    ),
    "optimizer settings": (_lr, "opt_g's settings differ from the suite's"),
    "random stream of another size": (_stream(lambda s: s[:100]), "streams[0][1] is uint8 (100,)"),
    "random stream's state invalid": (_stream(torch.zeros_like), "a random stream's state is invalid"),
    "history that would broadcast": (_set("history", torch.zeros(1, 2, 1)), "history is float32 (1, 2, 1)"),
    "alive against diverged_at": (_alive, "alive does not fit diverged_at"),
    "logs ahead of the step": (_set("next_log", 4), "next_log 4 is not 2"),
    "curves behind the step": (_curves, "curves of member 0 do not track steps 0 to 10"),
    "seconds not a time": (_set("seconds", float("nan")), "seconds nan is not a time"),
    "missing key": (_missing, "the checkpoint lacks history"),
    "extra key": (_set("payload", 1), "the checkpoint has unknown keys payload"),
    "another group's": (_set("identity", "[]"), "saved for other jobs or settings"),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_a_checkpoint_that_does_not_fit_is_ignored_with_one_warning(
    genuine: Genuine, tmp_path: Path, capsys: pytest.CaptureFixture[str], corruption: str
) -> None:
    change, reason = CORRUPTIONS[corruption]
    state = genuine.state()
    change(state)
    out = tmp_path / "run"
    path = genuine.place(out, state)
    # The driver without the report (the slow part of `ganbench run`; the CLI cases are below).
    torch.set_num_threads(1)  # as the run without a checkpoint (conftest restores the count)
    outcome = driver.run_suite(load_suite(str(genuine.suite)), out, "cpu")
    assert outcome.ran == ["gan__ring-8__seed0"] and outcome.failed == []
    (line,) = _warnings(capsys.readouterr().err)
    assert line.startswith(f"warning: ignoring checkpoint {path} (") and reason in line, line
    assert line.endswith("; gan (ring-8 seed 0) trains from step 0")
    assert _records(out) == genuine.clean  # every metric, loss and curve value, exactly
    assert all(e.get("resumed_from_step") is None for e in _extras(out))
    assert not path.exists()


def test_an_unreadable_file_is_ignored_with_one_warning(genuine: Genuine, tmp_path: Path) -> None:
    out = tmp_path / "run"
    path = genuine.place(out)
    path.write_bytes(b"not a checkpoint")
    result = _run(genuine.suite, out)
    assert result.exit_code == 0, result.output
    (line,) = _warnings(result.stderr)
    assert line.startswith(f"warning: ignoring checkpoint {path} (unreadable: ")
    assert _records(out) == genuine.clean


def test_an_ignored_checkpoint_is_removed_at_once(
    genuine: Genuine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = genuine.state()
    state["step"] = "abc"
    out = tmp_path / "run"
    path = genuine.place(out, state)
    _interrupt_at(monkeypatch, 2)  # before the group saves a checkpoint of its own
    result = _run(genuine.suite, out)
    assert result.exit_code == EXIT_INTERRUPTED
    assert len(_warnings(result.stderr)) == 1 and not path.exists()
    assert "checkpoint of" not in result.stderr  # none is stored, so none is named


def test_a_genuine_checkpoint_resumes_to_the_uninterrupted_result(genuine: Genuine, tmp_path: Path) -> None:
    out = tmp_path / "run"
    genuine.place(out)
    result = _run(genuine.suite, out)
    assert result.exit_code == 0, result.output
    assert _warnings(result.stderr) == []
    assert _records(out) == genuine.clean
    assert [e["resumed_from_step"] for e in _extras(out)] == [10]


def test_ctrl_c_after_a_checkpoint_names_it(
    genuine: Genuine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    _interrupt_at(monkeypatch, STOP_AT)
    result = _run(genuine.suite, out)
    assert result.exit_code == EXIT_INTERRUPTED
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"interrupted during training: 0 of 1 jobs are stored in {out}, and a training checkpoint of "
        "gan (ring-8 seed 0) at step 10, from which the same command continues; "
    )
    assert "nothing was written" not in line


def test_the_estimate_counts_only_a_usable_checkpoint(
    genuine: Genuine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(estimate, "seconds_per_step", lambda *args: 1.0)
    suite = load_suite(str(genuine.suite))
    groups = driver.stack_groups(suite.jobs(), True)
    folder = tmp_path / "run" / checkpoints.CHECKPOINTS_DIR
    genuine.place(tmp_path / "run")
    guess = estimate.estimate(groups, torch.device("cpu"), folder)
    assert guess.groups[0].done == 10 and "resuming gan from step 10" in guess.describe()

    state = genuine.state()
    state["step"] = "abc"
    torch.save(state, folder / genuine.name)
    guess = estimate.estimate(groups, torch.device("cpu"), folder)
    assert guess.groups[0].done == 0 and "resuming" not in guess.describe()

    # Another group's checkpoint (the same jobs at 40 steps) counts for nothing either.
    longer = load_suite(str(_suite(tmp_path / "longer", steps=40)))
    (folder / genuine.name).write_bytes(genuine.data)
    (folder / genuine.name).rename(
        checkpoints.checkpoint_path(folder, [job.config() for job in longer.jobs()])
    )
    guess = estimate.estimate(driver.stack_groups(longer.jobs(), True), torch.device("cpu"), folder)
    assert guess.groups[0].done == 0 and "resuming" not in guess.describe()


def test_a_long_run_with_a_hostile_step_estimates_and_trains_from_step_0(
    genuine: Genuine, tmp_path: Path
) -> None:
    suite = _suite(tmp_path / "long", steps=estimate.ESTIMATE_FROM_STEPS)
    jobs = load_suite(str(suite)).jobs()
    state = genuine.state()
    state["identity"] = checkpoints.group_identity([job.config() for job in jobs])
    state["step"] = 10**12
    out = tmp_path / "run"
    genuine.place(out).unlink()
    path = checkpoints.checkpoint_path(out / checkpoints.CHECKPOINTS_DIR, [job.config() for job in jobs])
    torch.save(state, path)
    result = _run(suite, out)
    assert result.exit_code == 0, result.output
    assert "estimated training time:" in result.stdout and "resuming" not in result.stdout
    (line,) = _warnings(result.stderr)
    assert "step 1000000000000 is not a whole number from 1 to 1,000" in line
    assert all(e.get("resumed_from_step") is None for e in _extras(out))
