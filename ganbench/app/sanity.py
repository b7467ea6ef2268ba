"""FID's sanity check (Heusel et al. 2017, Fig. 1): real images disturbed ever more, FID per extractor."""

from __future__ import annotations

import hashlib
import io
import math
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from ganbench.errors import GanbenchError
from ganbench.files import write_atomic
from ganbench.registry import Registry, suggest

Say = Callable[[str], None]
# (images, level, generator, pool) -> disturbed images; float (n, C, H, W) in [-1, 1] in and out.
Disturb = Callable[..., torch.Tensor]

COLUMNS = ["disturbance", "level", "extractor", "fid", "samples"]
CSV_FILE = "fid-sanity.csv"
MARKDOWN_FILE = "fid-sanity.md"
FIGURE_STEM = Path("figures") / "fid-sanity"
FIGURE_FORMATS = ("png", "pdf")  # as every figure of `ganbench report`
# The digit mixed in by "mix-class" (the contamination, like the paper's ImageNet images in CelebA): ones
# are the most numerous class of MNIST's test split (1,135 images) and look least like the others.
MIX_DIGIT = 1
BLACK, WHITE = -1.0, 1.0
RECTANGLES = 5  # Heusel et al. implant five black rectangles per image


@dataclass(frozen=True)
class Disturbance:
    """One kind of disturbance: the function, its levels (the first one, 0, leaves the images as they are),
    what a level means (the figure's x-axis) and the form Heusel et al. gave it."""

    apply: Disturb
    levels: tuple[float, ...]
    parameter: str
    paper: str


DISTURBANCES: Registry[Disturbance] = Registry("disturbance")


def _undisturbed(images: torch.Tensor) -> torch.Tensor:
    return images.clone()


def gaussian_noise(
    images: torch.Tensor, level: float, generator: torch.Generator, pool: torch.Tensor | None = None
) -> torch.Tensor:
    """(1 - alpha) x + alpha N, N per image Gaussian noise min-max scaled to the pixel range [-1, 1]
    (the paper's "Gaussian noise scaled to [0, 255]"); a convex combination, so it stays in range."""
    if level == 0:
        return _undisturbed(images)
    noise = torch.randn(images.shape, generator=generator, dtype=torch.float32).to(images.device)
    low = noise.amin(dim=(1, 2, 3), keepdim=True)
    high = noise.amax(dim=(1, 2, 3), keepdim=True)
    noise = 2 * (noise - low) / (high - low) - 1
    return (1 - level) * images + level * noise.to(images.dtype)


def gaussian_blur(
    images: torch.Tensor, level: float, generator: torch.Generator, pool: torch.Tensor | None = None
) -> torch.Tensor:
    """Convolution with a Gaussian kernel of standard deviation `level` pixels (truncated at 3 std, mirrored
    at the borders); a normalized positive kernel keeps every pixel in the image's range. No randomness."""
    if level == 0:
        return _undisturbed(images)
    height, width = images.shape[-2:]
    radius = max(1, min(math.ceil(3 * level), height - 1, width - 1))  # reflect padding needs < side
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=images.device)
    kernel = torch.exp(-(offsets**2) / (2 * level**2))
    kernel = (kernel / kernel.sum()).to(images.dtype)
    channels = images.shape[1]
    rows = kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    cols = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    blurred = F.conv2d(F.conv2d(padded, rows, groups=channels), cols, groups=channels)
    return blurred.clamp(images.min(), images.max())  # float rounding only


def black_rectangles(
    images: torch.Tensor, level: float, generator: torch.Generator, pool: torch.Tensor | None = None
) -> torch.Tensor:
    """Five black rectangles per image, each `level` times the image's height and width, at uniformly drawn
    positions inside it. On MNIST, whose background is black, they erase parts of the strokes: the
    occlusion the paper's rectangles cause, without a new shape (white ones would add one)."""
    if level == 0:
        return _undisturbed(images)
    n, _, height, width = images.shape
    h, w = max(1, round(level * height)), max(1, round(level * width))
    tops = torch.randint(0, height - h + 1, (n, RECTANGLES, 1), generator=generator).to(images.device)
    lefts = torch.randint(0, width - w + 1, (n, RECTANGLES, 1), generator=generator).to(images.device)
    rows = torch.arange(height, device=images.device)
    cols = torch.arange(width, device=images.device)
    in_rows = (rows >= tops) & (rows < tops + h)  # (n, rectangles, height)
    in_cols = (cols >= lefts) & (cols < lefts + w)
    covered = (in_rows[..., :, None] & in_cols[..., None, :]).any(dim=1)  # (n, height, width)
    return images.masked_fill(covered[:, None], BLACK)


