"""Speed and memory figures: measured by `ganbench throughput`, registered here for direction and unit."""

from __future__ import annotations

from ganbench.errors import GanbenchError
from ganbench.metrics.base import NON_NEGATIVE, EvalContext, MetricValue, register_metric

# Result keys, measured by ganbench.throughput (which imports them from here).
TRAIN_IMG_PER_S = "train-img-per-s"
SAMPLE_IMG_PER_S = "sample-img-per-s"
PEAK_MEMORY_MB = "peak-memory-mb"
TRAIN_GFLOP_PER_IMG = "train-gflop-per-img"
TRAIN_TFLOP_PER_S = "train-tflop-per-s"


def _measured(ctx: EvalContext) -> MetricValue:
    raise GanbenchError("speed figures are measured by `ganbench throughput`, not computed from samples")


# Timing noise on a shared machine is several percent: 10% relative tolerance before `compare`
# calls a speed change real (its Mann-Whitney test over timed blocks applies on top).
for name, description, higher, unit, rel, title in (
    (
        TRAIN_IMG_PER_S,
        "images per second of full training iterations (median over timed blocks)",
        True,
        "img/s",
        0.1,
        "Training img/s",
    ),
    (
        SAMPLE_IMG_PER_S,
        "generated images per second, generator forward without grad",
        True,
        "img/s",
        0.1,
        "Sampling img/s",
    ),
    (
        PEAK_MEMORY_MB,
        "peak memory a measurement adds over what was in use before it (CUDA: max allocated; CPU: peak "
        "resident set, reset per measurement through /proc/self/clear_refs)",
        False,
        "MiB",
        0.1,
        "Peak memory MiB",
    ),
    (
        TRAIN_GFLOP_PER_IMG,
        "FLOPs of a training iteration per image (FlopCounterMode; n/a where it cannot trace one)",
        False,
        "GFLOP",
        0.01,
        "Training GFLOP/img",
    ),
    (TRAIN_TFLOP_PER_S, "achieved FLOP/s of training iterations", True, "TFLOP/s", 0.1, "Training TFLOP/s"),
):
    # Rates, memory and FLOP counts are all >= 0.
    register_metric(
        name,
        description,
        higher_is_better=higher,
        unit=unit,
        modality="measured",
        rel_tol=rel,
        display_name=title,
        domain=NON_NEGATIVE,
    )(_measured)
