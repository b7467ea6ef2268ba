"""Convergence verdicts of 2-D jobs: mode-collapse metrics mean something only once samples reach modes.

Two flags, judged separately:

- `off-modes`: the final high-quality fraction (HQ) is below OFF_MODES_HQ (or NaN). It describes the
  result (most samples lie more than 3 std from every mode, so modes covered and reverse KL count
  stray samples); it does not say that more training would help.
- `not-converged`: where training curves were tracked, one of them (HQ, modes covered, W1) still
  moves at the end of training by more than its sampling noise. The window is the tracked points
  whose step lies in the last WINDOW (30%) of the tracked steps; with fewer than MIN_POINTS (4)
  finite points there, that curve gives no verdict. A curve is not converged when either

  1. its trend moves: an ordinary least-squares line over the window implies a change
     slope x (last step - first window step) larger than the curve's tolerance, *and* the slope is
     significant, |slope| / se(slope) > T_CRIT (3), where se(slope) = s / sqrt(sum (t - mean t)^2)
     and s = max(the residual std with n - 2 degrees of freedom, the curve's noise floor); or
  2. its last point departs late: it differs from the mean of the window's other points by more
     than max(the curve's late tolerance, 4 x its noise floor) (a late collapse or a late jump).

  Tolerances, noise floors and late tolerances per curve (p: the window's mean HQ, n: the tracking
  sample count, m: the window's mean W1, f: W1's noise floor `w1_floor`):

  ============= ================= ================== ==============
  curve         tolerance         noise floor        late tolerance
  ============= ================= ================== ==============
  HQ            0.05              sqrt(p(1-p)/n)     0.1
  modes covered 1 mode            0.5 mode           2 modes
  W1            max(0.1 m, f)     f / 2              0.25 m
  ============= ================= ================== ==============

Image jobs (MNIST, Stacked MNIST) get `not-converged` by the same test on the image metrics tracked
over training (ganbench.engine.tracking: the suite's cheap ones, IMAGE_CURVES: FID in the MNIST
classifier's features, Stacked MNIST's modes covered and KL), with f the metric's
level on a true sample of the tracking size (what a perfect generator reads there, as W1's floor):

  ============= ================= ================== ==============
  curve         tolerance         noise floor        late tolerance
  ============= ================= ================== ==============
  FID, KL       max(0.1 m, f)     f / 2              0.25 m
  stacked modes max(0.02 m, 1)    occupancy std      0.05 m
  ============= ================= ================== ==============

(occupancy std: the standard deviation of the number of distinct modes that n draws from a uniform
distribution over the dataset's modes hit, n the tracking sample count). `off-modes` is a 2-D flag.

Runs made before these two flags recorded `undertrained` (HQ below 0.5) and `still-improving` (HQ
up by more than 0.05, or W1 down by more than 10% and its noise floor, between the start and the end
of the last 20% of tracked steps). Records store flags as strings, so those two stay known here, with
their own marks and legend lines, and an old run folder's table shows its flags as stored.

Tables mark flagged cells, `compare` lists them and `ganbench run` counts them in its last line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ganbench.metrics.wasserstein import exact_w1

# Curve names, as stored in a job record's "curves" (ganbench.engine.tracking records them) and read
# by the verdict below and by the report.
D_LOSS = "d_loss"
CRITIC_ESTIMATE = "critic_estimate"
W1_EXACT = "w1_exact"  # 1.0 when POT reached optimality, 0.0 when it stopped early
HQ_CURVE = "high_quality_fraction"
W1_CURVE = "w1"
MODES_CURVE = "modes_covered"  # Gaussian mixtures only, as the metric of the same name
# Image metrics tracked over training, by name (the metric's own), and how each is judged: a distance
# to the data, whose level on a true sample is its floor, or the count of Stacked MNIST's modes.
DISTANCE, COUNT = "distance", "count"
# KID is left out: its 100 subsets cost 3.4 s a point at 1,000 samples on a CPU, FID's 0.4 s.
IMAGE_CURVES = {"fid-lenet": DISTANCE, "stacked-modes": COUNT, "stacked-kl": DISTANCE}

OFF_MODES = "off-modes"
NOT_CONVERGED = "not-converged"
# Flags of runs made before OFF_MODES and NOT_CONVERGED existed: still read from old records.
UNDERTRAINED = "undertrained"
STILL_IMPROVING = "still-improving"
FLAGS = (OFF_MODES, NOT_CONVERGED, UNDERTRAINED, STILL_IMPROVING)
# Table marks of each flag. The old flags get marks of their own, so that a table mixing records
# made before and after the change (a resumed or extended run) never gives one mark two meanings.
SYMBOLS = {OFF_MODES: "†", NOT_CONVERGED: "‡", UNDERTRAINED: "§", STILL_IMPROVING: "¶"}
# The same marks in LaTeX (math-mode superscripts; \S and \P work in math mode in base LaTeX).
LATEX_SYMBOLS = {
    OFF_MODES: r"$^\dagger$",
    NOT_CONVERGED: r"$^\ddagger$",
    UNDERTRAINED: r"$^\S$",
    STILL_IMPROVING: r"$^\P$",
}

# Below half of the samples within 3 std of a mode, most samples lie off the mixture: "modes
# covered" then counts stray samples and reverse KL measures the spread, not which modes the
# generator learned. Trained GANs in the VEEGAN and PacGAN tables sit at 0.8 and above.
OFF_MODES_HQ = 0.5

# The last 30% of the tracked steps: with the suites' 20 tracked points, 6 or 7 points, enough to fit
# a line and to see its residual scatter, and late enough that early training is out of it.
WINDOW = 0.3
# A line through fewer points has at most one degree of freedom for its residual std: too few to
# judge, so such a curve gives no verdict.
MIN_POINTS = 4
# |slope| / se(slope) beyond which the trend counts. With the window's 4-5 residual degrees of freedom,
# Student's t exceeds 3 by chance with probability 3-4% (two-sided; the 1% level would be 4.0-4.6);
# where s is the curve's sampling noise (the floor binds: a known std), the statistic is about normal
# and 3 is a 0.3% level. Either way a noisy plateau (wide residual scatter, no trend) is not flagged,
# and the tolerance, not the test, decides whether a real trend matters.
T_CRIT = 3.0
# A last point this many noise floors away from the window's other points is not sampling noise.
LATE_NOISE = 4.0

# High-quality fraction: a change of 5 points matters (about 3 binomial std at 1,000 tracking samples
# and HQ 0.9); a late departure of 10 points is a collapse or a jump, not a wobble.
HQ_TOLERANCE = 0.05
HQ_LATE = 0.1
# Modes covered: one mode gained or lost matters; its sampling noise, at 1,000 tracking samples, is a
# mode at the edge of the coverage threshold coming and going (taken as half a mode); a late change of
# two modes is a collapse or a jump.
MODES_TOLERANCE = 1.0
MODES_FLOOR = 0.5
MODES_LATE = 2.0
# W1: a change of 10% of its window mean matters, unless that is below the noise floor f (the exact
# W1 between two independent true samples of the tracking size: near a converged ring W1 is itself
# mostly noise, and 10% of it means nothing). f is the level W1 reads for a perfect generator; its
# fluctuation from one tracked point to the next is smaller than that level, and half of it is taken
# as W1's noise floor (the same W1 of fixed true samples and fixed noise wobbles by less). A late
# departure of 25% of the window mean is a collapse or a jump.
W1_TOLERANCE = 0.10
W1_FLOOR_SHARE = 0.5
W1_LATE = 0.25
# Image distances (FID, KL to uniform) are judged as W1: 10% of their window mean, or their level on
# a true sample of the tracking size when that is larger (FID and KL are biased upwards at small n).
# Stacked MNIST's modes covered: a change of 2% of the modes matters (17 modes of the 865 that a perfect
# generator hits with 2,000 samples); a late change of 5% is a collapse or a jump.
COUNT_TOLERANCE = 0.02
COUNT_LATE = 0.05

LEGEND = {
    OFF_MODES: f"final high-quality fraction below {OFF_MODES_HQ} for some seed (most samples lie more "
    "than 3 std from every mode, so modes covered and reverse KL count stray samples); it describes "
    "the result and does not ask for more training",
    NOT_CONVERGED: f"for some seed a tracked curve (high-quality fraction, modes covered, W1; on images "
    f"FID, stacked modes, KL) still moves over the last {WINDOW:.0%} of tracked steps ({MIN_POINTS} "
    f"points or more): its least-squares trend changes it by more than {HQ_TOLERANCE}, "
    f"{MODES_TOLERANCE:g} mode, {W1_TOLERANCE:.0%} of W1 (of FID, KL) and its noise floor, or "
    f"{COUNT_TOLERANCE:.0%} of stacked modes, with a slope more than {T_CRIT:g} standard errors from zero "
    f"(the residual std taken at least as the sampling noise), or its last point lies more than "
    f"{HQ_LATE}, {MODES_LATE:g} modes, {W1_LATE:.0%} of W1 (of FID, KL) or {COUNT_LATE:.0%} of "
    f"stacked modes (and {LATE_NOISE:g} noise floors) from the window's other points; train longer",
    UNDERTRAINED: "high-quality fraction below 0.5 for some seed (mode metrics compare untrained "
    "generators there); a flag of runs made before off-modes and not-converged replaced it",
    STILL_IMPROVING: "still improving over the last 20% of tracked steps (high-quality fraction up by "
    "more than 0.05, or W1 down by more than 10% and more than its sampling noise); train longer; a "
    "flag of runs made before not-converged replaced it",
}


@dataclass(frozen=True)
class _Curve:
    """How one tracked curve is judged, from the window's values."""

    tolerance: float  # the smallest change over the window that matters
    floor: float  # the curve's sampling noise (a std)
    late: float  # the smallest late departure that matters, before LATE_NOISE x floor


