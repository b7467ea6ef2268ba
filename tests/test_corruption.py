"""Damaged run folders: report, compare and resume exit 2 with one line naming the file, never a traceback."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import write_tiny_suite
from typer.testing import CliRunner, Result

from ganbench.cli import app
from ganbench.records.store import RunStore

KEY = "gan__ring-8__seed0"  # the job whose files the damages hit
RECORD = f"jobs/{KEY}.json"
Damage = Callable[[Path], Path]  # damages a copy of the run folder, returns the damaged file


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(suite file, run folder) of one finished tiny run: ring-8, gan and wgan, 2 seeds, 5 steps."""
    folder = tmp_path_factory.mktemp("corruption")
    suite = write_tiny_suite(folder, steps=5)
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:  # the run sets GANBENCH_THREADS: setting it first undoes it
        patch.setenv("GANBENCH_THREADS", "1")
        result = CliRunner().invoke(app, _resume(suite, folder / "run"))
    torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    return suite, folder / "run"


def _resume(suite: Path, out: Path) -> list[str]:
    return ["run", "--suite", str(suite), "--out", str(out), "--device", "cpu", "--threads", "1"]


def _copy(run: Path, tmp_path: Path, name: str) -> Path:
    return Path(shutil.copytree(run, tmp_path / name))


def _files(folder: Path) -> dict[str, bytes]:
    """Every file's bytes but the run lock's (which a resume may leave, empty)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith("run.lock")
    }


def _edit(change: Callable[[dict[str, Any]], Any]) -> Damage:
    """A damage that changes the parsed record of KEY and writes it back."""

    def damage(folder: Path) -> Path:
        path = folder / RECORD
        data = json.loads(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    return damage


def _write(name: str, content: Callable[[bytes], bytes]) -> Damage:
    """A damage that replaces the file `name` by `content(its bytes)`."""

    def damage(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content(path.read_bytes()))
        return path

    return damage


def _key_of_another_file(data: dict[str, Any]) -> None:
    data.update(key="gan__ring-8__seed5", seed=5)  # a valid record, but of another file name


# name -> (damage, a part of the one error line besides the file's name)
DAMAGES: dict[str, tuple[Damage, str]] = {
    "non-utf8": (_write(RECORD, lambda b: b.replace(b"ring-8", b"ring-\xff", 1)), "can't decode"),
    "missing-status": (_edit(lambda d: d.pop("status")), "missing field 'status'"),
    "missing-config": (_edit(lambda d: d.pop("config")), "missing field 'config'"),
    "missing-key": (_edit(lambda d: d.pop("key")), "missing field 'key'"),
    "schema-string": (_edit(lambda d: d.update(schema="4")), "schema must be a positive integer"),
    "schema-newer": (_edit(lambda d: d.update(schema=99)), "schema 99 is newer than this ganbench reads (4)"),
    "bad-key": (_edit(lambda d: d.update(key="gan__ring-8")), "is not a train job key"),
    "key-not-file-name": (_edit(_key_of_another_file), "is not its file's name"),
    "nested-json": (_write(RECORD, lambda b: b"[" * 100_000 + b"]" * 100_000), "unreadable job record"),
    "metric-string": (_edit(lambda d: d["metrics"]["w1"].update(value="0.5")), "w1.value is not a number"),
    "losses-lengths": (_edit(lambda d: d["losses"]["d"].append(1.0)), "losses"),
    "record-truncated": (_write(RECORD, lambda b: b[: len(b) // 2]), "unreadable job record"),
    "plan-not-json": (_write("plan.json", lambda b: b[:-3]), "unreadable plan"),
    "plan-not-strings": (_write("plan.json", lambda b: b"[1, 2]"), "not a list of job keys"),
    "plan-non-utf8": (_write("plan.json", lambda b: b.replace(b"gan", b"g\xffn", 1)), "can't decode"),
    "samples-not-npy": (_write(f"samples/{KEY}.npy", lambda b: b"\x93NUMPY garbage"), "unreadable samples"),
    "samples-truncated": (_write(f"samples/{KEY}.npy", lambda b: b[:200]), "unreadable samples"),
    "records-csv-empty": (_write("records.csv", lambda b: b""), "unreadable records file"),
}


def _one_error_line(result: Result) -> str:
    """The one `error:` line of a command that exited 2 as it should: no traceback, nothing else."""
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an uncaught exception
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.e2e
@pytest.mark.parametrize("name", DAMAGES)
def test_damage_is_one_line_naming_the_file(name: str, tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    suite, run = tiny_run
    base, bad = _copy(run, tmp_path, "base"), _copy(run, tmp_path, "bad")
    damage, message = DAMAGES[name]
    path = damage(bad)
    before = _files(bad)
    given = path if path.name == "records.csv" else bad  # compare reads a records.csv given itself
    commands = [["compare", str(base), str(given)], ["compare", str(given), str(base)]]
    if given == bad:
        commands += [["report", str(bad)], _resume(suite, bad)]
    for args in commands:
        line = _one_error_line(CliRunner().invoke(app, args))
        assert str(path) in line and message in line, (args[0], line)
    assert _files(bad) == before, "a damaged folder is left as it was"


@pytest.mark.e2e
def test_unknown_status_reads_as_failed_and_resume_retries_it(
    tiny_run: tuple[Path, Path], tmp_path: Path
) -> None:
    suite, run = tiny_run
    folder = _copy(run, tmp_path, "run")
    _edit(lambda d: d.update(status="weird"))(folder)
    others = {k: v for k, v in _files(folder).items() if k.startswith("jobs/") and k != RECORD}
    (record,) = [r for r in RunStore(folder).records() if r.key == KEY]
    assert record.status == "failed" and record.reason == "unknown status 'weird' in the record"

    result = CliRunner().invoke(app, _resume(suite, folder))
    assert result.exit_code == 0, result.output
    assert "ran 1 jobs (3 already finished, skipped)" in result.stdout
    assert json.loads((folder / RECORD).read_text(encoding="utf-8"))["status"] == "ok"
    assert {k: v for k, v in _files(folder).items() if k in others} == others


@pytest.mark.e2e
def test_random_byte_flips_never_give_a_traceback(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    suite, run = tiny_run
    rng = random.Random(20261202)
    names = sorted(p.name for p in (run / "jobs").glob("*.json"))
    for flip in range(30):
        folder = _copy(run, tmp_path, f"flip{flip}")
        path = folder / "jobs" / rng.choice(names)
        data = bytearray(path.read_bytes())
        data[rng.randrange(len(data))] ^= rng.randrange(1, 256)
        path.write_bytes(bytes(data))
        commands = [
            (["compare", str(run), str(folder)], (0, 1, 2)),
            (["compare", str(folder), str(run)], (0, 1, 2)),
            (["report", str(folder)], (0, 2)),
            (_resume(suite, folder), (0, 2)),
        ]
        for args, codes in commands:
            result = CliRunner().invoke(app, args)
            assert result.exit_code in codes, (flip, args[0], result.output, repr(result.exception))
            assert result.exception is None or isinstance(result.exception, SystemExit), (flip, args[0])
            if result.exit_code == 2:
                _one_error_line(result)
