"""Density and coverage (Naeem et al. 2020, Reliable Fidelity and Diversity Metrics for Generative Models)."""

from __future__ import annotations

import numpy as np
import torch

from ganbench.data.base import CONTINUOUS
from ganbench.errors import GanbenchError
from ganbench.metrics.base import FRACTION, NON_NEGATIVE, EvalContext, MetricValue, register_metric

DENSITY = "density"
COVERAGE = "coverage"
FAMILY = "density-coverage"

# k = 5, Naeem et al.'s recommended default (with M = N = 10,000). For two samples of one distribution
# E[density] = 1 and E[coverage] = 1 - C(N-1, k) / C(N+M-1, k), about 1 - 2^-k = 0.97 at M = N.
NEAREST_K = 5

# prdc (the authors' code) builds the full N x N, M x M and N x M distance matrices: 800 MB each in
# float64 at 10,000 points (1.6 GB above its inputs measured at d = 64, 2.4 GB if all three were held),
# growing with the square. That is why ganbench does not call prdc at run time (only its tests do):
# distances here are computed for blocks of real rows, at most this many float64 distances (128 MiB)
# at a time, so memory grows linearly in N + M (0.3 GB above the inputs at 10,000 points, d = 64).
CHUNK_ELEMENTS = 2**24

# Time, not memory, bounds the sample count: it grows with N M (2-core CPU: 0.07 s at 2,500 x 2,500
# 2-D points, 1.2 s at 10,000, 11 s at 30,000; 11 s at 10,000 of d = 2,048), so 100,000 points
# take about two minutes.
DENSITY_COVERAGE_MAX_SAMPLES = 100_000

Points = np.ndarray | torch.Tensor


def _points(x: Points, name: str, device: torch.device | None) -> torch.Tensor:
    points = torch.as_tensor(x).to(device=device, dtype=torch.float64)
    if points.ndim != 2 or points.shape[0] == 0 or points.shape[1] == 0:
        raise GanbenchError(
            f"{name} points must be a non-empty (n, d) array, got shape {tuple(points.shape)}"
        )
    if not torch.isfinite(points).all():
        raise GanbenchError(f"{name} points must be finite, found NaN or infinity")
    return points