def trend(steps: Sequence[float], values: Sequence[float], floor: float = 0.0) -> tuple[float, float]:
    """(change, t) of the least-squares line through (steps, values): change = slope x (last step -
    first step), t = slope / se(slope), se(slope) = s / sqrt(sum (step - mean step)^2) and
    s = max(the residual std with n - 2 degrees of freedom, `floor`). t is infinite for a nonzero
    slope through points on a line with no floor, 0 for a flat one. Needs 3 points or more."""
    t = np.asarray(steps, dtype=float)
    y = np.asarray(values, dtype=float)
    if len(t) < 3 or len(y) != len(t):
        raise ValueError(f"a trend needs 3 or more (step, value) pairs, got {len(t)} and {len(y)}")
    centred = t - t.mean()
    sxx = float(np.sum(centred**2))
    if sxx == 0.0:
        raise ValueError("a trend needs at least two distinct steps")
    slope = float(np.sum(centred * (y - y.mean())) / sxx)
    residuals = y - (y.mean() + slope * centred)
    s = max(math.sqrt(float(np.sum(residuals**2)) / (len(t) - 2)), floor)
    change = slope * float(t[-1] - t[0])
    if s == 0.0:
        return change, (math.copysign(math.inf, slope) if slope else 0.0)
    return change, slope / (s / math.sqrt(sxx))


