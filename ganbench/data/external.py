"""Samples that ganbench did not generate: loaded from a file or folder and checked against a dataset."""

from __future__ import annotations

import re
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganbench.data.base import Dataset

# `_decode` is the folder dataset's own decoder (GRAY/RGB via torchvision, BMP via PIL): samples in a
# folder must decode exactly as the real images of a folder dataset do.
from ganbench.data.images import _decode, image_size, to_float
from ganbench.errors import GanbenchError

ARRAY_SUFFIXES = (".npy", ".npz")
TENSOR_SUFFIXES = (".pt", ".pth")
FOLDER_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
ACCEPTED = (
    f"{', '.join(ARRAY_SUFFIXES + TENSOR_SUFFIXES)} files, or a folder of {'/'.join(FOLDER_SUFFIXES)} images"
)
IMAGE_DTYPES = "uint8 in [0, 255] or float in [-1, 1]"

# Generated points pass through float32 in ganbench's own runs; within its range, the float64 squared
# distances of the metrics cannot overflow.
POINT_LIMIT = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class _Expected:
    """What the dataset's samples look like: the modality and one sample's shape, for messages its name."""

    name: str
    modality: str
    shape: tuple[int, ...]
    most: tuple[int, str] | None = None  # the most samples, and the bound that sets it

    @classmethod
    def of(cls, dataset: Dataset, name: str, most: tuple[int, str] | None = None) -> _Expected:
        return cls(name, dataset.modality, sample_shape(dataset), most)

    def layout(self) -> str:
        if self.modality == "points":
            return f"points (N, {self.shape[0]}) for {self.name}"
        return f"images (N, C, H, W) = (N, {', '.join(map(str, self.shape))}) for {self.name}"

    def kinds(self) -> str:
        return "finite floats" if self.modality == "points" else IMAGE_DTYPES


def load_samples(
    path: Path | str,
    dataset: Dataset,
    need: int = 1,
    *,
    name: str = "the dataset",
    most: tuple[int, str] | None = None,
) -> np.ndarray:
    """Samples from `path`, checked against `dataset`, in the form ganbench's metrics take.

    Points come back float64 (N, d); images float32 (N, C, H, W) in [-1, 1] (uint8 files through
    `to_float`, float files as they are). `need` is the fewest samples the metrics can score, `most`
    the most (and the bound that sets it), checked from the file's header before its data is read;
    `name` names the dataset in messages. Every problem raises one `GanbenchError` line naming the file.
    """
    path = Path(path).expanduser()
    expect = _Expected.of(dataset, name, most)
    if expect.modality not in ("points", "images"):
        raise GanbenchError(f"{path}: cannot load samples for {name}, whose modality is {expect.modality!r}")
    if path.is_dir():
        return _load_folder(path, expect, need)
    if not path.exists():
        raise GanbenchError(f"{path}: no such file or folder; expected {ACCEPTED}")
    suffix = path.suffix.lower()
    if suffix in ARRAY_SUFFIXES:
        array = _read_numpy(path, expect)
    elif suffix in TENSOR_SUFFIXES:
        array = _read_torch(path, expect)
    else:
        raise GanbenchError(f"{path}: unknown file type {suffix or '(no extension)'!r}; accepted: {ACCEPTED}")
    if expect.modality == "points":
        return _check_points(array, path, expect, need)
    return _check_images(array, path, expect, need)


def sample_shape(dataset: Dataset) -> tuple[int, ...]:
    """One sample's shape: (d,) for points, (C, H, W) for images."""
    shape = getattr(dataset, "image_shape", None) if dataset.modality == "images" else None
    if shape is None:  # points, or an image dataset without `image_shape`: one true sample shows it
        shape = tuple(dataset.sample(1, torch.Generator()).shape[1:])
    return tuple(int(s) for s in shape)


def check_shape(shape: tuple[int, ...], dataset: Dataset, what: str, *, name: str = "the dataset") -> None:
    """Refuse a batch `shape` that is not the dataset's (N, d) points or (N, C, H, W) images; `what`
    names the samples in the one-line `GanbenchError` (e.g. a generator's test batch)."""
    expect = _Expected.of(dataset, name)
    if expect.modality == "points":
        _check_point_layout(shape, what, expect)
    elif expect.modality == "images":
        _check_layout(shape, what, expect)
    else:
        raise GanbenchError(f"{what}: cannot check samples for {name}, whose modality is {expect.modality!r}")