def salt_and_pepper(
    images: torch.Tensor, level: float, generator: torch.Generator, pool: torch.Tensor | None = None
) -> torch.Tensor:
    """round(level x H x W) pixels of each image, drawn without replacement, set to white or to black with
    probability 1/2 each (all channels of a pixel alike)."""
    if level == 0:
        return _undisturbed(images)
    n, _, height, width = images.shape
    count = round(level * height * width)
    order = torch.rand(n, height * width, generator=generator).argsort(dim=1)
    flipped = torch.zeros(n, height * width, dtype=torch.bool).scatter_(1, order[:, :count], True)
    white = torch.rand(n, height * width, generator=generator) < 0.5
    values = torch.where(white, WHITE, BLACK).to(images.dtype)
    shape = (n, 1, height, width)
    flipped, values = flipped.view(shape).to(images.device), values.view(shape).to(images.device)
    return torch.where(flipped, values, images)


def mix_class(
    images: torch.Tensor, level: float, generator: torch.Generator, pool: torch.Tensor | None = None
) -> torch.Tensor:
    """round(level x n) of the images, at drawn positions, replaced by images drawn from `pool`.

    Heusel et al. replaced a fraction of CelebA by ImageNet images: data from outside the reference's
    distribution. Here the reference is MNIST without one digit (`MIX_DIGIT`) and the pool is that digit's
    images (`mnist_sets`): the disturbed set's class distribution drifts to one class the reference lacks,
    with every image a clean digit, so only FID's view of the distribution, not of image quality, can see
    it. The pool is drawn without replacement while it lasts, then again (a pool smaller than the number
    replaced repeats images).
    """
    if level == 0:
        return _undisturbed(images)
    if pool is None or len(pool) == 0:
        raise GanbenchError("mix-class needs a pool of images to mix in")
    if pool.shape[1:] != images.shape[1:]:
        raise GanbenchError(
            f"mix-class: pool images are {tuple(pool.shape[1:])}, not {tuple(images.shape[1:])}"
        )
    n = images.shape[0]
    count = round(level * n)
    where = torch.randperm(n, generator=generator)[:count]
    rounds = math.ceil(count / len(pool))
    picks = torch.cat([torch.randperm(len(pool), generator=generator) for _ in range(rounds)])[:count]
    mixed = images.clone()
    mixed[where.to(images.device)] = pool[picks.to(pool.device)].to(images.device, images.dtype)
    return mixed


# Heusel et al. 2017, appendix (experiments of Fig. 1): the levels below are the paper's. Its swirl is left
# out (no pure-torch form here); its ImageNet contamination is `mix-class`.
DISTURBANCES.add(
    "gaussian-noise",
    Disturbance(
        gaussian_noise, (0.0, 0.25, 0.5, 0.75), "noise weight α", "(1-α)X + αN, α ∈ {0, .25, .5, .75}"
    ),
)
DISTURBANCES.add(
    "gaussian-blur",
    Disturbance(gaussian_blur, (0.0, 1.0, 2.0, 4.0), "kernel std (pixels)", "kernel std α ∈ {0, 1, 2, 4}"),
)
DISTURBANCES.add(
    "black-rectangles",
    Disturbance(
        black_rectangles,
        (0.0, 0.25, 0.5, 0.75),
        "rectangle side / image side",
        "5 rectangles of α x image size",
    ),
)
DISTURBANCES.add(
    "salt-and-pepper",
    Disturbance(salt_and_pepper, (0.0, 0.1, 0.2, 0.3), "fraction of pixels", "fraction α ∈ {0, .1, .2, .3}"),
)
DISTURBANCES.add(
    "mix-class",
    Disturbance(
        mix_class, (0.0, 0.25, 0.5, 0.75), f"fraction of {MIX_DIGIT}s", "α of CelebA replaced by ImageNet"
    ),
)


