"""The metric registry: each metric declares its direction and unit beside its code."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
import torch

from ganbench.data.base import Capability, Dataset, Modality
from ganbench.errors import GanbenchError
from ganbench.registry import Registry

# What a metric applies to: a dataset modality, or `measured` for figures that `ganbench throughput`
# measures on the networks themselves (speed, memory), never computed from samples.
MetricKind = Modality | Literal["measured"]


# The note of a metric that cannot be computed for a job (WGAN-GP's FLOPs, a critic's gradient where
# no critic exists): its value is NaN, the job stays ok, and tables show "n/a" with the rest of the
# note as a footnote.
NOT_APPLICABLE = "n/a: "


@dataclass(frozen=True)
class MetricValue:
    """One metric's result. `exact` is False when a solver stopped before optimality."""

    value: float
    exact: bool = True
    note: str = ""
    # Sample counts behind the value, e.g. {"generated": 10000, "reference": 10000}: FID and KID are
    # biased at small n, so a score is only comparable beside its counts.
    counts: dict[str, int] = field(default_factory=dict)
    # Facts behind the value a reader may want (e.g. the fit behind an extrapolated FID), stored in the
    # record's `extra` under the metric's name. JSON values only: numbers, strings, lists, dicts.
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalContext:
    """What a metric sees: the generated samples, the true dataset, and a seed for references.

    Points are (n, d) float64; images are (n, C, H, W) float32 in [-1, 1]. `dataset_id` names the
    dataset with its parameters (a cache key for real-data statistics), `wanted` lists every metric
    of this evaluation (so metrics computed together, like torch-fidelity's, run once), and `shared`
    holds what they share.
    """

    samples: np.ndarray
    dataset: Dataset
    seed: int
    dataset_id: str = ""
    reference_count: int = 10_000
    wanted: tuple[str, ...] = ()
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    # The trained discriminator/critic, where a ganbench training made the samples (None for samples
    # or generators scored by `ganbench eval`), and its PacGAN packing degree.
    critic: torch.nn.Module | None = field(default=None, repr=False)
    pack: int = 1
    shared: dict[Hashable, Any] = field(default_factory=dict, repr=False)
    _reference: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def reference(self, n: int) -> np.ndarray:
        """`n` fresh true samples, the same for every metric of this evaluation (seeded)."""
        if n not in self._reference:
            generator = torch.Generator().manual_seed(self.seed)
            self._reference[n] = self.dataset.sample(n, generator).to(torch.float64).numpy()
        return self._reference[n]


# Default noise tolerances of `ganbench compare` for a metric that declares none: a change within 5% of
# the baseline mean is not a change. Each metric should declare its own beside its code.
DEFAULT_REL_TOL = 0.05
DEFAULT_ABS_TOL = 0.0


@dataclass(frozen=True)
class Metric:
    """A registered metric. Reports and comparisons read the direction from here alone.

    `rel_tol` and `abs_tol` are the noise tolerances of `ganbench compare`: a change of the mean
    counts only when it exceeds max(abs_tol, rel_tol * |baseline mean|).
    """

    name: str
    description: str
    higher_is_better: bool
    unit: str
    modality: MetricKind
    compute: Callable[[EvalContext], MetricValue]
    rel_tol: float = DEFAULT_REL_TOL
    abs_tol: float = DEFAULT_ABS_TOL
    # Called once before a run trains anything: finds (or trains) what the metric needs, such as
    # weights files, so that a missing one stops the run at once with one line, not after training.
    # Its argument prints a line to the user (about slow work, such as training a classifier).
    prepare: Callable[[Callable[[str], None]], None] | None = None
    # The most samples it can score within memory (None: no limit); suites asking more are refused.
    max_samples: int | None = None
    # The fewest samples it can score (a covariance needs 2); `ganbench eval` refuses smaller sets.
    min_samples: int = 1
    # How tables and figures name it ("Reverse KL"); the slug where empty.
    display_name: str = ""
    # The values it can take, (low, high) with None for no bound: reports keep every interval inside.
    # A count of modes is bounded by the dataset's modes, which the report reads from the records.
    domain: tuple[float | None, float | None] = (None, None)
    # The dataset capabilities it needs (ganbench.data.base: KNOWN_MODES, IMAGE_SOURCE, ...): a suite
    # pairing it with a dataset that does not declare one is refused when it is loaded, before
    # anything trains, and `needed` hands the compute function the dataset typed as the capability.
    needs: tuple[Capability[Any], ...] = ()

    @property
    def title(self) -> str:
        """The display name, or the slug when the metric declares none."""
        return self.display_name or self.name

    def unmet(self, offered: frozenset[Capability[Any]]) -> Capability[Any] | None:
        """The first capability it needs that is not among `offered` (None: it can score the dataset)."""
        return next((capability for capability in self.needs if capability not in offered), None)


def refusal(metric: str, dataset: str, capability: Capability[Any]) -> str:
    """The one line that refuses to score `dataset` by `metric` ("metric 'fid'", or what else needs
    the capability), which needs `capability`."""
    return (
        f"{metric} cannot score dataset '{dataset}': it needs {capability.description} "
        f"(capability '{capability.name}'), which '{dataset}' does not declare"
    )


View = TypeVar("View")


def needed(ctx: EvalContext, capability: Capability[View], metric: str) -> View:
    """The evaluated dataset typed as `capability` provides it, for `metric` ("metric 'fid'") that needs
    it; a dataset that does not declare it (scored without a suite's check) is refused in one line."""
    view = capability.of(ctx.dataset)
    if view is None:
        raise GanbenchError(refusal(metric, ctx.dataset_id or "the dataset", capability))
    return view


# Domains a metric declares: fractions, non-negative quantities (distances, divergences, counts).
FRACTION: tuple[float | None, float | None] = (0.0, 1.0)
NON_NEGATIVE: tuple[float | None, float | None] = (0.0, None)


METRICS: Registry[Metric] = Registry("metric")


def register_metric(
    name: str,
    description: str,
    *,
    higher_is_better: bool,
    unit: str,
    modality: MetricKind,
    rel_tol: float = DEFAULT_REL_TOL,
    abs_tol: float = DEFAULT_ABS_TOL,
    prepare: Callable[[Callable[[str], None]], None] | None = None,
    max_samples: int | None = None,
    min_samples: int = 1,
    display_name: str = "",
    domain: tuple[float | None, float | None] = (None, None),
    needs: tuple[Capability[Any], ...] = (),
) -> Callable[[Callable[[EvalContext], MetricValue]], Callable[[EvalContext], MetricValue]]:
    """Decorator registering a compute function as a `Metric` with its direction, unit, the noise
    tolerances (relative and absolute, both >= 0) that `ganbench compare` applies to it, an
    optional `prepare` step that runs before any training, and the most and fewest samples it can
    score, its display name, its domain (the values it can take) and the dataset capabilities it needs."""
    if not (rel_tol >= 0 and abs_tol >= 0):  # also rejects NaN
        raise ValueError(f"metric {name!r}: tolerances must be >= 0, got rel {rel_tol!r}, abs {abs_tol!r}")

    def decorate(compute: Callable[[EvalContext], MetricValue]) -> Callable[[EvalContext], MetricValue]:
        metric = Metric(
            name,
            description,
            higher_is_better,
            unit,
            modality,
            compute,
            rel_tol,
            abs_tol,
            prepare,
            max_samples,
            min_samples,
            display_name,
            domain,
            tuple(needs),
        )
        METRICS.add(name, metric)
        return compute

    return decorate
