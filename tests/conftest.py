"""Shared fixtures: tiny suite files and a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]

TINY_SUITE = """
name = "tiny"
description = "tiny widths and few steps, for tests"
methods = {methods}
datasets = {datasets}
seeds = {seeds}
metrics = ["modes-covered", "high-quality-fraction", "reverse-kl", "w1"]

[train]
steps = {steps}
batch_size = 32
latent_dim = 2
width = 16
depth = 2
log_every = 5

[eval]
samples = 200

[quick]
steps = 3
samples = 100
"""


def point_methods() -> list[str]:
    """Registered methods whose default networks are for 2-D points (the image ones have their own tests)."""
    from ganbench.models import ARCHITECTURES, METHODS

    return [
        name
        for name in METHODS.names()
        if ARCHITECTURES.get(METHODS.get(name).defaults.architecture).modality == "points"
    ]


def write_tiny_suite(
    folder: Path,
    methods: tuple[str, ...] = ("gan", "wgan"),
    datasets: tuple[str, ...] = ("ring-8",),
    seeds: int = 2,
    steps: int = 10,
    extra: str = "",
) -> Path:
    """A small valid suite file; `extra` is appended verbatim (for override tables)."""
    text = TINY_SUITE.format(
        methods=list(methods), datasets=list(datasets), seeds=seeds, steps=steps
    ).replace("'", '"')
    path = folder / "tiny.toml"
    path.write_text(text + extra, encoding="utf-8")
    return path


@pytest.fixture
def tiny_suite(tmp_path: Path) -> Path:
    return write_tiny_suite(tmp_path)


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()
