"""Checkpoints: an interrupted group resumes from its last saved state to the uninterrupted result."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganbench.data import DATASETS
from ganbench.engine.checkpoint import Checkpoints, load_checkpoint
from ganbench.engine.tracking import w1_observer
from ganbench.engine.train import Member, train_group
from ganbench.models import METHODS, NetworkSize
from ganbench.run import checkpoints
from ganbench.suite import load_suite

CPU = torch.device("cpu")
SIZE = NetworkSize(latent_dim=2, width=16, depth=2)


class Stop(Exception):
    """Stands for a kill between two steps."""


def _members(method: str, pack: int) -> list[Member]:
    objective = METHODS.get(method).objective
    members = []
    for name in ("ring-8", "grid-25"):
        spec = DATASETS.get(name)
        data = spec.build(spec.params())
        for seed in (0, 3):
            members.append(Member(seed, data, w1_observer(objective, data, 64, 2, seed, CPU, pack)))
    return members


def _group(method: str, hp, checkpoints: Checkpoints | None = None, stop_at: int | None = None, own=False):
    def on_step(step: int) -> None:
        if step == stop_at:
            raise Stop

    members = _members(method, hp.pack)
    if own:  # a tuning search's members: each its own step size, betas and penalty weight
        for k, member in enumerate(members):
            member.hyperparameters = dataclasses.replace(
                hp, lr=hp.lr * (k + 1), beta1=0.1 * k, gp_lambda=k + 1.0
            )
    return train_group(
        METHODS.get(method), hp, members, SIZE, 23, 16, CPU, log_every=4, on_step=on_step,
        track_every=10, checkpoints=checkpoints,
    )  # fmt: skip


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("method", "changes"),
    [
        ("wgan-gp", {}),  # penalty draws from its own stream; n_critic 5
        ("pacgan2", {"architecture": "pacgan"}),  # batch norm running statistics, packing
        ("wgan-gp", {"own": True}),  # per-member optimizer settings (the stacked Adam's state)
    ],
)
def test_resume_after_interruption_is_bitwise_the_uninterrupted_run(tmp_path, method, changes):
    own = changes.get("own", False)
    hp = dataclasses.replace(METHODS.get(method).defaults, **{k: v for k, v in changes.items() if k != "own"})
    whole = _group(method, hp, own=own)
    saved = Checkpoints(tmp_path / "group.pt", every=5, identity="this group")
    with pytest.raises(Stop):
        _group(method, hp, saved, stop_at=13, own=own)  # after the checkpoint at step 10, before 15
    assert torch.load(saved.path, weights_only=True)["step"] == 10
    resumed = _group(method, hp, saved, own=own)
    for a, b in zip(whole, resumed, strict=True):
        assert b.resumed_from == 10 and a.resumed_from is None
        assert (a.loss_steps, a.d_losses, a.g_losses, a.curves) == (
            b.loss_steps,
            b.d_losses,
            b.g_losses,
            b.curves,
        )
        for (name, x), (_, y) in zip(
            a.generator.state_dict().items(), b.generator.state_dict().items(), strict=True
        ):
            assert torch.equal(x, y), name
    # The last checkpoint is taken after the final step: a kill during evaluation does not retrain.
    assert torch.load(saved.path, weights_only=True)["step"] == 23


def test_a_checkpoint_of_another_group_or_a_pickle_is_never_loaded(tmp_path):
    path = tmp_path / "group.pt"
    saved = Checkpoints(path, every=5, identity="this group")
    hp = METHODS.get("gan").defaults
    _group("gan", hp, Checkpoints(path, every=5, identity="another group"))
    assert load_checkpoint(saved, CPU) is None  # another group's state: start from step 0

    ran = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (ran,))

    path.write_bytes(pickle.dumps({"identity": "this group", "payload": Payload()}))
    assert load_checkpoint(saved, CPU) is None  # weights_only=True refuses the object...
    assert not ran.exists()  # ...so its code never ran
    results = _group("gan", hp, saved)
    assert all(r.resumed_from is None for r in results)


SUITE = """
name = "resume"
methods = ["gan-ns", "pacgan2"]
datasets = ["ring-8"]
seeds = 2
metrics = ["modes-covered", "reverse-kl", "w1"]

[train]
steps = 2000
batch_size = 32
width = 16
depth = 2
log_every = 50
track_every = 1000
checkpoint_every = 200

[eval]
samples = 300
track_samples = 100
"""


def _run(suite: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "GANBENCH_THREADS": "1"}
    command = [sys.executable, "-m", "ganbench", "run", "--suite", str(suite), "--out", str(out)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _records(out: Path) -> dict[str, dict]:
    keep = ("metrics", "losses", "curves", "status", "flags")
    return {
        path.stem: {k: json.loads(path.read_text())[k] for k in keep}
        for path in sorted((out / "jobs").glob("*.json"))
    }


@pytest.mark.e2e
def test_kill_after_a_checkpoint_then_resume_gives_the_uninterrupted_result(tmp_path):
    suite = tmp_path / "resume.toml"
    suite.write_text(SUITE)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    process = _run(suite, killed)
    folder = killed / checkpoints.CHECKPOINTS_DIR
    deadline = time.monotonic() + 120
    # Kill -9 once the first group has saved its state at step 400 or later (mid-training).
    while time.monotonic() < deadline and process.poll() is None:
        files = list(folder.glob("group-*.pt"))
        if files and torch.load(files[0], weights_only=True)["step"] >= 400:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"

    resumed = _run(suite, killed)
    assert resumed.wait(timeout=600) == 0, resumed.stdout.read().decode()
    assert _run(suite, whole).wait(timeout=600) == 0
    assert _records(killed) == _records(whole)  # every metric, loss and curve value, exactly
    extras = [json.loads(p.read_text())["extra"] for p in (killed / "jobs").glob("*.json")]
    assert all(e["checkpoint_every"] == 200 for e in extras)
    assert any(e.get("resumed_from_step", 0) >= 400 for e in extras)  # the killed group resumed
    assert not list(folder.glob("*.pt"))  # stored groups leave no checkpoint behind


def test_checkpoint_every_is_not_part_of_a_jobs_configuration():
    suite = load_suite("mode-collapse-pacgan")
    job = suite.jobs()[0]
    assert job.train.checkpoint_every > 0
    assert "checkpoint_every" not in job.config()["train"]
