"""The throughput suite's names, options and TOML format, free of torch so the CLI and `list` stay fast."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ganbench.config import (
    MAX_BATCH,
    MAX_DEPTH,
    MAX_LATENT_DIM,
    MAX_WIDTH,
    at_least,
    at_most,
    build,
    folder_name,
    valid_keys,
)
from ganbench.errors import GanbenchError


class Dtype(StrEnum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


@dataclass(frozen=True)
class Options:
    """Settings that change speed; every record stores them."""

    dtype: Dtype = Dtype.fp32
    channels_last: bool = False
    compile: bool = False


@dataclass(frozen=True)
class Target:
    """What is measured: an architecture at one data shape (with the method's objective)."""

    name: str
    architecture: str
    shape: tuple[int, ...]


TARGETS = {
    "mlp-2d": Target("mlp-2d", "mlp", (2,)),
    "dcgan-32": Target("dcgan-32", "dcgan", (3, 32, 32)),
    "dcgan-64": Target("dcgan-64", "dcgan", (3, 64, 64)),
}


MAX_REPEATS = 10_000  # warm-up steps, timed blocks, iterations per block


@dataclass(frozen=True)
class Measure:
    """How long to warm up and how many timed blocks of how many iterations.

    Each block is one `torch.utils.benchmark.Timer.timeit(iterations)`, which runs
    max(iterations // 100, 2) untimed calls of its own before the timed ones.
    """

    warmup: int = field(default=3, metadata=at_least(1) | at_most(MAX_REPEATS))
    blocks: int = field(default=5, metadata=at_least(1) | at_most(MAX_REPEATS))
    iterations: int = field(default=5, metadata=at_least(1) | at_most(MAX_REPEATS))  # per block


@dataclass(frozen=True)
class Networks:
    """Network sizes: `width` for the MLP and DCGAN feature maps, MLP `depth`, latent size."""

    latent_dim: int = field(default=100, metadata=at_least(1) | at_most(MAX_LATENT_DIM))
    width: int = field(default=64, metadata=at_least(1) | at_most(MAX_WIDTH))
    depth: int = field(default=3, metadata=at_least(0) | at_most(MAX_DEPTH))


@dataclass(frozen=True)
class ThroughputSuite:
    """A validated throughput suite: methods x targets x batch sizes."""

    name: str
    description: str
    methods: tuple[str, ...]
    targets: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    networks: Networks
    measure: Measure
    quick: Measure
    quick_batch_sizes: tuple[int, ...]

    def shape(self) -> str:
        return (
            f"{len(self.methods)} methods x {len(self.targets)} targets x {len(self.batch_sizes)} batch sizes"
        )

    def jobs(self, quick: bool = False) -> list[tuple[str, Target, int]]:
        batches = self.quick_batch_sizes if quick else self.batch_sizes
        return [(m, TARGETS[t], b) for m in self.methods for t in self.targets for b in batches]


def parse_throughput_suite(data: dict[str, Any], where: str) -> ThroughputSuite:
    """Validate the TOML of a `kind = "throughput"` suite; errors name the file and key."""
    allowed = {
        "kind",
        "name",
        "description",
        "methods",
        "targets",
        "batch_sizes",
        "networks",
        "measure",
        "quick",
    }
    for key in data:
        if key not in allowed:
            raise GanbenchError(f"{where}: unknown key '{key}'; {valid_keys(sorted(allowed))}")
    for key in ("methods", "targets"):
        if (
            not isinstance(data.get(key), list)
            or not data[key]
            or not all(isinstance(v, str) for v in data[key])
        ):
            raise GanbenchError(f"{where}: '{key}' must be a non-empty list of names")
    for key in ("name", "description"):
        if not isinstance(data.get(key, ""), str):
            raise GanbenchError(f"{where}: '{key}' must be a string")
    for key in ("networks", "measure", "quick"):
        if not isinstance(data.get(key, {}), dict):
            raise GanbenchError(f"{where}: '{key}' must be a table")
    from ganbench.models import METHODS  # here: importing torch must not slow `ganbench --help`

    for name in data.get("methods", []):
        METHODS.get(name)
    for name in data.get("targets", []):
        if name not in TARGETS:
            raise GanbenchError(f"{where}: unknown target '{name}'; valid: {', '.join(TARGETS)}")
    quick = dict(data.get("quick", {}))
    quick_batches = quick.pop("batch_sizes", data.get("batch_sizes"))
    for label, values in (("batch_sizes", data.get("batch_sizes")), ("quick.batch_sizes", quick_batches)):
        if not isinstance(values, list) or not values or not all(_is_batch(b) for b in values):
            raise GanbenchError(f"{where}: {label} must be a non-empty list of integers 1..{MAX_BATCH:,}")
    return ThroughputSuite(
        name=folder_name(data.get("name", "throughput"), where),
        description=str(data.get("description", "")),
        methods=tuple(data["methods"]),
        targets=tuple(data["targets"]),
        batch_sizes=tuple(data["batch_sizes"]),
        networks=build(Networks, data.get("networks", {}), f"{where}: networks"),
        measure=build(Measure, data.get("measure", {}), f"{where}: measure"),
        quick=build(Measure, quick, f"{where}: quick"),
        quick_batch_sizes=tuple(quick_batches),
    )


def _is_batch(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_BATCH


def load_throughput_suite(name_or_path: str) -> ThroughputSuite:
    """Read and validate a throughput suite (a file with `kind = "throughput"`) by name or path."""
    from ganbench.suite import is_throughput, read_suite  # here: the CLI imports this module for --help

    path, data = read_suite(name_or_path)
    if not is_throughput(data):
        name = data.get("name", path.stem)
        raise GanbenchError(f"'{name}' is a training suite: run it with `ganbench run`")
    return parse_throughput_suite(data, str(path))
