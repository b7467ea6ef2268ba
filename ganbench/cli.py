"""The `ganbench` command line: each command parses its options and calls one library function."""

from __future__ import annotations

import functools
import shlex
import signal
import sys
import threading
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from ganbench import paths
from ganbench.app.throughput import Dtype, Options
from ganbench.device import THREADS_ENV, DeviceChoice
from ganbench.errors import GanbenchError
from ganbench.limits import MAX_SAMPLES
from ganbench.terminal import printable

if TYPE_CHECKING:
    from ganbench.app.run import RunInterrupted

# Recent typer carries its own copy of click, so click's base error is found from an error typer exports.
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class OneLineErrors(TyperGroup):
    """Click's usage errors (a bad option value, an unknown command) as one `error:` line, exit 2,
    like every other bad input, instead of click's four lines of usage, hint and message."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except _CLICK_ERROR as err:
            if type(err).__name__ == "NoArgsIsHelpError":  # `ganbench` alone: the help, as click shows it
                err.show()
                sys.exit(err.exit_code)
            where = f" (see `{err.ctx.command_path} --help`)" if getattr(err, "ctx", None) else ""
            message = err.format_message().rstrip(".")
            _error(f"error: {message}{where}")
            sys.exit(err.exit_code)
        except typer.Abort:
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    name="ganbench",
    cls=OneLineErrors,
    help="Benchmark and evaluate GANs on standard suites.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click messages: a usage error ends in one "Error: ..." line, not a framed panel.
    rich_markup_mode=None,
)
# soft_wrap: messages and tables stay one line each, whatever the terminal width. No markup and no
# emoji codes: what ganbench prints holds names, paths and keys you chose, and `mygen:ring` or
# `[bold]` in them must print as typed (styles are passed as `style=`, never written into the text).
console = Console(soft_wrap=True, markup=False, emoji=False)
errors = Console(stderr=True, soft_wrap=True, markup=False, emoji=False)

F = TypeVar("F", bound=Callable[..., Any])

# Options several commands share, declared once: the same name, help and environment variable everywhere.
Methods = Annotated[list[str] | None, typer.Option(help="Only these methods (comma-separated or repeated).")]
Metrics = Annotated[list[str] | None, typer.Option(help="Only these metrics (comma-separated or repeated).")]
Steps = Annotated[int | None, typer.Option(help="Generator steps per job, overriding the suite.")]
Quick = Annotated[bool, typer.Option("--quick", help="The suite's small budget, for smoke checks and CI.")]
RunFolder = Annotated[Path | None, typer.Option(help="Run folder; re-running with the same folder resumes.")]
Threads = Annotated[
    int | None,
    typer.Option(
        envvar=THREADS_ENV,
        min=1,
        help="CPU threads per job group (default: the cores not already busy; docs: scaling/threads).",
    ),
]
Yes = Annotated[
    bool, typer.Option("--yes", "-y", help="Start a long training without asking (docs: running/long-runs).")
]
DataRoot = Annotated[
    Path | None,
    typer.Option(
        envvar=paths.DATA_ROOT_ENV,
        help="Folder of image datasets (default: ~/.cache/ganbench/data); torchvision downloads there.",
    ),
]
InceptionWeights = Annotated[
    Path | None,
    typer.Option(
        envvar=paths.INCEPTION_WEIGHTS_ENV,
        help="Local Inception-v3 file: TorchScript or torch-fidelity weights (isc needs the latter).",
    ),
]
CacheDir = Annotated[
    Path | None,
    typer.Option(
        envvar=paths.CACHE_DIR_ENV,
        help="Cache of real-data statistics and the digit classifier (default: ~/.cache/ganbench).",
    ),
]


@app.callback()
def _load_plugins(ctx: typer.Context) -> None:
    """Benchmark and evaluate GANs on standard suites."""
    # Every command sees the same registries: plugins from GANBENCH_PLUGINS and entry points load
    # here, before any command runs (not for --help, which stays fast).
    from ganbench import plugins

    # SIGTERM (what CI runners and schedulers send) stops a command as Ctrl-C does: finished work is
    # kept and one line says so, instead of the process vanishing without a word.
    if threading.current_thread() is threading.main_thread():  # where Python runs signal handlers
        previous = signal.signal(signal.SIGTERM, _terminated)
        ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))
    try:
        plugins.load()
    except GanbenchError as err:
        _error(f"error: {err}")
        raise typer.Exit(EXIT_BAD_INPUT) from None


# Exit codes: 2 for unusable input (as click does for usage errors), 3 when a run finished but some
# of its jobs failed (rerunning the command retries them), 128 + the signal for Ctrl-C (130) and
# SIGTERM (143).
EXIT_BAD_INPUT = 2
EXIT_JOBS_FAILED = 3
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that it unwinds exactly as Ctrl-C does."""


