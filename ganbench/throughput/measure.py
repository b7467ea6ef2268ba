"""Throughput: images per second of sampling and of full training iterations, memory and FLOPs.

Protocol: warm up first (cudnn.benchmark autotuning and torch.compile happen
there), then time blocks of iterations, synchronizing CUDA around each block; report the median
over blocks with its spread. A training iteration is everything one generator step costs: n_critic
discriminator steps plus one generator step; its throughput counts `batch_size` images per
iteration (the generator's batch), whatever n_critic is. Sampling counts generated images
(generator forward, no grad). Data are synthetic tensors already on the device, so the figures
measure the networks and the training loop, not data loading.
"""

from __future__ import annotations

import contextlib
import dataclasses
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ganbench.engine.stacked import Single
from ganbench.engine.train import Health, Stack, build_networks, make_optimizer, training_step
from ganbench.errors import GanbenchError
from ganbench.metrics import METRICS
from ganbench.metrics.speed import (
    PEAK_MEMORY_MB,
    SAMPLE_IMG_PER_S,
    TRAIN_GFLOP_PER_IMG,
    TRAIN_IMG_PER_S,
    TRAIN_TFLOP_PER_S,
)
from ganbench.models import METHODS, NetworkSize
from ganbench.report import Report, build_report
from ganbench.run import guard, manifest
from ganbench.run.records import MetricResult, Record, spec_of
from ganbench.run.store import RunStore, default_out, stored_count
from ganbench.throughput.spec import (
    Dtype,
    Measure,
    Networks,
    Options,
    Target,
    ThroughputSuite,
)

# Dense peak TFLOP/s by device name and dtype, from NVIDIA's H100/H200 SXM datasheets (the
# datasheets' Tensor Core figures are with sparsity; these are half of them, i.e. dense).
METRIC_KEYS = (TRAIN_IMG_PER_S, SAMPLE_IMG_PER_S, PEAK_MEMORY_MB, TRAIN_GFLOP_PER_IMG, TRAIN_TFLOP_PER_S)

PEAK_TFLOPS = {
    ("NVIDIA H100 80GB HBM3", "fp32"): 67.0,
    ("NVIDIA H100 80GB HBM3", "bf16"): 989.5,
    ("NVIDIA H100 80GB HBM3", "fp16"): 989.5,
    ("NVIDIA H200", "fp32"): 67.0,
    ("NVIDIA H200", "bf16"): 989.5,
    ("NVIDIA H200", "fp16"): 989.5,
}


AUTOCAST = {Dtype.bf16: torch.bfloat16, Dtype.fp16: torch.float16}