def level_generator(seed: int, disturbance: str, level: float) -> torch.Generator:
    """The generator of one disturbance at one level: its draws depend on (seed, name, level) only, so any
    subset of disturbances, levels or extractors sees the same disturbed images."""
    digest = hashlib.sha256(f"{seed}:{disturbance}:{level!r}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def disturb(
    name: str, images: torch.Tensor, level: float, seed: int, pool: torch.Tensor | None = None
) -> torch.Tensor:
    """`images` under the disturbance `name` at `level`, drawn from `level_generator(seed, name, level)`."""
    return DISTURBANCES.get(name).apply(images, level, level_generator(seed, name, level), pool)


# --- feature extractors -----------------------------------------------------------------------------


# `--extractor inception` is the network `fid` uses here (docs/pages/methods/inception-offline.md):
# chosen when asked for, as choosing reads the configured weights path.
INCEPTION_ALIAS = "inception"


def extractor_names() -> dict[str, str]:
    """Every name `--extractor` accepts -> the feature extractor's registered name: the registered names,
    each extractor's short label (e.g. lenet-fc1, inception-ts) and the alias lenet; `INCEPTION_ALIAS`
    maps to itself (`resolve_extractors` chooses its network)."""
    from ganbench.metrics.fidelity import EXTRACTORS, LENET

    names = {"lenet": LENET, INCEPTION_ALIAS: INCEPTION_ALIAS}
    for name, extractor in EXTRACTORS.items():
        label = getattr(extractor, "label", None)
        if isinstance(label, str):
            names.setdefault(label, name)
        names[name] = name
    return names


def resolve_extractors(requested: list[str]) -> list[str]:
    """The registered names of `requested` (names or aliases), in order, without repeats; `inception` is
    the TorchScript network where it is installed, else torch-fidelity's (`inception_source`)."""
    known = extractor_names()
    unknown = [name for name in requested if name not in known]
    if unknown:
        raise GanbenchError(
            f"unknown feature extractor '{unknown[0]}'{suggest(unknown[0], list(known))}; "
            f"valid: {', '.join(known)}"
        )
    if not requested:
        raise GanbenchError("give at least one feature extractor")
    if INCEPTION_ALIAS in requested:
        from ganbench.metrics.fidelity.extractors import inception_source

        known[INCEPTION_ALIAS] = inception_source()
    return list(dict.fromkeys(known[name] for name in requested))


def _available(extractors: list[str], say: Say) -> list[str]:
    """The extractors whose weights are there (training the digit classifier once if need be); one line
    for each that is not, which is left out. None available: the reasons, as one GanbenchError."""
    from ganbench.metrics.fidelity import EXTRACTORS

    found, missing = [], []
    for name in extractors:
        try:
            EXTRACTORS[name].weights(say)
        except GanbenchError as err:
            missing.append(f"{name}: {err}")
            continue
        found.append(name)
    if not found:
        raise GanbenchError("; ".join(missing))
    for reason in missing:
        say(f"skipped {reason}")
    return found


# --- the check --------------------------------------------------------------------------------------


def mnist_sets(
    images: torch.Tensor, labels: torch.Tensor, digit: int = MIX_DIGIT
) -> tuple[torch.Tensor, torch.Tensor]:
    """(reference, pool) of MNIST images as float in [-1, 1]: every image not of `digit`, and those of it
    (the pool `mix-class` draws from; see `mix_class`)."""
    from ganbench.data.images import to_float

    is_digit = labels == digit
    return to_float(images[~is_digit]), to_float(images[is_digit])