def _terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def _interrupt_code(err: KeyboardInterrupt | BaseException) -> int:
    return EXIT_TERMINATED if isinstance(err, Terminated) else EXIT_INTERRUPTED


def user_errors(command: F) -> F:
    """Turn a GanbenchError (or an OSError) into one line on stderr and exit code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except GanbenchError as err:
            _error(f"error: {err}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except OSError as err:  # an unwritable --out, a full disk: one line, not a traceback
            _error(f"error: {err}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except KeyboardInterrupt as err:  # Ctrl-C or SIGTERM outside a run's own handling
            # Every command keeps what it finished (records are written whole, files atomically), and
            # running it again resumes or rewrites: say so, with the command.
            _error(
                f"interrupted: {command.__name__.rstrip('_')} stopped; what it finished is kept; run it again"
                f" with: {shlex.join(['ganbench', *sys.argv[1:]])}"
            )
            raise typer.Exit(_interrupt_code(err)) from None

    return wrapper  # type: ignore[return-value]


def _error(line: str) -> None:
    """One line on stderr, control characters shown as escapes (it may quote files and arguments)."""
    errors.print(printable(line), markup=False, highlight=False)


def _split_names(values: list[str] | None) -> list[str] | None:
    """Accept `--methods gan,wgan` as well as `--methods gan --methods wgan`."""
    if values is None:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


@app.command()
@user_errors
def run(
    suite: Annotated[
        str, typer.Option("--suite", "-s", help="Suite name (see `ganbench list`) or path to a TOML file.")
    ],
    methods: Methods = None,
    seeds: Annotated[int | None, typer.Option(help="Number of seeds (0..N-1), overriding the suite.")] = None,
    first_seed: Annotated[
        int | None,
        typer.Option(help="Run seeds N..N+seeds-1 instead (a rerun at other seeds, for `compare`)."),
    ] = None,
    steps: Steps = None,
    device: Annotated[DeviceChoice, typer.Option(help="Where to train.")] = DeviceChoice.auto,
    out: Annotated[
        Path | None, typer.Option(help="Run folder; re-running with the same folder resumes.")
    ] = None,
    batch_seeds: Annotated[
        bool,
        typer.Option(help="Train all seeds of a method together as one batched model (2-D data)."),
    ] = True,
    quick: Quick = False,
    threads: Threads = None,
    executor: Annotated[
        str, typer.Option(help="Where jobs run: local, ray, or a plugin's executor (see `ganbench list`).")
    ] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: start a local Ray instance).")
    ] = None,
    cpus_per_job: Annotated[float, typer.Option(help="CPUs Ray reserves per task.")] = 1.0,
    gpus_per_job: Annotated[float, typer.Option(help="GPUs Ray reserves per task.")] = 0.0,
    data_root: DataRoot = None,
    inception_weights: InceptionWeights = None,
    cache_dir: CacheDir = None,
    yes: Yes = False,
    keep_generators: Annotated[
        bool,
        typer.Option(
            "--keep-generators", help="Keep each trained generator, for `ganbench eval --from-run`."
        ),
    ] = False,
) -> None:
    """Train and evaluate every job of a suite; write records, tables and figures."""
    from ganbench.app import run as commands

    # A log (CI, nohup, a pipe) gets a plain line per finished job; rich draws bars there only at the end.
    shown = commands.RichProgress(console) if console.is_terminal else commands.PlainProgress()
    ray = commands.ExecutorOptions(address, cpus_per_job, gpus_per_job)
    try:
        with shown as progress:
            outcome, report = commands.run(
                suite, methods=_split_names(methods), seeds=seeds, first_seed=first_seed, steps=steps,
                quick=quick, device=device, out=out, batch_seeds=batch_seeds,
                executor=commands.make_executor(executor, ray),
                progress=progress, paths=paths.Paths(data_root, inception_weights, cache_dir),
                threads=threads, confirm=None if yes or not _interactive() else _ask,
                keep_generators=keep_generators,
            )  # fmt: skip
    except commands.RunDeclined as declined:
        console.print(str(declined), markup=False, highlight=False)
        return
    except commands.RunInterrupted as stop:
        _stopped(stop)
    console.print(report.markdown, markup=False, highlight=False)
    skipped = f" ({len(outcome.skipped)} already finished, skipped)" if outcome.skipped else ""
    console.print(
        f"ran {len(outcome.ran)} jobs{skipped}; {_flagged(report.records)}results in {outcome.root}",
        markup=False,
    )
    _exit_if_failed(outcome)


@app.command()
@user_errors
def tune(
    suite: Annotated[
        str,
        typer.Option("--suite", "-s", help="A suite with a [tune] table (docs: methods/tuning)."),
    ],
    write_suite: Annotated[
        Path | None,
        typer.Option(help="Also write the chosen settings as a suite file here (its name: the file's stem)."),
    ] = None,
    methods: Methods = None,
    steps: Steps = None,
    quick: Quick = False,
    device: Annotated[DeviceChoice, typer.Option(help="Where to train.")] = DeviceChoice.auto,
    out: Annotated[
        Path | None, typer.Option(help="Run folder; re-running with the same folder resumes.")
    ] = None,
    threads: Threads = None,
    yes: Yes = False,
) -> None:
    """Tune every method at an equal budget on the suite's tuning seeds; rank and keep the best settings."""
    from ganbench.app.run import PlainProgress, RichProgress, RunDeclined, RunInterrupted
    from ganbench.app.run import tune as tune_suite

    shown = RichProgress(console) if console.is_terminal else PlainProgress()
    try:
        with shown as progress:
            outcome, _, selection = tune_suite(
                suite,
                write_suite=write_suite,
                methods=_split_names(methods),
                steps=steps,
                quick=quick,
                device=device,
                out=out,
                progress=progress,
                threads=threads,
                confirm=None if yes or not _interactive() else _ask,
            )
    except RunDeclined as declined:
        console.print(str(declined), markup=False, highlight=False)
        return
    except RunInterrupted as stop:
        _stopped(stop)
    from ganbench.app.run import TUNING_TABLE, tuning_markdown

    console.print(tuning_markdown(selection), markup=False, highlight=False)
    wrote = f"; chosen settings in {write_suite}" if write_suite is not None else ""
    console.print(
        f"ran {len(outcome.ran)} jobs; every configuration in {outcome.root / TUNING_TABLE}{wrote}",
        markup=False,
    )
    _exit_if_failed(outcome)