def _autocast(device: torch.device, dtype: Dtype) -> contextlib.AbstractContextManager:
    """Autocast to bf16/fp16 on the device; fp32 runs without autocast."""
    return (
        torch.autocast(device.type, dtype=AUTOCAST[dtype]) if dtype in AUTOCAST else contextlib.nullcontext()
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_blocks(fn: Callable[[], object], measure: Measure, device: torch.device) -> list[float]:
    """Seconds per call, one value per block, after `measure.warmup` untimed calls."""
    for _ in range(measure.warmup):
        fn()
    _sync(device)
    per_call = []
    for _ in range(measure.blocks):
        _sync(device)
        started = time.perf_counter()
        for _ in range(measure.iterations):
            fn()
        _sync(device)
        per_call.append((time.perf_counter() - started) / measure.iterations)
    return per_call


def _flops(fn: Callable[[], object]) -> float:
    """FLOPs of one call by torch's FlopCounterMode; NaN where it cannot trace the call.

    Its module tracker cannot follow `torch.autograd.grad(create_graph=True)` (WGAN-GP's
    gradient penalty) in this torch version, so those iterations report no FLOP figures.
    """
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with FlopCounterMode(display=False) as counter:
            fn()
    except RuntimeError:
        return float("nan")
    return float(counter.get_total_flops())


def measure_one(
    method_name: str, target: Target, batch: int, nets: Networks, measure: Measure, options: Options,
    device: torch.device,
) -> dict[str, Any]:  # fmt: skip
    """Measure one method x target x batch size; returns the metrics and their spreads."""
    method = METHODS.get(method_name)
    # WGAN-GP's critic drops batch norm on images (its paper, section 4): dcgan-gp.
    architecture = (
        "dcgan-gp" if target.architecture == "dcgan" and method.defaults.gp_lambda else target.architecture
    )
    hp = dataclasses.replace(method.defaults, architecture=architecture)
    generator, discriminator = build_networks(hp, NetworkSize(nets.latent_dim, nets.width, nets.depth),
                                              target.shape, 0, device)  # fmt: skip
    images = len(target.shape) == 3
    if options.channels_last and images:
        generator, discriminator = (
            m.to(memory_format=torch.channels_last) for m in (generator, discriminator)
        )
    opt_g, opt_d = (
        make_optimizer(list(generator.parameters()), hp),
        make_optimizer(list(discriminator.parameters()), hp),
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

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    train_seconds = _timed_blocks(train_iteration, measure, device)
    sample_seconds = _timed_blocks(sample, measure, device)
    if device.type == "cuda":
        peak_mb = torch.cuda.max_memory_allocated(device) / 2**20
    else:  # the process's peak resident set so far (Linux reports kilobytes)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    flops = _flops(train_iteration)
    median_train = statistics.median(train_seconds)
    peak = PEAK_TFLOPS.get(
        (torch.cuda.get_device_name(device) if device.type == "cuda" else "", options.dtype.value)
    )
    achieved = flops / median_train / 1e12
    return {
        TRAIN_IMG_PER_S: [batch / s for s in train_seconds],
        SAMPLE_IMG_PER_S: [batch / s for s in sample_seconds],
        PEAK_MEMORY_MB: [peak_mb],
        TRAIN_GFLOP_PER_IMG: [flops / batch / 1e9],
        TRAIN_TFLOP_PER_S: [achieved],
        "fraction_of_peak": achieved / peak if peak and achieved == achieved else None,
        "architecture": architecture,
    }


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
            figures = measure_one(method, target, batch, suite.networks, measure, options, device)
        except Exception as err:  # noqa: BLE001 - recorded, and the suite goes on
            record.fail(err)
        else:
            for name in METRIC_KEYS:
                values = figures[name]
                note = f"blocks: {', '.join(f'{v:.4g}' for v in values)}" if len(values) > 1 else ""
                record.metrics[name] = MetricResult(
                    statistics.median(values),
                    specs[name],
                    note=note,
                    values=values if len(values) > 1 else [],
                )
            record.extra = {
                "fraction_of_peak": figures["fraction_of_peak"],
                "architecture": figures["architecture"],
            }
        record.wall_seconds = time.perf_counter() - started
        store.save(record, None)
        ran.append(key)
    return ran


def throughput_key(method: str, target: str, batch: int) -> str:
    """A measurement's key: method, target and batch size, e.g. `wgan__dcgan-32-b64`."""
    return f"{method}__{target}-b{batch}"


def measure_suite(
    suite: str,
    options: Options,
    device: str = "auto",
    out: Path | None = None,
    quick: bool = False,
    methods: list[str] | None = None,
    on_job: Callable[[int, int, str], None] | None = None,
) -> tuple[Path, Report]:
    """`ganbench throughput`: load the suite, measure what `out` does not hold yet, report."""
    from ganbench.device import resolve_device
    from ganbench.suite import load_suite

    loaded = load_suite(suite)
    if not isinstance(loaded, ThroughputSuite):
        raise GanbenchError(f"'{loaded.name}' is a training suite: run it with `ganbench run`")
    torch_device = resolve_device(device)
    root = out if out is not None else default_out(loaded.name)
    guard.check_out(root)
    phase = "measurement"
    try:
        with guard.locked(root):
            run_throughput(loaded, root, torch_device, options, quick, methods, on_job)
            phase = "the report"
            report = build_report([root], root)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (the CLI turns it into KeyboardInterrupt)
        from ganbench.run.driver import RunInterrupted

        raise RunInterrupted(root, stored_count(root), len(loaded.jobs(quick)), phase) from None
    return root, report
