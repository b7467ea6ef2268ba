"""The run folder: atomic writes, one record per job, resume decisions."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from ganbench.errors import GanbenchError
from ganbench.records.record import MetricResult, MetricSpec, Record
from ganbench.records.store import SCHEMA_VERSION, RunStore, write_atomic
from ganbench.suite import parse_key

W1_SPEC = MetricSpec(unit="", higher_is_better=False, rel_tol=0.05, abs_tol=0.01)


def _record(key: str, status: str = "ok", steps: int = 10) -> Record:
    method, dataset, seed = parse_key(key)  # a stored record's key must be its job's
    return Record(
        kind="train", key=key, method=method, cell=dataset, seed=seed, config={"train": {"steps": steps}},
        metric_specs={"w1": W1_SPEC}, status=status,
    )  # fmt: skip


def test_write_atomic_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "a" / "x.json"
    write_atomic(path, b"first")
    write_atomic(path, b"second")
    assert path.read_bytes() == b"second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.json"], "no temporary file left"


def test_write_cut_off_keeps_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x.json"
    write_atomic(path, b"old and complete")

    def crash(*args: object) -> None:  # the process dies between writing and renaming
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, b"new")
    assert path.read_bytes() == b"old and complete"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_stray_temporary_files_are_ignored(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.save(_record("a__ring-8__seed0"), None)
    # What a kill -9 in the middle of write_atomic leaves behind: a partial hidden temp file.
    (tmp_path / "jobs" / ".b__ring-8__seed0.json.x1y2.tmp").write_text('{"key": "b", "conf')
    assert [r.key for r in store.records()] == ["a__ring-8__seed0"]
    assert not store.finished("b__ring-8__seed0", {"train": {"steps": 10}})


def test_saving_a_job_twice_keeps_one_record(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.save(_record("gan__ring-8__seed0", status="failed"), None)
    store.save(_record("gan__ring-8__seed0"), np.zeros((3, 2), np.float32))
    records = store.records()
    assert len(records) == 1 and records[0].status == "ok"
    assert records[0].schema == SCHEMA_VERSION == 4
    assert store.load_samples("gan__ring-8__seed0").shape == (3, 2)


def test_finished_means_ok_or_diverged_with_same_config(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    config = {"train": {"steps": 10}}
    store.save(_record("gan__ring-8__seed0"), None)
    store.save(_record("gan__ring-8__seed1", status="diverged"), None)
    store.save(_record("gan__ring-8__seed2", status="failed"), None)
    assert store.finished("gan__ring-8__seed0", config)
    assert store.finished("gan__ring-8__seed1", config), "divergence is a result, not retried"
    assert not store.finished("gan__ring-8__seed2", config), "failures are retried on resume"
    assert not store.finished("absent", config)


def test_resume_with_other_settings_is_refused(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.save(_record("gan__ring-8__seed0", steps=10), None)
    with pytest.raises(GanbenchError, match=r"other settings \(train.steps: 10 != 20\)"):
        store.finished("gan__ring-8__seed0", {"train": {"steps": 20}})


def test_corrupt_record_is_reported_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "gan__ring-8__seed0.json").write_text("{not json")
    with pytest.raises(GanbenchError, match="unreadable job record"):
        RunStore(tmp_path).records()


def test_output_path_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(GanbenchError, match="not a folder"):
        RunStore(path)


def test_records_keep_nan_values(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    key = "gan__ring-8__seed0"
    record = _record(key)
    record.metrics = {"w1": MetricResult(float("nan"), W1_SPEC)}
    store.save(record, None)
    assert np.isnan(store.records()[0].metrics["w1"].value)
    assert json.loads((tmp_path / "jobs" / f"{key}.json").read_text())["key"] == key


def test_a_schema_1_folder_still_reads_but_is_not_resumed_under_new_streams(
    tmp_path: Path, tiny_suite: Path
) -> None:
    # Schema 1 (session 1) had no eval.reference_samples and no stream scheme: its records get the
    # default and the legacy scheme's name, so they read, and resuming them would mix two schemes.
    from ganbench.engine.streams import LEGACY_SCHEME
    from ganbench.records.legacy import SCHEMA_2_REFERENCE_SAMPLES
    from ganbench.suite import EvalSettings, load_suite

    assert SCHEMA_2_REFERENCE_SAMPLES == EvalSettings().reference_samples
    job = load_suite(str(tiny_suite)).jobs()[0]
    old = {"schema": 1, "key": job.key, "config": job.config(), "status": "ok", "metrics": {}}
    del old["config"]["eval"]["reference_samples"], old["config"]["streams"]
    (tmp_path / "run" / "jobs").mkdir(parents=True)
    (tmp_path / "run" / "jobs" / f"{job.key}.json").write_text(json.dumps(old), encoding="utf-8")
    store = RunStore(tmp_path / "run")
    (record,) = store.records()
    assert record.schema == SCHEMA_VERSION
    assert record.config == {**job.config(), "streams": LEGACY_SCHEME}
    with pytest.raises(GanbenchError, match="streams: 'offsets-v0' != 'seedsequence-v1'"):
        store.finished(job.key, job.config())
