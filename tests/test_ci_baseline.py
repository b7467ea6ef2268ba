"""The committed CI baseline (.ci/baseline/ci): the suite as it stands, made from a clean tree of the
current training code, and reproduced bit for bit where the machine matches the one that made it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import ROOT

from ganbench import device
from ganbench.app.run import run as run_suite
from ganbench.records.record import Record
from ganbench.records.store import RunStore
from ganbench.run import manifest
from ganbench.suite import load_suite

BASELINE = ROOT / ".ci" / "baseline" / "ci"
REFRESH = "refresh it as docs/pages/ci/ci-suite.md says ('To refresh the baseline')"
# The cheapest job group to train again: the ci suite's 8 GAN-NS seeds, one stacked model (about
# 10 s on 2 cores). A group, not one seed: a member of a stack of 8 rounds unlike a stack of 1.
RERUN_METHOD = "gan-ns"
# The versions that change float results besides the CPU and the thread count.
NUMERIC_PACKAGES = ("torch", "numpy", "pot")


def _baseline() -> list[Record]:
    return list(RunStore(BASELINE).records())


def test_the_committed_baseline_is_the_ci_suite_as_it_stands() -> None:
    # The CI recipe (docs/pages/ci/ci-suite.md) compares against .ci/baseline/ci: a change to the
    # suite (or to what a job records as its settings) must come with a refreshed baseline, or every
    # row would go missing.
    records = {record.key: record for record in _baseline()}
    jobs = {job.key: job for job in load_suite("ci").jobs()}
    assert records.keys() == jobs.keys()
    assert all(
        records[key].config == job.config() and records[key].status == "ok" for key, job in jobs.items()
    )


def test_the_baseline_was_made_from_a_clean_tree_of_the_current_training_code() -> None:
    records = _baseline()
    dirty = [r.key for r in records if r.manifest.get("git", {}).get("dirty") is not False]
    assert not dirty, (
        f"{len(dirty)} of {len(records)} records were made from a tree with uncommitted changes (or "
        f"outside git), {dirty[0]} first; {REFRESH}"
    )
    assert len({r.manifest["git"]["sha"] for r in records}) == 1, f"made at several commits; {REFRESH}"
    made_with = {r.manifest.get("training_code") for r in records}
    assert made_with == {manifest.training_code()}, (
        f"the training code ({', '.join(manifest.TRAINING_CODE)} under ganbench/) changed since the "
        f"baseline was made at {records[0].manifest['git']['sha'][:12]}; {REFRESH}"
    )


def _machine_difference(made: dict) -> str | None:
    """Why this machine cannot reproduce the baseline bit for bit, or None when it can."""
    here = manifest.cpu_model()
    if made["device"].get("cpu_model") != here:
        return f"the baseline's CPU is {made['device'].get('cpu_model')}, this one {here}"
    threads = made["torch"]["num_threads"]
    cores = device.usable_cores()
    if cores < threads:
        return f"the baseline ran {threads} threads, this machine has {cores} cores"
    versions = manifest.package_versions()
    changed = [
        f"{name} {made['versions'].get(name)} != {versions.get(name)}"
        for name in NUMERIC_PACKAGES
        if made["versions"].get(name) != versions.get(name)
    ]
    return f"other package versions: {'; '.join(changed)}" if changed else None


@pytest.mark.e2e
def test_a_baseline_group_trains_again_bit_for_bit_on_a_matching_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    baseline = {r.key: r for r in _baseline() if r.method == RERUN_METHOD}
    made = next(iter(baseline.values())).manifest
    difference = _machine_difference(made)
    if difference is not None:
        pytest.skip(f"float rounding differs between setups: {difference}")
    monkeypatch.setenv(device.THREADS_ENV, "")  # the run exports its choice; restored afterwards
    threads_before = torch.get_num_threads()
    try:
        run_suite(
            "ci", methods=(RERUN_METHOD,), out=tmp_path / "rerun", device="cpu",
            threads=made["torch"]["num_threads"],
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads_before)
    rerun = {r.key: r for r in RunStore(tmp_path / "rerun").records()}
    assert rerun.keys() == baseline.keys()
    for key, record in baseline.items():
        assert rerun[key].metrics == record.metrics, f"{key}: metrics differ from the baseline's; {REFRESH}"
        assert rerun[key].losses == record.losses, f"{key}: losses differ from the baseline's; {REFRESH}"
