"""Throughput: images per second of sampling and of full training iterations, memory and FLOPs.

Protocol: warm up first (cudnn.benchmark autotuning and torch.compile happen there), then time
`blocks` blocks of `iterations` iterations with `torch.utils.benchmark.Timer`, CUDA synchronized
around each block; the value is the median over blocks, every block is kept. A training iteration
is everything one generator step costs: n_critic discriminator steps plus one generator step; its
throughput counts `batch_size` images per iteration (the generator's batch), whatever n_critic is.
Sampling counts generated images (generator forward, no grad). Data are synthetic tensors already
on the device, so the figures measure the networks and the training loop, not data loading. Peak
memory is measured per target (`PeakMemory`); a figure that cannot be computed for a method is
stored as NaN with an "n/a: <why>" note (tables show n/a with the reason as a footnote).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import gc
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ganbench.engine.stacked import Single
from ganbench.engine.train import Health, Stack, build_networks, make_optimizer, training_step
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS
from ganbench.metrics.base import NOT_APPLICABLE
from ganbench.metrics.speed import (
    PEAK_MEMORY_MB,
    SAMPLE_IMG_PER_S,
    TRAIN_GFLOP_PER_IMG,
    TRAIN_IMG_PER_S,
    TRAIN_TFLOP_PER_S,
)
from ganbench.models import METHODS, NetworkSize
from ganbench.records.record import MetricResult, Record, spec_of
from ganbench.records.store import RunStore
from ganbench.run import manifest
from ganbench.throughput.spec import (
    Dtype,
    Measure,
    Networks,
    Options,
    Target,
    ThroughputSuite,
)

if TYPE_CHECKING:
    from torch.utils import benchmark

METRIC_KEYS = (TRAIN_IMG_PER_S, SAMPLE_IMG_PER_S, PEAK_MEMORY_MB, TRAIN_GFLOP_PER_IMG, TRAIN_TFLOP_PER_S)

# Dense peak TFLOP/s by device name and dtype, from NVIDIA's H100/H200 SXM datasheets (the
# datasheets' Tensor Core figures are with sparsity; these are half of them, i.e. dense).
PEAK_TFLOPS = {
    ("NVIDIA H100 80GB HBM3", "fp32"): 67.0,
    ("NVIDIA H100 80GB HBM3", "bf16"): 989.5,
    ("NVIDIA H100 80GB HBM3", "fp16"): 989.5,
    ("NVIDIA H200", "fp32"): 67.0,
    ("NVIDIA H200", "bf16"): 989.5,
    ("NVIDIA H200", "fp16"): 989.5,
}

# proc(5), /proc/[pid]/clear_refs: writing 5 (Linux >= 4.0) resets the peak resident set size
# (VmHWM in /proc/[pid]/status) to the current resident set size.
CLEAR_REFS = Path("/proc/self/clear_refs")
PROC_STATUS = Path("/proc/self/status")
RESET_PEAK_RSS = "5"
NO_PEAK_RSS = (
    "CPU peak memory needs /proc/self/clear_refs (Linux >= 4.0, writable) to reset the peak resident "
    "set per target, and it is not available here"
)


AUTOCAST = {Dtype.bf16: torch.bfloat16, Dtype.fp16: torch.float16}


@dataclasses.dataclass(frozen=True)
class Figure:
    """One metric of a measurement: its value, the timed blocks behind it (empty for a single figure)
    and a note; NaN with a note starting with NOT_APPLICABLE where it cannot be computed."""

    value: float
    values: list[float] = dataclasses.field(default_factory=list)
    note: str = ""


def not_applicable(reason: str) -> Figure:
    """A figure that cannot be computed for this method or machine, with the reason tables print."""
    return Figure(math.nan, note=NOT_APPLICABLE + reason)


def _autocast(device: torch.device, dtype: Dtype) -> contextlib.AbstractContextManager:
    """Autocast to bf16/fp16 on the device; fp32 runs without autocast."""
    return (
        torch.autocast(device.type, dtype=AUTOCAST[dtype]) if dtype in AUTOCAST else contextlib.nullcontext()
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _clock(device: torch.device) -> Callable[[], float]:
    """The Timer's clock: synchronizes `device` (CUDA) before reading time.perf_counter.

    Timer's default clock synchronizes `torch.accelerator`'s current device, which need not be the one
    measured (cuda:1 while cuda:0 is current); this one synchronizes the measured device itself.
    """

    def clock() -> float:
        _sync(device)
        return time.perf_counter()

    return clock


def _timed_blocks(fn: Callable[[], object], measure: Measure, device: torch.device) -> benchmark.Measurement:
    """`measure.blocks` blocks of `measure.iterations` calls of `fn`, timed by torch.utils.benchmark.Timer
    after `measure.warmup` untimed calls; one Measurement whose `times` are each block's seconds per call.

    Each block is one `Timer.timeit(iterations)`, which itself runs max(iterations // 100, 2) untimed
    calls first (torch's own warm-up) and reads the clock, synchronized, before and after the block.
    """
    # torch.utils.benchmark imports torch.utils.cpp_extension, which logs "No CUDA runtime is found"
    # on every CPU-only machine with a CUDA build of torch: about compiling extensions, not timing.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    from torch.utils import benchmark

    for _ in range(measure.warmup):
        fn()
    _sync(device)
    # Timer runs the statement with `num_threads` torch threads, 1 unless told: keep the process's.
    timer = benchmark.Timer(
        stmt="fn()", globals={"fn": fn}, timer=_clock(device), num_threads=torch.get_num_threads()
    )
    blocks = [timer.timeit(measure.iterations) for _ in range(measure.blocks)]
    (merged,) = benchmark.Measurement.merge(blocks)  # one task: times per call, one per block
    return merged


def _rate(measurement: benchmark.Measurement, batch: int, measure: Measure) -> Figure:
    """Images per second: `batch` over the Measurement's median seconds per call, every block kept."""
    values = [batch / seconds for seconds in measurement.times]
    spread = f"; IQR {measurement.iqr / measurement.median:.1%} of the median time" if len(values) > 1 else ""
    note = (
        f"{len(values)} blocks of {measure.iterations} (torch.utils.benchmark.Timer): "
        f"{', '.join(f'{v:.4g}' for v in values)}{spread}"
    )
    return Figure(batch / measurement.median, values if len(values) > 1 else [], note)


def _flops(fn: Callable[[], object]) -> float:
    """FLOPs of one call by torch's FlopCounterMode; raises RuntimeError where it cannot trace the call."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def _trim_heap() -> None:
    """Hand freed heap memory back to the OS (glibc's malloc_trim(3)), so that memory an earlier target
    freed but the allocator kept does not hide what the next target allocates; nothing elsewhere."""
    with contextlib.suppress(OSError, AttributeError, TypeError):  # not glibc: nothing to trim
        ctypes.CDLL(None).malloc_trim(0)


def _status_kib(field: str) -> int:
    """A `kB` field of /proc/self/status (VmRSS: resident set, VmHWM: its peak), in KiB."""
    for line in PROC_STATUS.read_text(encoding="ascii").splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0])
    raise OSError(f"{PROC_STATUS} has no {field}")


class PeakMemory:
    """The peak memory a block of code adds over what was in use just before it, in MiB.

    `with PeakMemory(device) as memory:` ..., then `memory.figure()`. The increase, not the absolute
    peak: what a target costs, whatever earlier targets or the interpreter hold. CUDA:
    `max_memory_allocated` after `reset_peak_memory_stats`, less `memory_allocated` before (tensors
    only; the CUDA context and the caching allocator's reserve are not counted). CPU: the peak resident
    set (VmHWM) after resetting it through /proc/self/clear_refs, less the resident set (VmRSS) before;
    where clear_refs is unavailable the figure is n/a (the process's lifetime peak would credit this
    target with an earlier one's memory).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.baseline = 0.0  # MiB in use when the block starts
        self.peak = math.nan  # MiB at the block's peak
        self.reason = ""  # why there is no figure

    def __enter__(self) -> PeakMemory:
        gc.collect()  # an earlier target's tensors caught in reference cycles go first
        if self.device.type == "cuda":
            _sync(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline = torch.cuda.memory_allocated(self.device) / 2**20
            return self
        _trim_heap()
        try:
            CLEAR_REFS.write_text(RESET_PEAK_RSS, encoding="ascii")
            self.baseline = _status_kib("VmRSS") / 1024
        except OSError:
            self.reason = NO_PEAK_RSS
        return self

    def __exit__(self, *exc: object) -> None:
        if self.reason:
            return
        if self.device.type == "cuda":
            _sync(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            try:
                self.peak = _status_kib("VmHWM") / 1024
            except OSError:
                self.reason = NO_PEAK_RSS

    def figure(self) -> Figure:
        """The increase in MiB (never below 0), or n/a with the reason."""
        if self.reason:
            return not_applicable(self.reason)
        return Figure(max(0.0, self.peak - self.baseline))


@dataclasses.dataclass(frozen=True)
class Measured:
    """What `measure_one` measured: one Figure per metric, and facts for the record's `extra`."""

    figures: dict[str, Figure]
    extra: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class _Built:
    """One target built on the device: a training iteration and a sampling call on fixed batches."""

    train_iteration: Callable[[], None]
    sample: Callable[[], None]


def _build(
    method_name: str, architecture: str, target: Target, batch: int, nets: Networks, options: Options,
    device: torch.device,
) -> _Built:  # fmt: skip
    """Networks, optimizers and synthetic batches of one target, and the two calls that are timed."""
    method = METHODS.get(method_name)
    hp = dataclasses.replace(method.defaults, architecture=architecture)
    generator, discriminator = build_networks(hp, NetworkSize(nets.latent_dim, nets.width, nets.depth),
                                              target.shape, 0, device)  # fmt: skip
    images = len(target.shape) == 3
    if options.channels_last and images:
        generator, discriminator = (
            m.to(memory_format=torch.channels_last) for m in (generator, discriminator)
        )
    opt_g, opt_d = (
        make_optimizer(list(generator.parameters()), "g", [hp]),
        make_optimizer(list(discriminator.parameters()), "d", [hp]),
    )
    if options.compile:
        generator, discriminator = torch.compile(generator), torch.compile(discriminator)
    draws = batch * hp.pack
    memory_format = torch.channels_last if options.channels_last and images else torch.contiguous_format
    real = torch.randn(1, draws, *target.shape, device=device)
    real = real[0].contiguous(memory_format=memory_format).unsqueeze(0)
    codes = torch.randn(1, draws, nets.latent_dim, device=device)
    # The engine's own step function on a stack of one, fed fixed batches: no data or noise draws
    # are timed, only what a training iteration computes.
    stacked = Stack(Single(generator), Single(discriminator), opt_g, opt_d)
    health = Health(1, device)
    penalty = torch.Generator(device=device).manual_seed(0)

    class FixedDraws:
        def real(self) -> torch.Tensor:
            return real

        def noise(self) -> torch.Tensor:
            return codes

        def uniform(self, shape: tuple[int, ...]) -> torch.Tensor:
            return torch.rand(1, *shape, generator=penalty, device=device)

    def train_iteration() -> None:
        with _autocast(device, options.dtype):
            training_step(stacked, method, hp, FixedDraws(), 1, health)

    @torch.no_grad()
    def sample() -> None:
        with _autocast(device, options.dtype):
            generator(codes[0, :batch])

    return _Built(train_iteration, sample)


def measure_one(
    method_name: str, target: Target, batch: int, nets: Networks, measure: Measure, options: Options,
    device: torch.device,
) -> Measured:  # fmt: skip
    """Measure one method x target x batch size: rates over timed blocks, peak memory, FLOPs."""
    method = METHODS.get(method_name)
    # WGAN-GP's critic drops batch norm on images (its paper, section 4): dcgan-gp.
    architecture = (
        "dcgan-gp" if target.architecture == "dcgan" and method.defaults.gp_lambda else target.architecture
    )
    # A throwaway build and warm-up first, outside the memory window: what the process sets up once
    # for a code path (library code paged in, thread pools, kernel caches: about 160 MiB on CPU for the
    # first MLP target, torch 2.14) is not charged to the first target that runs it.
    primer = _build(method_name, architecture, target, batch, nets, options, device)
    for _ in range(measure.warmup):
        primer.train_iteration()
        primer.sample()
    del primer
    # The target's memory: networks, optimizer state, data, warm-up and every timed iteration.
    with PeakMemory(device) as memory:
        built = _build(method_name, architecture, target, batch, nets, options, device)
        train = _timed_blocks(built.train_iteration, measure, device)
        sampled = _timed_blocks(built.sample, measure, device)
    figures = {
        TRAIN_IMG_PER_S: _rate(train, batch, measure),
        SAMPLE_IMG_PER_S: _rate(sampled, batch, measure),
        PEAK_MEMORY_MB: memory.figure(),
    }
    peak = PEAK_TFLOPS.get(
        (torch.cuda.get_device_name(device) if device.type == "cuda" else "", options.dtype.value)
    )
    try:
        flops = _flops(built.train_iteration)
    except torch.OutOfMemoryError:
        raise  # the machine's limit, not the method's: the job fails (and resume retries it)
    except RuntimeError as err:
        # FlopCounterMode's module tracker cannot follow torch.autograd.grad(create_graph=True), which
        # a gradient penalty (WGAN-GP's) calls: "A leaf node was passed to _will_engine_execute_node".
        message = (str(err).splitlines() or [type(err).__name__])[0]
        traced = (
            "gradient penalty (autograd.grad with create_graph)"
            if method.defaults.gp_lambda and "_will_engine_execute_node" in message
            else f"training iteration ({message})"
        )
        reason = f"FlopCounterMode cannot trace {method.title}'s {traced}"
        figures[TRAIN_GFLOP_PER_IMG] = figures[TRAIN_TFLOP_PER_S] = not_applicable(reason)
        achieved = math.nan
    else:
        achieved = flops / train.median / 1e12
        figures[TRAIN_GFLOP_PER_IMG] = Figure(flops / batch / 1e9)
        # One value per timed block, as for img/s: `compare` then tests it as it tests the rate it
        # is derived from, instead of judging one number by its tolerance alone.
        per_block = [flops / seconds / 1e12 for seconds in train.times] if len(train.times) > 1 else []
        figures[TRAIN_TFLOP_PER_S] = Figure(achieved, per_block)
    timing = {
        name: {"median_s": m.median, "iqr_s": m.iqr, "blocks": len(m.times), "iterations": measure.iterations}
        for name, m in ((TRAIN_IMG_PER_S, train), (SAMPLE_IMG_PER_S, sampled))
    }
    extra = {
        "fraction_of_peak": achieved / peak if peak and math.isfinite(achieved) else None,
        "architecture": architecture,
        "timing": timing,  # seconds per call, as torch.utils.benchmark's Measurement gives them
    }
    return Measured(figures, extra)


def run_throughput(
    suite: ThroughputSuite,
    out: Path,
    device: torch.device,
    options: Options,
    quick: bool = False,
    methods: list[str] | None = None,
    on_job: Callable[[int, int, str], None] | None = None,
) -> list[str]:
    """Measure every method x target x batch size not yet stored in `out`; returns the keys run.

    Each measurement is a job record in the run folder (resume, reports and `ganbench compare`
    work as for training suites): the median over timed blocks is the value, the blocks are kept.
    """
    for name in methods or []:
        METHODS.get(name)
    store = RunStore(out)
    measure = suite.quick if quick else suite.measure
    # Read (and check) everything first: a damaged folder stops with one line, untouched.
    stored = store.records()
    store.plan()
    if any(record.kind != "throughput" for record in stored):
        raise GanbenchError(f"{out} holds training records; measure into another --out")
    if any(record.key.endswith("__seed0") for record in stored):
        raise GanbenchError(
            f"{out} holds throughput records of an older ganbench (keys ending in __seed0): they still "
            "report and compare, but measure new ones into another --out"
        )
    session = manifest.capture(device)
    store.write_manifest(session)
    jobs = [(m, t, b) for m, t, b in suite.jobs(quick) if not methods or m in methods]
    keys = [throughput_key(m, t.name, b) for m, t, b in jobs]
    store.add_to_plan(keys)
    specs = {name: spec_of(METRICS.get(name)) for name in METRIC_KEYS}
    ran = []
    for index, ((method, target, batch), key) in enumerate(zip(jobs, keys, strict=True), start=1):
        config = {
            "suite": suite.name, "method": method, "batch_size": batch,
            # Lists, not tuples: the config must equal itself after a JSON round trip (resume).
            "target": {**dataclasses.asdict(target), "shape": list(target.shape)},
            "options": {"dtype": options.dtype.value, "channels_last": options.channels_last,
                        "compile": options.compile},
            "networks": dataclasses.asdict(suite.networks), "measure": dataclasses.asdict(measure),
            "device": device.type, "metrics": list(METRIC_KEYS),
        }  # fmt: skip
        if store.finished(key, config):
            continue
        if on_job is not None:
            on_job(index, len(jobs), key)
        record = Record(
            kind="throughput", key=key, method=method, cell=f"{target.name}-b{batch}", seed=None,
            config=config, metric_specs=specs, manifest=session,
        )  # fmt: skip
        started = time.perf_counter()
        try:
            measured = measure_one(method, target, batch, suite.networks, measure, options, device)
        except Exception as err:  # noqa: BLE001 - recorded, and the suite goes on
            record.fail(err)
        else:
            # A figure that cannot be computed is NaN with its reason in the note: the job stays ok.
            for name in METRIC_KEYS:
                figure = measured.figures[name]
                record.metrics[name] = MetricResult(
                    figure.value,
                    specs[name],
                    exact=math.isfinite(figure.value),
                    note=figure.note,
                    values=figure.values,
                )
            record.extra = measured.extra
        record.wall_seconds = time.perf_counter() - started
        store.save(record, None)
        ran.append(key)
    return ran


def throughput_key(method: str, target: str, batch: int) -> str:
    """A measurement's key: method, target and batch size, e.g. `wgan__dcgan-32-b64`."""
    return f"{method}__{target}-b{batch}"