def _window(steps: Sequence[float], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray] | None:
    """The finite (step, value) points in the last WINDOW of the tracked steps, or None when fewer
    than MIN_POINTS (or the curve does not match the steps)."""
    if len(steps) < MIN_POINTS or len(values) != len(steps):
        return None
    t = np.asarray(steps, dtype=float)
    y = np.asarray(values, dtype=float)
    span = t[-1] - t[0]
    # Inclusive, with room for float rounding: at 0..10,000 the point of step 7,000 opens the window.
    inside = (t >= t[-1] - WINDOW * span - 1e-9 * abs(span)) & np.isfinite(y) & np.isfinite(t)
    if inside.sum() < MIN_POINTS:
        return None
    return t[inside], y[inside]


def _moves(steps: np.ndarray, values: np.ndarray, curve: _Curve) -> bool:
    """Whether the window's points (`steps`, `values`) trend beyond `curve`'s tolerance and noise, or
    the last point departs late from the others."""
    change, t = trend(steps, values, curve.floor)
    trending = abs(change) > curve.tolerance and abs(t) > T_CRIT
    departure = abs(values[-1] - float(np.mean(values[:-1])))
    return trending or departure > max(curve.late, LATE_NOISE * curve.floor)


def _curves(
    window_mean: Mapping[str, float],
    track_samples: int,
    w1_floor: float,
    levels: Mapping[str, float],
    modes: int,
) -> dict[str, _Curve]:
    """The judged curves, their tolerances and noise floors from the window's mean values."""
    judged = {}
    if MODES_CURVE in window_mean:
        judged[MODES_CURVE] = _Curve(MODES_TOLERANCE, MODES_FLOOR, MODES_LATE)
    if HQ_CURVE in window_mean:
        p = min(max(window_mean[HQ_CURVE], 0.0), 1.0)
        binomial = math.sqrt(p * (1 - p) / max(track_samples, 1))  # the std of a fraction of n samples
        judged[HQ_CURVE] = _Curve(HQ_TOLERANCE, binomial, HQ_LATE)
    if W1_CURVE in window_mean:
        m = abs(window_mean[W1_CURVE])
        judged[W1_CURVE] = _Curve(max(W1_TOLERANCE * m, w1_floor), W1_FLOOR_SHARE * w1_floor, W1_LATE * m)
    for name, kind in IMAGE_CURVES.items():
        if name not in window_mean:
            continue
        m = abs(window_mean[name])
        if kind == DISTANCE:
            f = abs(levels.get(name, 0.0))
            judged[name] = _Curve(max(W1_TOLERANCE * m, f), W1_FLOOR_SHARE * f, W1_LATE * m)
        else:
            floor = occupancy_std(track_samples, modes) if modes else 0.0
            judged[name] = _Curve(max(COUNT_TOLERANCE * m, 1.0), floor, COUNT_LATE * m)
    return judged


