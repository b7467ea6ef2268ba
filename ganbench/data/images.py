"""Image datasets (MNIST, Fashion-MNIST, CIFAR-10, a folder of images), held in memory as uint8 tensors."""

from __future__ import annotations

import contextlib
import functools
import gzip
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from ganbench import paths
from ganbench.config import at_least, at_most
from ganbench.data.base import DATASETS, IMAGE_SOURCE, DatasetSpec, Modality
from ganbench.errors import GanbenchError
from ganbench.limits import MAX_IMAGE_PIXELS, MAX_IMAGE_SIZE

# torchvision is imported inside the functions that use it: it adds seconds to every `ganbench`
# command, most of which never touch an image dataset.

Split = Literal["train", "test"]

HOW_TO_PROVIDE = "pass --data-root DIR / set GANBENCH_DATA_ROOT"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

# Loaded datasets are kept per process (every job of a run builds its dataset again); a few entries
# are enough, and CIFAR-10's train split alone is 150 MB.
_CACHE_SIZE = 8


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels 0..255 -> float32 in [-1, 1] (the range of a tanh generator)."""
    return images.to(torch.float32) / 127.5 - 1


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] -> uint8 0..255, rounded and clamped; the caller rejects non-finite values first."""
    return ((images.to(torch.float32) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


class ImageData:
    """Images in memory: uint8 (N, C, H, W), optional int64 labels (N,), and where they came from."""

    modality: Modality = "images"
    capabilities = frozenset({IMAGE_SOURCE})

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None, description: str) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        if labels is not None and tuple(labels.shape) != (images.shape[0],):
            raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
        self.images = images.contiguous()
        self.labels = None if labels is None else labels.to(torch.int64)
        self.description = description

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Draw `n` images uniformly with replacement; float32 (n, C, H, W) in [-1, 1]."""
        index = torch.randint(len(self), (n,), generator=generator)
        return to_float(self.images[index])

    def reference(self, n: int) -> torch.Tensor:
        """The first `n` images, uint8: the same set for every seed and method, so its statistics cache."""
        if n > len(self):
            raise GanbenchError(
                f"asked for {n} reference images, but the dataset has only {len(self)} ({self.description})"
            )
        # A copy: the dataset is shared through the per-process cache, and callers may write into this.
        return self.images[:n].clone()


# ------------------------------------------------------------------------------------------- params


@dataclass(frozen=True)
class MnistParams:
    """MNIST and Fashion-MNIST: 28x28 grayscale; `size` 32 suits the DCGAN architectures."""

    split: Split = "train"
    size: int = field(default=28, metadata=at_least(8) | at_most(MAX_IMAGE_SIZE))
    download: bool = True


@dataclass(frozen=True)
class Cifar10Params:
    """CIFAR-10: 32x32 RGB, from torchvision's `cifar-10-batches-py` folder."""

    split: Split = "train"
    size: int = field(default=32, metadata=at_least(8) | at_most(MAX_IMAGE_SIZE))
    download: bool = True


@dataclass(frozen=True)
class FolderParams:
    """Every image file under `path` (required), center-cropped to a square and resized."""

    path: str = ""
    size: int = field(default=32, metadata=at_least(8) | at_most(MAX_IMAGE_SIZE))
    channels: Literal[1, 3] = 3


# ---------------------------------------------------------------------------------------- helpers


def _one_line(text: str, limit: int = 200) -> str:
    """`text` squeezed onto one line and cut to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short_reason(exc: BaseException) -> str:
    """A download error's gist: torchvision's own messages span lines, the last naming the final cause."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return _one_line(lines[-1] if lines else type(exc).__name__)


def _try_download(download: Callable[[], object], folders: list[Path]) -> str | None:
    """Run a torchvision download; None when it worked, else why it failed (never raises).

    `folders` (deepest first) are where the download writes; those it creates are removed again
    when it fails and leaves them empty, so a failed try does not litter the data root.
    """
    new = [folder for folder in folders if not folder.exists()]
    try:
        # torchvision prints ("Downloading ...") to stdout, which belongs to ganbench's own output.
        with contextlib.redirect_stdout(sys.stderr):
            download()
    except Exception as exc:  # any failure (no network, read-only root, bad checksum) becomes a message
        for folder in new:
            with contextlib.suppress(OSError):  # not empty, or already gone: keep what is there
                folder.rmdir()
        return _short_reason(exc)
    return None


def _resolve(root: Path | str | None) -> Path:
    return Path(root if root is not None else paths.data_root()).expanduser().resolve()


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise GanbenchError(f"split must be 'train' or 'test' (got {split!r})")


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize uint8 (N, C, H, W) to size x size with antialiasing, in chunks to bound the float buffers."""
    from torchvision.transforms.v2 import functional as F

    if tuple(images.shape[-2:]) == (size, size):
        return images
    chunks = [F.resize(chunk, [size, size], antialias=True) for chunk in images.split(10_000)]
    return torch.cat(chunks)


def _stamp(path: Path) -> tuple[str, int, int]:
    """A file's identity for the cache: a file rewritten in place is read again."""
    stat = path.stat()
    return str(path), stat.st_mtime_ns, stat.st_size


# ------------------------------------------------------------------------ MNIST and Fashion-MNIST

# dataset name -> (torchvision class and its folder under the root, our own folder under the root)
_IDX_DATASETS = {"mnist": ("MNIST", "mnist"), "fashion-mnist": ("FashionMNIST", "fashion-mnist")}


def _idx_names(split: str) -> tuple[str, str]:
    prefix = "train" if split == "train" else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _idx_folders(name: str, root: Path) -> list[Path]:
    """Where an idx dataset may live, in search order: torchvision's layout, our folder, the root."""
    tv_class, folder = _IDX_DATASETS[name]
    return [root / tv_class / "raw", root / folder, root]


def _find_file(folder: Path, name: str) -> Path | None:
    """`name` or `name.gz` in `folder`; the plain file first (torchvision keeps both after a download)."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _find_idx(name: str, split: str, root: Path) -> tuple[Path, Path] | None:
    """The first folder holding both the images and the labels file of `split`."""
    images_name, labels_name = _idx_names(split)
    for folder in _idx_folders(name, root):
        images, labels = _find_file(folder, images_name), _find_file(folder, labels_name)
        if images is not None and labels is not None:
            return images, labels
    return None


def _read_idx(path: Path, reader: Callable[[str], torch.Tensor]) -> torch.Tensor:
    """Parse an idx file with torchvision's reader, gunzipping it to a temporary file first if needed."""
    try:
        if path.suffix != ".gz":
            return reader(str(path))
        # torchvision's reader opens a path; the data root may be read-only, so decompress elsewhere.
        with tempfile.TemporaryDirectory(prefix="ganbench-idx-") as tmp:
            plain = Path(tmp) / path.stem
            with gzip.open(path, "rb") as src, plain.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            return reader(str(plain))
    except (OSError, EOFError, AssertionError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        reason = _one_line(str(exc)) or type(exc).__name__
        raise GanbenchError(f"{path} is not a readable idx file ({reason})") from exc


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _load_idx_files(
    name: str, split: str, images_stamp: tuple[str, int, int], labels_stamp: tuple[str, int, int], size: int
) -> ImageData:
    from torchvision.datasets.mnist import read_image_file, read_label_file

    images_path, labels_path = Path(images_stamp[0]), Path(labels_stamp[0])
    images = _read_idx(images_path, read_image_file)
    labels = _read_idx(labels_path, read_label_file)
    if images.shape[0] != labels.shape[0]:
        raise GanbenchError(
            f"{images_path} has {images.shape[0]} images but {labels_path} has {labels.shape[0]} labels"
        )
    if images.shape[0] == 0:
        raise GanbenchError(f"{images_path} holds no images")
    images = _resize(images.unsqueeze(1), size)
    description = f"{name} {split} split, {images.shape[0]} images from {images_path.parent}"
    return ImageData(images, labels, description)


def _load_idx_dataset(name: str, split: str, root: Path | str | None, size: int, download: bool) -> ImageData:
    """Load an idx dataset (mnist, fashion-mnist) from the data root, downloading it if allowed."""
    _check_split(split)
    root = _resolve(root)
    found = _find_idx(name, split, root)
    reason = None
    if found is None and download:
        import torchvision.datasets

        tv_class = getattr(torchvision.datasets, _IDX_DATASETS[name][0])
        raw = _idx_folders(name, root)[0]
        reason = _try_download(
            lambda: tv_class(str(root), train=split == "train", download=True), [raw, raw.parent, root]
        )
        found = _find_idx(name, split, root)
    if found is None:
        images_name, labels_name = _idx_names(split)
        folders = ", ".join(str(f) for f in _idx_folders(name, root))
        if reason is not None:
            tried = f" (download failed: {reason})"
        else:
            tried = "" if download else " (download is off)"
        raise GanbenchError(
            f"dataset '{name}' (split '{split}'): {images_name} and {labels_name} (or .gz) not found together"
            f" in any of {folders}; put them in one of these folders, or {HOW_TO_PROVIDE}{tried}"
        )
    return _load_idx_files(name, split, _stamp(found[0]), _stamp(found[1]), size)


def load_mnist(split: str, root: Path | None = None, size: int = 28, download: bool = True) -> ImageData:
    """MNIST `split` ('train' or 'test') with labels, from `root` (default: the data root)."""
    return _load_idx_dataset("mnist", split, root, size, download)


def load_fashion_mnist(
    split: str, root: Path | None = None, size: int = 28, download: bool = True
) -> ImageData:
    """Fashion-MNIST `split` with labels, from `root` (default: the data root)."""
    return _load_idx_dataset("fashion-mnist", split, root, size, download)


def mnist_available(split: str, root: Path | None = None) -> bool:
    """Whether MNIST `split` is on disk under `root` (default: the data root); never downloads."""
    _check_split(split)
    return _find_idx("mnist", split, _resolve(root)) is not None


# --------------------------------------------------------------------------------------- CIFAR-10

CIFAR10_FOLDER = "cifar-10-batches-py"


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _load_cifar10_cached(root: Path, split: str, size: int) -> ImageData:
    import torchvision.datasets

    folder = root / CIFAR10_FOLDER
    try:
        dataset = torchvision.datasets.CIFAR10(str(root), train=split == "train", download=False)
    except Exception as exc:  # torchvision checks every file's md5 and raises RuntimeError on a mismatch
        raise GanbenchError(
            f"dataset 'cifar10' (split '{split}'): {folder} is incomplete or corrupted"
            f" ({_short_reason(exc)}); delete it to download again, or {HOW_TO_PROVIDE}"
        ) from exc
    # torchvision keeps the pixels as HWC numpy arrays; ganbench works in NCHW tensors.
    images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor(dataset.targets, dtype=torch.int64)
    images = _resize(images, size)
    return ImageData(images, labels, f"cifar10 {split} split, {images.shape[0]} images from {folder}")


def load_cifar10(split: str, root: Path | None = None, size: int = 32, download: bool = True) -> ImageData:
    """CIFAR-10 `split` with labels, from `<root>/cifar-10-batches-py` (default root: the data root)."""
    import torchvision.datasets

    _check_split(split)
    root = _resolve(root)
    folder = root / CIFAR10_FOLDER
    if not folder.is_dir():
        reason = None
        if download:
            reason = _try_download(
                lambda: torchvision.datasets.CIFAR10(str(root), train=split == "train", download=True),
                [folder, root],
            )
        if reason is not None or not folder.is_dir():
            tried = f"download failed: {reason}" if reason else "download is off"
            raise GanbenchError(
                f"dataset 'cifar10' (split '{split}'): folder {CIFAR10_FOLDER} not found in {root}; put the"
                f" extracted CIFAR-10 python version there, or {HOW_TO_PROVIDE} ({tried})"
            )
    return _load_cifar10_cached(root, split, size)


# ------------------------------------------------------------------------------------------ folder


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) that an image file's header claims, read without decoding its pixels; one line
    for a file PIL cannot identify or one that claims more than MAX_IMAGE_PIXELS (a decompression bomb:
    a few hundred bytes can claim gigabytes of pixels)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            # PIL warns from 89 million pixels and raises from twice that; ganbench's own bound is lower.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as pil:
                width, height = pil.size
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))  # PIL names the claimed count
        claimed = f"{int(found.group(1)):,}" if found else f"more than {2 * Image.MAX_IMAGE_PIXELS:,}"
        raise GanbenchError(
            f"image {path} claims {claimed} pixels in its header; at most {MAX_IMAGE_PIXELS:,}"
            " (a decompression bomb, or not an image for a GAN benchmark)"
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # PIL's errors for unreadable headers
        raise GanbenchError(
            f"cannot decode image {path} ({_one_line(str(exc)) or type(exc).__name__})"
        ) from None
    if width * height > MAX_IMAGE_PIXELS:
        raise GanbenchError(
            f"image {path} claims {width:,}x{height:,} pixels in its header; at most {MAX_IMAGE_PIXELS:,}"
            " pixels (a decompression bomb, or not an image for a GAN benchmark)"
        )
    return width, height


def _decode(path: Path, channels: int) -> torch.Tensor:
    """One image file -> uint8 (channels, H, W), its header's size checked before any pixel is decoded."""
    from torchvision.io import ImageReadMode, decode_image
    from torchvision.transforms.v2 import functional as F

    image_size(path)
    try:
        if path.suffix.lower() == ".bmp":
            # torchvision.io decodes only jpeg, png, webp and gif; PIL (a torchvision dependency) reads BMP.
            from PIL import Image

            with Image.open(path) as pil:
                image = F.pil_to_tensor(pil.convert("L" if channels == 1 else "RGB"))
        else:
            mode = ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB
            image = decode_image(str(path), mode=mode, apply_exif_orientation=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise GanbenchError(f"cannot decode image {path} ({_one_line(str(exc))})") from exc
    if image.dtype != torch.uint8:  # 16-bit PNGs decode to uint16
        image = F.to_dtype(image, torch.uint8, scale=True)
    return image


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _load_folder_cached(
    folder: Path, files: tuple[tuple[str, int, int], ...], size: int, channels: int
) -> ImageData:
    from torchvision.transforms.v2 import functional as F

    images = []
    for name, _, _ in files:
        image = _decode(Path(name), channels)
        side = min(image.shape[-2:])
        image = F.center_crop(image, [side, side])
        images.append(F.resize(image, [size, size], antialias=True))
    description = f"folder {folder}, {len(images)} images"
    return ImageData(torch.stack(images), None, description)


def load_folder(path: Path | str, size: int = 32, channels: int = 3) -> ImageData:
    """Every .png/.jpg/.jpeg/.bmp under `path` (recursively, sorted), center-cropped and resized."""
    if channels not in (1, 3):
        raise GanbenchError(f"dataset 'folder': channels must be 1 or 3 (got {channels!r})")
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise GanbenchError(f"dataset 'folder': {folder} is not a folder")
    found = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    # Sorted by path components, not by str: "a/b.png" before "a-c.png" whatever the Python version.
    files = sorted(found, key=lambda p: p.relative_to(folder).parts)
    if not files:
        raise GanbenchError(f"dataset 'folder': no {'/'.join(IMAGE_SUFFIXES)} files under {folder}")
    return _load_folder_cached(folder, tuple(_stamp(p) for p in files), size, channels)


# ---------------------------------------------------------------------------------------- registry


def build_mnist(params: MnistParams) -> ImageData:
    return load_mnist(params.split, None, params.size, params.download)


def build_fashion_mnist(params: MnistParams) -> ImageData:
    return load_fashion_mnist(params.split, None, params.size, params.download)


def build_cifar10(params: Cifar10Params) -> ImageData:
    return load_cifar10(params.split, None, params.size, params.download)


def build_folder(params: FolderParams) -> ImageData:
    if not params.path:
        raise GanbenchError("dataset 'folder' needs `path = ...` in its [dataset.folder] table")
    return load_folder(params.path, params.size, params.channels)


DATASETS.add(
    "mnist",
    DatasetSpec(
        "mnist",
        "MNIST digits, 28x28 grayscale, 60k train / 10k test",
        "images",
        MnistParams,
        build_mnist,
        display_name="MNIST",
        capabilities=ImageData.capabilities,  # suites are checked without loading images
    ),
)
DATASETS.add(
    "fashion-mnist",
    DatasetSpec(
        "fashion-mnist",
        "Fashion-MNIST clothing, 28x28 grayscale, 60k train / 10k test",
        "images",
        MnistParams,
        build_fashion_mnist,
        display_name="Fashion-MNIST",
        capabilities=ImageData.capabilities,  # suites are checked without loading images
    ),
)
DATASETS.add(
    "cifar10",
    DatasetSpec(
        "cifar10",
        "CIFAR-10, 32x32 RGB in 10 classes, 50k train / 10k test",
        "images",
        Cifar10Params,
        build_cifar10,
        display_name="CIFAR-10",
        capabilities=ImageData.capabilities,  # suites are checked without loading images
    ),
)
DATASETS.add(
    "folder",
    DatasetSpec(
        "folder",
        "every .png/.jpg/.jpeg/.bmp under `path`, center-cropped and resized",
        "images",
        FolderParams,
        build_folder,
        display_name="Image folder",
        capabilities=ImageData.capabilities,  # suites are checked without loading images
    ),
)