def _blocks(n_rows: int, n_columns: int, chunk_rows: int | None) -> list[slice]:
    """Row blocks of `chunk_rows` rows, or of as many as CHUNK_ELEMENTS distances allow."""
    rows = max(1, chunk_rows if chunk_rows is not None else CHUNK_ELEMENTS // n_columns)
    return [slice(start, min(start + rows, n_rows)) for start in range(0, n_rows, rows)]


def real_radii(real: torch.Tensor, k: int, chunk_rows: int | None = None) -> torch.Tensor:
    """NND_k of each real point: its distance to its k-th nearest neighbour among the other real points.

    As in prdc: the (k+1)-th smallest distance of the point's row, the smallest being its own distance
    0 (set exactly: torch.cdist's |x|^2 + |y|^2 - 2xy can leave ~1e-8 there).
    """
    radii = torch.empty(len(real), dtype=torch.float64, device=real.device)
    for block in _blocks(len(real), len(real), chunk_rows):
        distances = torch.cdist(real[block], real)
        rows = torch.arange(distances.shape[0], device=real.device)
        distances[rows, rows + block.start] = 0.0
        # topk (sorted, ascending) is several times faster than kthvalue on the CPU for small k.
        radii[block] = torch.topk(distances, k + 1, dim=1, largest=False).values[:, k]
    return radii


def density_coverage(
    real: Points,
    fake: Points,
    k: int = NEAREST_K,
    *,
    chunk_rows: int | None = None,
    device: torch.device | None = None,
) -> tuple[float, float]:
    """Density and coverage of `fake` (M, d) against `real` (N, d), with k nearest neighbours.

    With NND_k(x) the distance from real x to its k-th nearest other real point (Naeem et al. 2020,
    with prdc's strict inequalities):
        density = 1/(kM) sum_j sum_i 1[|Y_j - X_i| < NND_k(X_i)]
        coverage = 1/N sum_i 1[exists j: |Y_j - X_i| < NND_k(X_i)]

    Distances are computed in float64 for blocks of `chunk_rows` real rows (default: as many as
    CHUNK_ELEMENTS distances allow), on `device` (default: the CPU).

    Raises:
        GanbenchError: points that are not non-empty finite (n, d) arrays of one d, k < 1, or N <= k.
    """
    real_points, fake_points = _points(real, "real", device), _points(fake, "fake", device)
    if real_points.shape[1] != fake_points.shape[1]:
        raise GanbenchError(
            f"real and fake points differ in dimension: {real_points.shape[1]} and {fake_points.shape[1]}"
        )
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise GanbenchError(f"k must be an integer >= 1, got {k!r}")
    if len(real_points) <= k:
        raise GanbenchError(
            f"k = {k} nearest neighbours need more than {k} real points, got {len(real_points)}"
        )
    # Distances do not change under a shift; centering on the real mean keeps |x|^2 + |y|^2 - 2xy from
    # cancelling digits for data far from the origin.
    center = real_points.mean(dim=0)
    real_points, fake_points = real_points - center, fake_points - center
    radii = real_radii(real_points, k, chunk_rows)
    inside = 0  # pairs (real i, fake j) with fake j inside real i's ball
    covered = 0  # real points with at least one fake inside their ball
    for block in _blocks(len(real_points), len(fake_points), chunk_rows):
        hits = (torch.cdist(real_points[block], fake_points) < radii[block, None]).sum(dim=1)
        inside += int(hits.sum())
        covered += int((hits > 0).sum())
    return inside / (k * len(fake_points)), covered / len(real_points)


def density_coverage_metric_value(
    real: Points,
    fake: Points,
    k: int = NEAREST_K,
    note_prefix: str = "",
    device: torch.device | None = None,
) -> tuple[MetricValue, MetricValue]:
    """Density and coverage as MetricValues (for the metrics of any feature space): the sample counts
    ("generated" = fake, "reference" = real), k in the note and the details."""
    density, coverage = density_coverage(real, fake, k, device=device)
    counts = {"generated": len(fake), "reference": len(real)}
    note = f"{note_prefix}k = {k}"
    return (
        MetricValue(density, note=note, counts=counts, details={"k": k}),
        MetricValue(coverage, note=note, counts=counts, details={"k": k}),
    )


def _shared(ctx: EvalContext) -> tuple[MetricValue, MetricValue]:
    """Density and coverage of the samples, computed once per evaluation for both metrics.

    The reference has as many true samples as the evaluation has samples (the same ones W1 reads): the
    expected values above hold at M = N, and coverage of a perfect generator falls with N / M (to
    1 - 0.8^5 = 0.67 against a fixed 10,000 references at 2,500 samples).
    """
    key = f"{FAMILY}:k{NEAREST_K}"
    if key not in ctx.shared:
        ctx.shared[key] = density_coverage_metric_value(ctx.reference(len(ctx.samples)), ctx.samples)
    return ctx.shared[key]


@register_metric(
    DENSITY,
    f"how many true samples' k-NN balls hold each sample, over k (k = {NEAREST_K}; Naeem et al. 2020)",
    higher_is_better=True,
    unit="",
    modality="points",
    # Density of 2,500 true samples against as many fresh ones is 1.00 +- 0.01 over seeds on ring-8,
    # +- 0.02 on grid-25 (docs/pages/methods/mode-collapse.md): 5%, and 0.05 near 0.
    rel_tol=0.05,
    abs_tol=0.05,
    max_samples=DENSITY_COVERAGE_MAX_SAMPLES,
    min_samples=NEAREST_K + 1,  # the reference has as many samples, and k neighbours need k + 1 points
    display_name="Density",
    domain=NON_NEGATIVE,  # up to N / k: a sample where many balls overlap counts many times
    # True samples all at one point (the dirac) make every k-NN radius 0: nothing could fall inside.
    needs=(CONTINUOUS,),
)
def _density(ctx: EvalContext) -> MetricValue:
    return _shared(ctx)[0]


@register_metric(
    COVERAGE,
    f"fraction of true samples whose k-NN ball holds a sample (k = {NEAREST_K}; Naeem et al. 2020)",
    higher_is_better=True,
    unit="",
    modality="points",
    # At 2,500 samples coverage of true samples is 0.97 +- 0.005 over seeds; one mode lost costs 0.12
    # on ring-8, 0.035 on grid-25. Two points of the fraction, as for the high-quality fraction.
    rel_tol=0.0,
    abs_tol=0.02,
    max_samples=DENSITY_COVERAGE_MAX_SAMPLES,
    min_samples=NEAREST_K + 1,
    display_name="Coverage",
    domain=FRACTION,
    needs=(CONTINUOUS,),
)
def _coverage(ctx: EvalContext) -> MetricValue:
    return _shared(ctx)[1]