def occupancy_std(n: int, modes: int) -> float:
    """The standard deviation of the number of distinct modes that n independent uniform draws over
    `modes` modes hit: with a = (1 - 1/M)^n and b = (1 - 2/M)^n, the count of missed modes has mean
    M a and variance M a + M (M - 1) b - (M a)^2 (each mode missed with probability a, two with b)."""
    if modes < 1 or n < 0:
        raise ValueError(f"occupancy needs modes >= 1 and n >= 0, got {modes} and {n}")
    a = (1 - 1 / modes) ** n
    b = (1 - 2 / modes) ** n
    return math.sqrt(max(modes * a + modes * (modes - 1) * b - (modes * a) ** 2, 0.0))


def not_converged(
    curves: Mapping[str, Sequence[float]],
    track_samples: int = 1000,
    w1_floor: float = 0.0,
    levels: Mapping[str, float] | None = None,
    modes: int = 0,
) -> list[str]:
    """The names of the tracked curves (HQ, modes covered, W1, the image curves) that still move at
    the end of training by the module's test; empty when none does or none has enough points in the
    window. `levels` holds each image distance's level on a true sample of the tracking size, and
    `modes` the dataset's number of modes (Stacked MNIST's 1,000) for the count's noise floor."""
    steps = curves.get("step", [])
    windows = {}
    for name in (HQ_CURVE, MODES_CURVE, W1_CURVE, *IMAGE_CURVES):
        found = _window(steps, curves.get(name, []))
        if found is not None:
            windows[name] = found
    means = {name: float(np.mean(y)) for name, (_, y) in windows.items()}
    judged = _curves(means, track_samples, w1_floor, levels or {}, modes)
    return [name for name, (t, y) in windows.items() if _moves(t, y, judged[name])]


def w1_noise_floor(first: np.ndarray, second: np.ndarray) -> float:
    """W1 between two independent true samples (n x d each): what W1 reads for a perfect generator."""
    return exact_w1(first, second).value


def verdict(
    high_quality_fraction: float,
    curves: Mapping[str, Sequence[float]],
    w1_floor: float = 0.0,
    *,
    track_samples: int = 1000,
) -> list[str]:
    """The flags of one 2-D job (FLAGS order) from its final high-quality fraction and its tracked
    curves; `w1_floor` is the tracked W1's noise floor (`w1_noise_floor` at the tracking size) and
    `track_samples` the number of samples each tracked point was measured on."""
    flags = []
    if not high_quality_fraction >= OFF_MODES_HQ:  # NaN too: no quality to speak of
        flags.append(OFF_MODES)
    if not_converged(curves, track_samples, w1_floor):
        flags.append(NOT_CONVERGED)
    return flags


def image_verdict(
    curves: Mapping[str, Sequence[float]],
    levels: Mapping[str, float],
    *,
    track_samples: int,
    modes: int = 0,
) -> list[str]:
    """The flags of one image job from its tracked curves: `not-converged` or none (an image job has
    no modes to be off; its distances' `levels` and `modes` as for `not_converged`)."""
    return [NOT_CONVERGED] if not_converged(curves, track_samples, 0.0, levels, modes) else []