# ------------------------------------------------------------------------------------------ reading


def _short(text: str, limit: int = 160) -> str:
    """`text` squeezed onto one line and cut to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_numpy(path: Path, expect: _Expected) -> np.ndarray:
    """The one array of a .npy, or of a .npz (its only array, or the one named `samples`)."""
    try:
        # Memory-mapped: a file refused for its shape or dtype is never read in full.
        loaded = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:  # numpy takes anything that is neither .npy nor .npz for a pickle
        if "pickle" in str(exc) or "Python objects" in str(exc):
            raise GanbenchError(
                f"{path}: not a numeric .npy/.npz array (numpy would have to unpickle it, which ganbench"
                f" never does); expected {expect.layout()}"
            ) from exc
        raise GanbenchError(
            f"{path}: not a readable .npy/.npz file ({_short(str(exc))}); expected {expect.layout()}"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - a hostile header raises many types (tokenize errors too)
        raise GanbenchError(
            f"{path}: not a readable .npy/.npz file ({_short(str(exc)) or type(exc).__name__}); expected"
            f" {expect.layout()}"
        ) from exc
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded as npz:
        names = list(npz.files)
        if len(names) == 1:
            key = names[0]
        elif "samples" in names:
            key = "samples"
        else:
            held = f"holds arrays {_short(', '.join(names), 120)}" if names else "holds no arrays"
            raise GanbenchError(f"{path}: {held}; expected exactly one array, or one named 'samples'")
        # A .npz member is decompressed whole when read: its header (a few bytes that can claim any
        # shape) is checked first, so no claimed size is ever allocated before it is accepted.
        shape, dtype = _npz_header(npz, key, path)
        if dtype.hasobject:
            raise GanbenchError(
                f"{path}: array {key!r} holds Python objects (loading it would unpickle them, which ganbench"
                f" never does); expected {expect.layout()}"
            )
        _check_header(shape, dtype, path, expect)
        try:
            return npz[key]
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise GanbenchError(
                f"{path}: array {key!r} is unreadable or truncated ({_short(str(exc))})"
            ) from exc


def _npz_header(npz: np.lib.npyio.NpzFile, key: str, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype that a .npz member's .npy header claims, read without reading its data."""
    try:
        with npz.zip.open(f"{key}.npy") as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    except Exception as exc:  # noqa: BLE001 - as for a .npy file: a hostile header raises many types
        raise GanbenchError(
            f"{path}: array {key!r} has no readable .npy header ({_short(str(exc))})"
        ) from exc
    return tuple(shape), dtype


def _check_header(shape: tuple[int, ...], dtype: np.dtype, path: Path, expect: _Expected) -> None:
    """Refuse an array from its claimed shape and dtype alone: the layout and the count's bound."""
    if expect.modality == "points":
        _check_point_layout(shape, path, expect)
    else:
        if dtype != np.uint8 and dtype.kind != "f":
            raise GanbenchError(f"{path}: dtype {dtype}; expected {IMAGE_DTYPES}")
        _check_layout(shape, path, expect)
    _check_most(shape[0], path, expect)


def _torch_reason(exc: Exception) -> str:
    """Why torch.load failed, in one short line (its own message for a refused pickle is a page)."""
    found = re.search(r"WeightsUnpickler error:\s*(.+)", str(exc))
    if found:  # e.g. "Unsupported global: GLOBAL posix.system": what the pickle would have called
        return _short(f"refused by weights_only=True: {found.group(1).split(' was not an ')[0]}")
    return _short(f"{type(exc).__name__}: {exc}") if str(exc).strip() else type(exc).__name__