def fid_sanity(
    images_reference: torch.Tensor,
    images_pool: torch.Tensor,
    extractors: list[str],
    samples: int,
    seed: int,
    dataset_id: str = "images",
    device: torch.device | None = None,
    say: Say | None = None,
) -> pd.DataFrame:
    """FID between two disjoint random halves of `images_reference` (float (N, C, H, W) in [-1, 1]),
    `samples` images each, the second disturbed by every disturbance at every level; one row per
    (disturbance, level, extractor) with columns COLUMNS.

    Level 0 leaves the half as it is: its FID is the natural one between two samples of the same data
    (FID's bias at this sample count), computed once per extractor. The reference half's features are
    extracted once per extractor (`fidelity_features` caches them on disk under `dataset_id`); the
    disturbed images are the same for every extractor (`level_generator`). Extractors (registered names)
    whose weights are missing are left out with one line to `say`.
    """
    from ganbench.data.images import to_uint8
    from ganbench.metrics.fidelity import fidelity_features, frechet_distance

    say = say or (lambda line: None)
    _check_images(images_reference, "reference images")
    if samples < 2:
        raise GanbenchError(f"samples must be >= 2 (FID needs a covariance), got {samples}")
    if 2 * samples > len(images_reference):
        raise GanbenchError(
            f"{samples:,} samples per half need {2 * samples:,} reference images; there are "
            f"{len(images_reference):,} (give at most {len(images_reference) // 2:,} samples)"
        )
    order = torch.randperm(len(images_reference), generator=torch.Generator().manual_seed(seed))
    reference = to_uint8(images_reference[order[:samples]])
    other = images_reference[order[samples : 2 * samples]]
    # Every disturbed set once (uint8, as the extractors read them), the same for every extractor.
    disturbed = {
        (name, level): to_uint8(disturb(name, other, level, seed, images_pool))
        for name in DISTURBANCES
        for level in DISTURBANCES.get(name).levels
    }
    rows = []
    for extractor in _available(extractors, say):
        known: dict[bytes, float] = {}  # disturbed images (by content) -> FID: level 0 once
        reference_features = None
        for name in DISTURBANCES:
            started, fids = time.perf_counter(), []
            for level in DISTURBANCES.get(name).levels:
                images = disturbed[(name, level)]
                key = hashlib.sha256(images.numpy().tobytes()).digest()
                if key not in known:
                    found = fidelity_features(images, reference, dataset_id, extractor, device)
                    if reference_features is None:  # the first call extracted them; later ones read the cache
                        reference_features = found.reference
                    known[key] = float(frechet_distance(found.generated, reference_features))
                fids.append(known[key])
                rows.append(
                    {
                        "disturbance": name,
                        "level": level,
                        "extractor": extractor,
                        "fid": known[key],
                        "samples": samples,
                    }
                )
            shown = ", ".join(f"{fid:.4g}" for fid in fids)
            say(f"{extractor}: {name}: FID {shown} ({time.perf_counter() - started:.1f} s)")
    return pd.DataFrame(rows, columns=COLUMNS)


def _check_images(images: torch.Tensor, what: str) -> None:
    if not torch.is_floating_point(images) or images.dim() != 4:
        raise GanbenchError(
            f"{what} must be float (N, C, H, W) in [-1, 1], got {images.dtype} {tuple(images.shape)}"
        )


def falls(frame: pd.DataFrame, tolerance: float = 0.0, relative: float = 0.0) -> list[str]:
    """Where FID falls from one level to the next by more than `tolerance` + `relative` x the lower level's
    FID (its sampling noise): one line per such step; none when FID rises with every disturbance, for
    every extractor."""
    wrong = []
    for (extractor, name), rows in frame.groupby(["extractor", "disturbance"], sort=False):
        ordered = rows.sort_values("level")
        levels, fids = ordered["level"].tolist(), ordered["fid"].tolist()
        for i in range(1, len(fids)):
            if fids[i] < fids[i - 1] - tolerance - relative * fids[i - 1]:
                step = f"{fids[i - 1]:.4g} at {levels[i - 1]:g} -> {fids[i]:.4g} at {levels[i]:g}"
                wrong.append(f"{extractor} {name}: FID {step}")
    return wrong


# --- files ------------------------------------------------------------------------------------------


def markdown(frame: pd.DataFrame) -> str:
    """The table: one row per disturbance and level, one FID column per extractor."""
    table = frame.pivot_table(index=["disturbance", "level"], columns="extractor", values="fid", sort=False)
    table = table.reset_index()
    table.columns.name = None
    return table.to_markdown(index=False, floatfmt=".4g")