def _exit_if_failed(outcome) -> None:
    """One line naming the failed jobs and the command that retries them, then exit; nothing if none."""
    if outcome.failed:
        _error(
            f"{len(outcome.failed)} of {len(outcome.ran)} jobs failed (their reasons are in records.csv); "
            f"retry them with: {_again(outcome.root)}",
        )
        raise typer.Exit(EXIT_JOBS_FAILED)


def _stopped(stop: RunInterrupted) -> NoReturn:
    """One line for an interrupted run (what is stored, the command that resumes it), then exit."""
    again = "resume" if stop.resumable else "start again"
    _error(f"{stop}; {again} with: {_again(stop.root)}")
    # The driver raised `stop` while handling the KeyboardInterrupt (or Terminated): its context.
    raise typer.Exit(_interrupt_code(stop.__context__ or stop)) from None


def _again(root: Path) -> str:
    """This command line, with `--out root` added when it had none: what resumes the same run."""
    has_out = any(arg == "--out" or arg.startswith("--out=") for arg in sys.argv)
    again = sys.argv if has_out else [*sys.argv, "--out", str(root)]
    return shlex.join(["ganbench", *again[1:]])


def _interactive() -> bool:
    """Whether a person can answer a question (both ends a terminal: not CI, not a pipe)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def _ask(question: str) -> bool:
    return typer.confirm(question, default=True)


def _flagged(records) -> str:
    """`3 of 24 jobs flagged (not-converged 3), see the legend; ` or nothing when no job is flagged."""
    jobs = records.drop_duplicates("key")
    flags = [f for value in jobs["flags"].fillna("") for f in str(value).split(";") if f]
    flagged = int((jobs["flags"].fillna("") != "").sum())
    if not flagged:
        return ""
    counts = ", ".join(f"{name} {flags.count(name)}" for name in dict.fromkeys(flags))
    return f"{flagged} of {len(jobs)} jobs flagged ({counts}), see the table's legend; "


@app.command("eval")
@user_errors
def eval_(
    generator: Annotated[
        str | None, typer.Option(help="A generator to score: package.module:factory (returns an nn.Module).")
    ] = None,
    latent_dim: Annotated[
        int | None, typer.Option(help="Size of the latent codes the generator takes.")
    ] = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(help="State dict for the generator (weights_only); repeat it: one seed per file."),
    ] = None,
    samples: Annotated[
        list[Path] | None,
        typer.Option(
            help="Samples to score: .npy/.npz, a .pt uint8 tensor or an image folder; one seed each."
        ),
    ] = None,
    from_run: Annotated[
        Path | None, typer.Option(help="Score a run's kept generators again (`run --keep-generators`).")
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option("--suite", "-s", help="Datasets, evaluation settings and metrics of this suite."),
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Only this dataset (or, without --suite, this one).")
    ] = None,
    metrics: Metrics = None,
    label: Annotated[
        str | None, typer.Option(help="The name in tables (default: the factory or file).")
    ] = None,
    seeds: Annotated[int | None, typer.Option(help="Noise seeds 0..N-1 for a generator.")] = None,
    device: Annotated[DeviceChoice, typer.Option(help="Where to generate and score.")] = DeviceChoice.auto,
    out: Annotated[Path | None, typer.Option(help="Run folder; re-running with it resumes.")] = None,
    data_root: DataRoot = None,
    inception_weights: InceptionWeights = None,
    cache_dir: CacheDir = None,
) -> None:
    """Score a generator or samples ganbench did not train, or a run's kept generators, into a run folder."""

    from ganbench.app.evaluate import Source, evaluate
    from ganbench.app.run import RunInterrupted

    source = Source(generator, latent_dim, tuple(checkpoint or ()), tuple(samples or ()), from_run)
    try:
        root, report, failed = evaluate(
            source, suite=suite, dataset=dataset, metrics=_split_names(metrics), label=label, seeds=seeds,
            out=out, device=str(device), paths=paths.Paths(data_root, inception_weights, cache_dir),
            say=lambda line: console.print(printable(line), markup=False, highlight=False),
        )  # fmt: skip
    except RunInterrupted as stop:
        _stopped(stop)
    console.print(report.markdown, markup=False, highlight=False)
    console.print(f"results in {root}", markup=False)
    if failed:
        errors.print(f"{len(failed)} jobs failed (their reasons are in records.csv)", markup=False)
        raise typer.Exit(EXIT_JOBS_FAILED)