def _check_torch_archive(path: Path, expect: _Expected) -> None:
    """Refuse a torch file whose archive claims more bytes than the most samples allowed could take,
    before torch reads it: a zip member can be a compressed bomb, as a .npz member can."""
    if not zipfile.is_zipfile(path):
        raise GanbenchError(
            f"{path}: not a zip-format torch file (torch.save has written zip files since torch 1.6;"
            f" resave it with torch.save); expected one tensor of {expect.layout()}"
        )
    if expect.most is None:
        return
    # float64 is the widest dtype a sample tensor holds; 1 MiB covers the pickle and the zip's own records.
    allowed = expect.most[0] * int(np.prod(expect.shape)) * 8 + 2**20
    with zipfile.ZipFile(path) as archive:
        claimed = sum(info.file_size for info in archive.infolist())
    if claimed > allowed:
        raise GanbenchError(
            f"{path}: its archive claims {claimed:,} bytes; at most {expect.most[0]:,} samples"
            f" ({expect.most[1]}) take {allowed:,}"
        )


def _read_torch(path: Path, expect: _Expected) -> np.ndarray:
    """The one tensor of a torch file, loaded without running pickled code, as a numpy array."""
    _check_torch_archive(path, expect)
    try:
        # torch warns on stderr about odd pickle protocols; loaded or refused is all that counts here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated or refused files raise many types: each is one message
        raise GanbenchError(
            f"{path}: cannot load it with torch.load ({_torch_reason(exc)}); expected a torch.save file of"
            f" one tensor of {expect.layout()}"
        ) from exc
    if not isinstance(loaded, torch.Tensor):
        raise GanbenchError(
            f"{path}: holds a {type(loaded).__name__}, not a tensor; expected one tensor of {expect.layout()}"
        )
    tensor = loaded.detach()
    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16; widening to float32 is exact
        tensor = tensor.to(torch.float32)
    try:
        if tensor.layout != torch.strided:
            raise TypeError(f"{tensor.layout} layout")
        return tensor.numpy()
    except (TypeError, RuntimeError) as exc:  # sparse, quantized, or a dtype numpy cannot hold
        raise GanbenchError(
            f"{path}: a {tensor.dtype} tensor ({_short(str(exc), 80)}); expected {expect.kinds()}"
        ) from exc


# ----------------------------------------------------------------------------------------- checking


def _check_count(n: int, path: Path, need: int) -> None:
    if n < need:
        raise GanbenchError(f"{path}: holds {n:,} samples; the metrics need at least {need:,}")


def _check_most(n: int, path: Path, expect: _Expected) -> None:
    if expect.most is not None and n > expect.most[0]:
        most, bound = expect.most
        raise GanbenchError(f"{path}: holds {n:,} samples; at most {most:,} ({bound})")


def _check_finite(array: np.ndarray, path: Path, expect: _Expected) -> None:
    bad = array.size - int(np.count_nonzero(np.isfinite(array)))
    if bad:
        raise GanbenchError(
            f"{path}: {bad:,} of {array.size:,} values are NaN or infinite; expected {expect.kinds()}"
        )


def _check_points(array: np.ndarray, path: Path, expect: _Expected, need: int) -> np.ndarray:
    """Finite real (N, d) -> float64 (N, d)."""
    if array.dtype.kind not in "fiu":
        raise GanbenchError(f"{path}: dtype {array.dtype}; expected float {expect.layout()}")
    _check_point_layout(tuple(array.shape), path, expect)
    _check_count(array.shape[0], path, need)
    _check_most(array.shape[0], path, expect)
    points = np.array(array, dtype=np.float64, order="C")  # a copy: never a view of the mapped file
    _check_finite(points, path, expect)
    if points.size and np.abs(points).max() > POINT_LIMIT:
        raise GanbenchError(
            f"{path}: values as large as {np.abs(points).max():.3g} are beyond float32's range"
            f" (±{POINT_LIMIT:.3g}); expected {expect.layout()} within it"
        )
    return points


def _check_point_layout(shape: tuple[int, ...], path: Path | str, expect: _Expected) -> None:
    """Refuse any shape but (N, d) with the dataset's d."""
    if len(shape) != 2 or shape[1:] != expect.shape:
        raise GanbenchError(f"{path}: shape {shape}; expected {expect.layout()}")