def caption(frame: pd.DataFrame) -> str:
    samples = ", ".join(f"{n:,}" for n in sorted(frame["samples"].unique()))
    return (
        f"FID between {samples} real MNIST images and {samples} other real ones disturbed at rising levels "
        "(level 0: undisturbed, FID's own bias at this sample count), per feature extractor; log scale, as "
        "FID spans orders of magnitude here and Inception and LeNet FIDs differ in scale. Disturbances and "
        "levels after Heusel et al. 2017, Fig. 1; "
        f"mix-class replaces a fraction of the images by {MIX_DIGIT}s, a digit the reference lacks."
    )


def plot_fid_sanity(frame: pd.DataFrame, path: Path) -> list[Path]:
    """One panel per disturbance, FID against level on a log axis, one line per extractor; written as PNG
    and PDF beside `path` (its suffix is replaced), each atomically. Returns the files."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.ticker import FuncFormatter, NullFormatter

    sns.set_theme(style="whitegrid", context="paper")
    matplotlib.rcParams["text.parse_math"] = False  # names are text, never math (ticks are plain numbers)
    names = list(dict.fromkeys(frame["disturbance"]))
    extractors = list(dict.fromkeys(frame["extractor"]))
    fig, axes = plt.subplots(1, len(names), figsize=(2.6 * len(names), 2.9), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        rows = frame[frame["disturbance"] == name]
        sns.lineplot(
            data=rows,
            x="level",
            y="fid",
            hue="extractor",
            hue_order=extractors,
            marker="o",
            ax=ax,
            legend=True,
        )
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(name, fontsize=9)
        ax.set_xticks(sorted(rows["level"].unique()))
        parameter = DISTURBANCES.get(name).parameter if name in DISTURBANCES else "level"
        ax.set_xlabel(parameter, fontsize=8)
        ax.set_ylabel("FID (log scale)" if ax is axes[0][0] else "")
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0]:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    fig.tight_layout()
    fig.legend(
        handles,
        labels,
        title="extractor",
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        frameon=False,
        fontsize=8,
    )
    width = max(60, int(fig.get_figwidth() * 16))
    fig.text(0.5, 0.0, textwrap.fill(caption(frame), width), ha="center", va="top", fontsize=7.5, color="0.2")
    files = [path.with_suffix(f".{ext}") for ext in FIGURE_FORMATS]
    try:
        for file in files:
            rendered = io.BytesIO()
            fig.savefig(rendered, format=file.suffix[1:], dpi=110, bbox_inches="tight")
            write_atomic(file, rendered.getvalue())
    finally:
        plt.close(fig)
    return files


def check_out(out: Path) -> None:
    """Refuse an existing `out` that is not a folder, or not empty and without this check's table, so that
    nothing of another folder is overwritten; a folder this check wrote is written again."""
    if not out.exists():
        return
    if not out.is_dir():
        raise GanbenchError(f"--out {out} exists and is not a folder")
    entries = sorted(p.name for p in out.iterdir())
    if entries and CSV_FILE not in entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise GanbenchError(
            f"--out {out} is not a fid-sanity folder (it holds {shown}); choose a new or empty folder"
        )


def write(frame: pd.DataFrame, out: Path) -> list[Path]:
    """fid-sanity.csv, fid-sanity.md and figures/fid-sanity.png/.pdf in `out`, each written atomically."""
    write_atomic(out / CSV_FILE, frame.to_csv(index=False).encode("utf-8"))
    write_atomic(out / MARKDOWN_FILE, (markdown(frame) + "\n\n" + caption(frame) + "\n").encode("utf-8"))
    return [out / CSV_FILE, out / MARKDOWN_FILE, *plot_fid_sanity(frame, out / FIGURE_STEM)]


def run(
    samples: int,
    extractors: list[str],
    seed: int,
    out: Path,
    device: str = "auto",
    say: Say | None = None,
) -> tuple[pd.DataFrame, list[Path]]:
    """The check on MNIST's test split from the data root (`mnist_sets`), written into `out`."""
    from ganbench.data.images import load_mnist
    from ganbench.device import resolve_device

    check_out(out)
    names = resolve_extractors(extractors)
    where = resolve_device(device)
    data = load_mnist("test")
    reference, pool = mnist_sets(data.images, data.labels)
    dataset_id = f"fid-sanity-mnist-test-without-{MIX_DIGIT}-seed{seed}"
    frame = fid_sanity(reference, pool, names, samples, seed, dataset_id, where, say)
    return frame, write(frame, out)
