"""The worker: execute one job group (train, sample, evaluate) into typed records; every executor calls it.

`run_group` is the one entry point. It makes the calling process ready the same way wherever it
runs (in the driver's process, in a Ray worker, in a pool process): the driver's `WorkerContext`
(paths, plugins, threads, the run's checkpoint and generator folders) is applied, the device is
resolved there, and each record gets that process's manifest. The worker writes nothing to the run
folder but its group's training checkpoint (under checkpoints/, when the suite asks for them) and
kept generators: the driver stores what it returns.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from ganbench.data import DATASETS, KNOWN_MODES, Dataset
from ganbench.data.images import to_uint8
from ganbench.data.stacked_mnist import N_MODES
from ganbench.device import resolve_device
from ganbench.engine.streams import generator as stream
from ganbench.engine.streams import stream_seed
from ganbench.engine.tracking import ImageMeasure, image_observer, w1_observer
from ganbench.engine.train import Member, Observer, TrainResult, generate, train_group
from ganbench.metrics import METRICS, EvalContext
from ganbench.metrics.mode_collapse import high_quality_fraction
from ganbench.metrics.validity import IMAGE_CURVES, image_verdict, verdict, w1_noise_floor
from ganbench.models import METHODS, NetworkSize
from ganbench.records.record import DatasetInfo, MetricResult, Record, spec_of
from ganbench.run import checkpoints, generators, manifest
from ganbench.run.context import WorkerContext
from ganbench.run.progress import RunProgress, Silent
from ganbench.suite import Job

# Generated images kept per job for the report's sample grids (8 x 8).
STORED_IMAGES = 64
Outcome = tuple[Record, np.ndarray | None]  # a job's record and its generated samples


def run_group(jobs: list[Job], context: WorkerContext, progress: RunProgress | None = None) -> list[Outcome]:
    """Execute one job group (jobs trained as one stacked model), in this process; one (record,
    samples) each.

    Args:
        jobs: one job, or jobs of one method and settings trained together as one stacked model
            (seeds and datasets; see `ganbench.run.driver.stack_groups`).
        context: the driver's settings (`WorkerContext.of_driver`), applied here first; its device
            (auto, cpu, cuda) is resolved here, where the jobs run.
        progress: step-level progress (only in the driver's process).
    """
    context.apply()
    torch_device = resolve_device(context.device)
    outcomes = execute_jobs(jobs, torch_device, progress, context)
    session = manifest.capture(torch_device)
    for record, _ in outcomes:
        record.manifest = session
    return outcomes


def new_record(job: Job, batch: list[str]) -> Record:
    """The record of a job about to run: status ok until something says otherwise."""
    return Record(
        kind="train",
        key=job.key,
        method=job.method,
        cell=job.dataset,
        seed=job.seed,
        config=job.config(),
        metric_specs={name: spec_of(METRICS.get(name)) for name in job.metrics},
        batch=batch,
    )


def execute_jobs(
    jobs: list[Job],
    device: torch.device,
    progress: RunProgress | None = None,
    context: WorkerContext | None = None,
) -> list[Outcome]:
    """Train, sample and evaluate jobs trained together; one (record, samples) each (`context`: where
    checkpoints and kept generators go; None: nowhere).

    Never raises for a job's own failure: an exception becomes a `failed` record with its reason,
    a non-finite loss a `diverged` record with the step. Ctrl-C (KeyboardInterrupt) propagates.
    """
    progress = progress or Silent()
    context = context or WorkerContext(device=str(device))
    started = time.perf_counter()
    records = [new_record(job, [j.key for j in jobs]) for job in jobs]
    outcomes: list[Outcome] = [(r, None) for r in records]
    try:
        datasets = [DATASETS.get(job.dataset).build(job.dataset_params) for job in jobs]
        results = _train(jobs, datasets, device, progress, context.checkpoints)
    except Exception as err:  # noqa: BLE001 - a job's failure is recorded, and the suite goes on
        results = []
        for record in records:
            record.fail(err)
    for index, (job, record, result) in enumerate(zip(jobs, records, results, strict=False)):
        record.dataset = dataset_info(datasets[index])
        record.train_seconds = result.seconds
        record.losses = {"step": result.loss_steps, "d": result.d_losses, "g": result.g_losses}
        record.curves = result.curves
        if job.train.checkpoint_every:
            record.extra["checkpoint_every"] = job.train.checkpoint_every
        if result.resumed_from is not None:
            record.extra["resumed_from_step"] = result.resumed_from
        if result.status == "diverged":
            record.diverge(
                result.diverged_step, f"loss became NaN or infinite at step {result.diverged_step}"
            )
            continue
        try:
            kept = context.generators
            outcomes[index] = (record, _evaluate(job, datasets[index], result, device, record, kept))
        except Exception as err:  # noqa: BLE001
            record.fail(err)
    for record in records:
        record.wall_seconds = (time.perf_counter() - started) / len(jobs)
    return outcomes


def dataset_info(dataset: Dataset) -> DatasetInfo:
    """What reports need of a dataset: its modality and, for mixtures, its centers."""
    centers = getattr(dataset, "centers", None)
    return DatasetInfo(dataset.modality, None if centers is None else torch.as_tensor(centers).tolist())


def dataset_id(job: Job) -> str:
    """The dataset with the parameters that shape its data, e.g. `mnist-split=test-size=28` (part of
    the real-data statistics' cache key; whether a download was allowed does not change the data)."""
    params = dataclasses.asdict(job.dataset_params)
    return "-".join([job.dataset, *(f"{k}={v}" for k, v in params.items() if k != "download")])


def _train(
    jobs: list[Job], datasets: list[Dataset], device: torch.device, progress: RunProgress, folder: Path | None
) -> list[TrainResult]:
    """The jobs as one stacked model (a job alone is a stack of one), checkpointed in `folder` (None:
    not at all) and resumed from their checkpoint only when it fits the group (one that does not is
    removed with a warning: training starts at 0)."""
    job = jobs[0]
    saved = None
    if folder is not None:
        saved = checkpoints.in_folder(folder, [j.config() for j in jobs], job.train.checkpoint_every)
    if saved is not None:
        saved = checkpoints.drop_unusable(saved, jobs, datasets, device)
    members = [
        Member(j.seed, data, _observer(j, data, device) if j.train.track_every else None, j.hyperparameters)
        for j, data in zip(jobs, datasets, strict=True)
    ]
    return train_group(
        METHODS.get(job.method),
        job.hyperparameters,
        members,
        NetworkSize(job.train.latent_dim, job.train.width, job.train.depth),
        job.train.steps,
        job.train.batch_size,
        device,
        log_every=job.train.log_every,
        on_step=lambda done: progress.step(done, job.train.steps),
        track_every=job.train.track_every,
        checkpoints=saved,
    )


def _observer(job: Job, dataset: Dataset, device: torch.device) -> Observer:
    objective = METHODS.get(job.method).objective
    if dataset.modality == "images":
        return image_observer(
            objective,
            dataset,
            job.eval.track_samples,
            job.train.latent_dim,
            job.seed,
            device,
            image_measure(job, dataset, device),
            job.hyperparameters.pack,
        )
    return w1_observer(
        objective,
        dataset,
        job.eval.track_samples,
        job.train.latent_dim,
        job.seed,
        device,
        job.hyperparameters.pack,
    )


def tracked_image_metrics(job: Job) -> list[str]:
    """The job's metrics that image jobs track over training: the cheap ones the convergence test
    judges (ganbench.metrics.validity.IMAGE_CURVES), in the suite's order."""
    return [name for name in job.metrics if name in IMAGE_CURVES]


def image_measure(job: Job, dataset: Dataset, device: torch.device) -> ImageMeasure:
    """Scores images by the job's tracked image metrics, against the same reference as its final
    evaluation (the reference statistics are computed once and cached)."""
    names = tracked_image_metrics(job)

    def measure(images: np.ndarray) -> dict[str, float]:
        ctx = EvalContext(
            images,
            dataset,
            stream_seed(job.seed, "reference"),
            dataset_id=dataset_id(job),
            reference_count=job.eval.reference_samples,
            wanted=tuple(names),
            device=device,
        )
        return {name: METRICS.get(name).compute(ctx).value for name in names}

    return measure


def _track_levels(job: Job, dataset: Dataset, device: torch.device) -> dict[str, float]:
    """What the tracked image metrics read on true images of the tracking size (the tracking set's
    own stream): a perfect generator's level, the floor of the convergence test's image distances."""
    real = dataset.sample(job.eval.track_samples, stream(job.seed, "track-real"))
    return image_measure(job, dataset, device)(real.float().numpy())


def _w1_floor(job: Job, dataset: Dataset) -> float:
    """The tracked W1's noise floor: two independent true samples of the tracking size (the tracking
    set's own stream and the evaluation reference stream)."""
    n = job.eval.track_samples
    first = dataset.sample(n, stream(job.seed, "track-real")).double().numpy()
    second = dataset.sample(n, stream(job.seed, "reference")).double().numpy()
    return w1_noise_floor(first, second)


def _evaluate(
    job: Job,
    dataset: Dataset,
    result: TrainResult,
    device: torch.device,
    record: Record,
    kept_in: Path | None,
) -> np.ndarray:
    """Sample the trained generator and compute the job's metrics into `record`; keep the generator in
    `kept_in` when the suite asks (`[eval] keep_generators`)."""
    started = time.perf_counter()
    generated = generate(result.generator, job.eval.samples, job.train.latent_dim, job.seed, device)
    samples = generated.numpy().astype(np.float32)
    if not np.isfinite(samples).all():
        record.diverge(job.train.steps, "generated samples are NaN or infinite")
    else:
        floor, levels = None, None
        if KNOWN_MODES.offered_by(dataset) and result.curves.get("step"):  # only tracked W1 needs it
            floor = record.extra["w1_noise_floor"] = _w1_floor(job, dataset)
        if dataset.modality == "images" and result.curves.get("step") and tracked_image_metrics(job):
            levels = record.extra["track_levels"] = _track_levels(job, dataset, device)
        score(samples, dataset, job, device, record, result.curves, floor or 0.0, result.critic, levels)
        if job.eval.keep_generators and kept_in is not None:
            hp, train = job.hyperparameters, job.train
            shape = tuple(samples.shape[1:])
            kept = generators.settings_of(
                hp.architecture, train.latent_dim, train.width, train.depth, shape, hp.pack
            )
            generators.save(kept_in, job.key, result.generator, kept)
            record.extra["kept_generator"] = f"{generators.GENERATORS_DIR}/{job.key}.pt"
    record.eval_seconds = time.perf_counter() - started
    return stored_samples(samples, dataset)


def stored_samples(samples: np.ndarray, dataset: Dataset) -> np.ndarray:
    """What a run folder keeps of a job's samples: all 2-D points; a grid's worth of images as uint8
    (all of them would be tens of megabytes)."""
    if dataset.modality == "images":
        return to_uint8(torch.from_numpy(samples[:STORED_IMAGES])).numpy()
    return samples


def score(
    samples: np.ndarray,
    dataset: Dataset,
    job: Job,
    device: torch.device,
    record: Record,
    curves: Mapping[str, list[float]] | None = None,
    w1_floor: float = 0.0,
    critic: torch.nn.Module | None = None,
    track_levels: Mapping[str, float] | None = None,
) -> None:
    """Compute `job`'s metrics of `samples` (float32: points (n, 2), images (n, C, H, W) in [-1, 1])
    into `record`, with the convergence flags of 2-D jobs and of image jobs with tracked image curves
    (`track_levels`: each tracked metric on true images of the tracking size). Trained jobs and
    `ganbench eval` share it, so the same samples give the same record values whichever made them."""
    ctx = EvalContext(
        samples if dataset.modality == "images" else samples.astype(np.float64),
        dataset,
        stream_seed(job.seed, "reference"),
        dataset_id=dataset_id(job),
        reference_count=job.eval.reference_samples,
        wanted=job.metrics,
        device=device,
        critic=critic,
        pack=job.hyperparameters.pack,
    )
    if KNOWN_MODES.offered_by(dataset):
        record.flags = verdict(
            high_quality_fraction(ctx.samples, dataset),
            dict(curves or {}),
            w1_floor,
            track_samples=job.eval.track_samples,
        )
    elif track_levels is not None and curves and curves.get("step"):
        modes = N_MODES if "stacked-modes" in track_levels else 0
        record.flags = image_verdict(curves, track_levels, track_samples=job.eval.track_samples, modes=modes)
    for name in job.metrics:
        value = METRICS.get(name).compute(ctx)
        record.metrics[name] = MetricResult(
            value=value.value,
            spec=record.metric_specs[name],
            exact=value.exact,
            note=value.note,
            counts=value.counts or {"generated": len(samples)},
        )
        if getattr(value, "details", None):  # e.g. the fit behind an extrapolated FID
            record.extra[name] = value.details