def _check_layout(shape: tuple[int, ...], path: Path | str, expect: _Expected) -> None:
    """Refuse any shape but (N, C, H, W) with the dataset's C, H and W, saying which part is wrong."""
    channels, height, width = expect.shape
    if len(shape) != 4:
        raise GanbenchError(f"{path}: rank-{len(shape)} array of shape {shape}; expected {expect.layout()}")
    if shape[1] != channels:
        if shape[3] == channels and shape[1:3] == (height, width):
            # Refused, not transposed: a layout guessed from sizes alone is silently wrong when they coincide.
            raise GanbenchError(
                f"{path}: shape {shape} is channels-last (N, H, W, C); expected {expect.layout()}"
                " (transpose it with .transpose(0, 3, 1, 2))"
            )
        raise GanbenchError(
            f"{path}: got {shape[1]} channels, {expect.name} has {channels}; expected {expect.layout()}"
        )
    if shape[2:] != (height, width):
        raise GanbenchError(
            f"{path}: got {shape[2]}x{shape[3]} images, {expect.name} has {height}x{width}; expected"
            f" {expect.layout()} (ganbench does not resize)"
        )


def _check_images(array: np.ndarray, path: Path, expect: _Expected, need: int) -> np.ndarray:
    """uint8 or float [-1, 1] (N, C, H, W) -> float32 (N, C, H, W) in [-1, 1]."""
    if array.dtype != np.uint8 and array.dtype.kind != "f":
        raise GanbenchError(f"{path}: dtype {array.dtype}; expected {IMAGE_DTYPES}")
    _check_layout(tuple(array.shape), path, expect)
    _check_count(array.shape[0], path, need)
    _check_most(array.shape[0], path, expect)
    if array.dtype == np.uint8:  # every uint8 is a valid pixel: nothing more to check
        return to_float(torch.from_numpy(np.array(array))).numpy()
    _check_finite(array, path, expect)
    if array.size:
        low, high = float(array.min()), float(array.max())
        if low < -1 or high > 1:
            raise GanbenchError(
                f"{path}: values in [{low:.4g}, {high:.4g}] are outside [-1, 1]: images as floats must be in"
                " [-1, 1] (ganbench's convention); uint8 in [0, 255] also works"
            )
    return np.array(array, dtype=np.float32, order="C")  # a copy: never a view of the mapped file


def _load_folder(folder: Path, expect: _Expected, need: int) -> np.ndarray:
    """Every image file under `folder` (recursively, sorted by path), at the dataset's size already."""
    if expect.modality != "images":
        raise GanbenchError(
            f"{folder}: a folder of images, but {expect.name} holds points; expected a .npy, .npz or .pt"
            f" file of {expect.layout()}"
        )
    channels, height, width = expect.shape
    if channels not in (1, 3):  # image files decode to gray or RGB only
        raise GanbenchError(
            f"{folder}: image files decode to 1 or 3 channels, {expect.name} has {channels}; expected a .npy,"
            f" .npz or .pt file of {expect.layout()}"
        )
    found = [p for p in folder.rglob("*") if p.suffix.lower() in FOLDER_SUFFIXES and p.is_file()]
    # Sorted by path components, as the folder dataset sorts, so the order never depends on the platform.
    files = sorted(found, key=lambda p: p.relative_to(folder).parts)
    if not files:
        raise GanbenchError(
            f"{folder}: no {'/'.join(FOLDER_SUFFIXES)} files in it or below; expected {expect.layout()}"
        )
    _check_count(len(files), folder, need)
    _check_most(len(files), folder, expect)
    images = torch.empty((len(files), channels, height, width), dtype=torch.uint8)
    for i, file in enumerate(files):
        claimed = image_size(file)  # from the header: a file of another size is refused before decoding
        if claimed[0] * claimed[1] != height * width:
            raise GanbenchError(
                f"{file}: got a {claimed[1]}x{claimed[0]} image (height x width), {expect.name} has"
                f" {height}x{width}; ganbench does not resize: resize the images to {height}x{width} first"
            )
        image = _decode(file, channels)
        if tuple(image.shape[1:]) != (height, width):
            raise GanbenchError(
                f"{file}: got a {image.shape[1]}x{image.shape[2]} image (height x width), {expect.name} has"
                f" {height}x{width}; ganbench does not resize: resize the images to {height}x{width} first"
            )
        images[i] = image
    return to_float(images).numpy()