@app.command("fid-sanity")
@user_errors
def fid_sanity(
    samples: Annotated[
        int,
        typer.Option(
            min=2, max=MAX_SAMPLES, help="Real images per half (two disjoint halves of MNIST's test split)."
        ),
    ] = 1000,
    extractor: Annotated[
        list[str] | None,
        typer.Option(
            help="Feature extractor: lenet, inception or a registered name (repeatable; default lenet)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the halves and of every disturbance.")] = 0,
    device: Annotated[DeviceChoice, typer.Option(help="Where to extract features.")] = DeviceChoice.auto,
    out: Annotated[
        Path, typer.Option(help="Folder for fid-sanity.csv/.md and figures/fid-sanity.png/.pdf.")
    ] = Path("results/fid-sanity"),
    data_root: DataRoot = None,
    inception_weights: InceptionWeights = None,
    cache_dir: CacheDir = None,
) -> None:
    """FID's sanity check (Heusel et al. 2017): disturb real MNIST at rising levels; FID must rise."""
    from ganbench.app import sanity

    paths.Paths(data_root, inception_weights, cache_dir).use()
    frame, files = sanity.run(
        samples, _split_names(extractor) or ["lenet"], seed, out, str(device),
        say=lambda line: console.print(printable(line), markup=False, highlight=False),
    )  # fmt: skip
    console.print(sanity.markdown(frame), markup=False, highlight=False)
    console.print(f"wrote {', '.join(str(f.relative_to(out)) for f in files)} in {out}", markup=False)


@app.command()
@user_errors
def throughput(
    suite: Annotated[
        str, typer.Option("--suite", "-s", help="Throughput suite name or TOML file.")
    ] = "throughput",
    methods: Methods = None,
    dtype: Annotated[Dtype, typer.Option(help="Autocast dtype (fp32: no autocast).")] = Dtype.fp32,
    channels_last: Annotated[
        bool, typer.Option("--channels-last", help="channels_last memory format.")
    ] = False,
    compile_: Annotated[bool, typer.Option("--compile", help="torch.compile both networks.")] = False,
    device: Annotated[DeviceChoice, typer.Option(help="Where to measure.")] = DeviceChoice.auto,
    out: Annotated[Path | None, typer.Option(help="Run folder; re-running with it resumes.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="The suite's small measurement budget.")] = False,
) -> None:
    """Measure sampling and training images/s, peak memory and FLOPs per method, network and batch."""
    from ganbench.app.run import RunInterrupted
    from ganbench.app.throughput import measure_suite

    def on_job(i: int, n: int, key: str) -> None:
        console.print(f"measuring {i}/{n}: {key}", markup=False, highlight=False)

    try:
        options = Options(dtype, channels_last, compile_)
        root, report = measure_suite(suite, options, device, out, quick, _split_names(methods), on_job)
    except RunInterrupted as stop:
        _stopped(stop)
    console.print(report.markdown, markup=False, highlight=False)
    console.print(f"results in {root}", markup=False)


@app.command()
@user_errors
def report(
    runs: Annotated[list[Path], typer.Argument(help="Run folders to merge.")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write; default: the run folder when there is one.")
    ] = None,
    metrics: Metrics = None,
    methods: Methods = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="markdown or latex: the table printed (summary.md or summary.tex; both are written); "
            "github-action-benchmark or bencher: print Markdown and also write that dashboard's JSON into "
            "the report folder (docs: ci/compare).",
        ),
    ] = "markdown",
    number_format: Annotated[
        str | None,
        typer.Option(
            "--number-format",
            help="Number format for every table number, e.g. .3g or .2f; default: per cell, the decimals "
            "that its seeds' spread supports.",
        ),
    ] = None,
    sample_seed: Annotated[
        int | None, typer.Option(help="Show this seed's samples only; default: every seed, as a grid.")
    ] = None,
    against: Annotated[
        str | None,
        typer.Option(help="Set the runs beside a published table (see `ganbench list`) or a table file."),
    ] = None,
    alpha: Annotated[float, typer.Option(help="Significance level of --against's verdicts (Holm).")] = 0.05,
) -> None:
    """Rebuild tables and figures from the records of one or more run folders."""
    from ganbench.app.report import report as report_runs

    shown = report_runs(
        runs, out, metrics=_split_names(metrics), methods=_split_names(methods), fmt=fmt,
        number_format=number_format, sample_seed=sample_seed, against=against, alpha=alpha,
    )  # fmt: skip
    for text in shown:
        console.print(text, markup=False, highlight=False)


@app.command("list")
@user_errors
def list_() -> None:
    """Show methods, datasets, metrics and suites, each with a one-line description."""
    from ganbench.app.catalog import catalog

    for section, entries in catalog().items():
        console.print(section, style="bold")
        width = max((len(name) for name, _ in entries), default=0)
        for name, description in entries:
            console.print(f"  {name:<{width}}  {description}", markup=False, highlight=False)


@app.command()
@user_errors
def validate(file: Annotated[Path, typer.Argument(help="Suite TOML file to check.")]) -> None:
    """Check a suite file without running it."""
    from ganbench.app.suites import validate as check

    console.print(check(str(file)), markup=False, highlight=False)


class CompareFormat(StrEnum):
    """What `ganbench compare` prints or writes (the dashboard formats: ganbench.report.export)."""

    markdown = "markdown"
    json = "json"
    github_action_benchmark = "github-action-benchmark"
    bencher = "bencher"


class Correction(StrEnum):
    """How `ganbench compare` corrects p-values for judging many rows (ganbench.report.compare)."""

    none = "none"
    holm = "holm"


@app.command()
@user_errors
def compare(
    baseline: Annotated[Path, typer.Argument(help="Baseline run folder or records.csv file.")],
    candidate: Annotated[Path, typer.Argument(help="Candidate run folder or records.csv file.")],
    rel_tol: Annotated[
        float | None,
        typer.Option(min=0.0, help="Relative tolerance for every metric (default: each its own)."),
    ] = None,
    abs_tol: Annotated[
        float | None,
        typer.Option(min=0.0, help="Absolute tolerance for every metric (default: each its own)."),
    ] = None,
    alpha: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Significance level of the Mann-Whitney U test (default 0.1)."),
    ] = None,
    fmt: Annotated[
        CompareFormat,
        typer.Option(
            "--format",
            help="markdown or json: print the verdict so; github-action-benchmark or bencher: also write "
            "the candidate's values as that dashboard's JSON into --out (docs: ci/compare).",
        ),
    ] = CompareFormat.markdown,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of Markdown (--format json).")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the dashboard formats' files (default: the current folder)."),
    ] = None,
    allow_missing: Annotated[
        bool,
        typer.Option(
            "--allow-missing", help="Let rows the candidate lacks (or has at other settings only) pass."
        ),
    ] = False,
    fail_if: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-if",
            help="METRIC:+N% or METRIC:-N%: a change of the mean beyond N% in that direction regresses "
            "(repeatable; e.g. w1:+10%, train-img-per-s:-5%).",
        ),
    ] = None,
    correction: Annotated[
        Correction,
        typer.Option(
            help="holm: judge on Holm-adjusted p-values over all tested rows, so an unchanged rerun fails "
            "with probability at most alpha/2 in all (the ci suite's gate); none: each row on its own.",
        ),
    ] = Correction.none,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            help="List every flagged job in the Markdown, not only counts per method (JSON always has them).",
        ),
    ] = False,
) -> None:
    """Judge a candidate run against a baseline: exit 1 when a metric got worse beyond noise or a
    baseline row is missing."""
    from ganbench.app.report import CompareOptions, compare_runs

    if as_json and fmt not in (CompareFormat.markdown, CompareFormat.json):
        raise GanbenchError(f"--json and --format {fmt.value}: give one format")
    fmt = CompareFormat.json if as_json else fmt
    options = CompareOptions(rel_tol, abs_tol, alpha, correction.value, allow_missing, tuple(fail_if or ()))
    shown, code = compare_runs(baseline, candidate, options, fmt.value, verbose, out)
    for text in shown:
        console.print(text, markup=False, highlight=False)
    raise typer.Exit(code)
