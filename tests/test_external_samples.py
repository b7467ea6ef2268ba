"""Samples from files (`ganbench eval --samples`): exact arrays back, one-line refusals naming the file."""

from __future__ import annotations

import pathlib
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_fake_mnist

from ganbench import paths
from ganbench.data import DATASETS
from ganbench.data.external import check_shape, load_samples
from ganbench.data.images import MnistParams, to_float
from ganbench.data.mixtures import RingParams
from ganbench.data.stacked_mnist import StackedMnistParams
from ganbench.errors import GanbenchError


class Poison:
    """Unpickling it creates the marker file: a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.fixture
def ring():
    return DATASETS.get("ring-8").build(RingParams())


@pytest.fixture
def fake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake MNIST test split as the data root (only the test split exists, and nothing downloads)."""
    root = write_fake_mnist(tmp_path / "data", n=20)
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(root))
    return root


@pytest.fixture
def mnist(fake_root: Path):
    return DATASETS.get("mnist").build(MnistParams(split="test", download=False))


@pytest.fixture
def stacked(fake_root: Path):
    return DATASETS.get("stacked-mnist").build(StackedMnistParams(split="test", download=False))


def _pixels(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _refused(path: Path, dataset, match: str, **kwargs) -> str:
    """The one-line message refusing `path`; it names the file (or one inside the folder)."""
    with pytest.raises(GanbenchError, match=match) as err:
        load_samples(path, dataset, **kwargs)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    return message


# ----------------------------------------------------------------------------------------- accepted


def test_points_come_back_float64_from_npy_npz_and_pt(tmp_path: Path, ring) -> None:
    points = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    np.save(tmp_path / "p.npy", points)
    np.savez(tmp_path / "one.npz", anything=points)
    np.savez(tmp_path / "named.npz", samples=points, labels=np.arange(50))
    torch.save(torch.from_numpy(points), tmp_path / "p.pt")
    np.save(tmp_path / "ints.npy", np.array([[1, -2], [3, 4]], dtype=np.int64))
    for name in ("p.npy", "one.npz", "named.npz", "p.pt"):
        loaded = load_samples(tmp_path / name, ring, need=50)
        assert loaded.dtype == np.float64 and loaded.shape == (50, 2) and loaded.flags.c_contiguous
        np.testing.assert_array_equal(loaded, points.astype(np.float64))
    np.testing.assert_array_equal(load_samples(tmp_path / "ints.npy", ring), [[1.0, -2.0], [3.0, 4.0]])


def test_uint8_images_become_to_float_of_them(tmp_path: Path, mnist, stacked) -> None:
    gray, rgb = _pixels((6, 1, 28, 28)), _pixels((5, 3, 28, 28), seed=1)
    np.save(tmp_path / "gray.npy", gray)
    np.savez_compressed(tmp_path / "gray.npz", gray)
    torch.save(torch.from_numpy(rgb), tmp_path / "rgb.pt")
    expected = to_float(torch.from_numpy(gray)).numpy()
    for name in ("gray.npy", "gray.npz"):
        loaded = load_samples(tmp_path / name, mnist, need=6, name="mnist")
        assert loaded.dtype == np.float32 and loaded.shape == (6, 1, 28, 28)
        np.testing.assert_array_equal(loaded, expected)
    loaded = load_samples(tmp_path / "rgb.pt", stacked, name="stacked-mnist")
    assert loaded.dtype == np.float32 and loaded.shape == (5, 3, 28, 28)
    np.testing.assert_array_equal(loaded, to_float(torch.from_numpy(rgb)).numpy())
    assert loaded.min() >= -1 and loaded.max() <= 1


def test_float_images_in_range_come_back_unchanged_as_float32(tmp_path: Path, mnist) -> None:
    images = np.random.default_rng(0).uniform(-1, 1, size=(4, 1, 28, 28))
    images[0, 0, 0, :2] = [-1.0, 1.0]  # the ends of the range are inside it
    np.save(tmp_path / "f32.npy", images.astype(np.float32))
    np.save(tmp_path / "f64.npy", images)
    torch.save(torch.from_numpy(images).to(torch.bfloat16), tmp_path / "bf16.pt")
    for name in ("f32.npy", "f64.npy"):
        loaded = load_samples(tmp_path / name, mnist)
        assert loaded.dtype == np.float32 and loaded.shape == (4, 1, 28, 28)
        np.testing.assert_array_equal(loaded, images.astype(np.float32))
    loaded = load_samples(tmp_path / "bf16.pt", mnist)
    np.testing.assert_array_equal(loaded, torch.from_numpy(images).to(torch.bfloat16).float().numpy())


def test_a_folder_of_images_is_decoded_in_path_order(tmp_path: Path, mnist, stacked) -> None:
    from PIL import Image
    from torchvision.io import write_png

    gray = _pixels((3, 1, 28, 28))
    folder = tmp_path / "gray"
    (folder / "a").mkdir(parents=True)
    # Path order by components: a/c.png before a.png before b.bmp (whatever str() sorting would say).
    write_png(torch.from_numpy(gray[1]), str(folder / "a.png"))
    write_png(torch.from_numpy(gray[0]), str(folder / "a" / "c.png"))
    Image.fromarray(gray[2, 0]).save(folder / "b.bmp")
    (folder / "notes.txt").write_text("not an image")
    loaded = load_samples(folder, mnist, need=3)
    assert loaded.dtype == np.float32 and loaded.shape == (3, 1, 28, 28)
    np.testing.assert_array_equal(loaded, to_float(torch.from_numpy(gray)).numpy())

    rgb = _pixels((2, 3, 28, 28), seed=1)
    (tmp_path / "rgb").mkdir()
    for i, image in enumerate(rgb):
        write_png(torch.from_numpy(image), str(tmp_path / "rgb" / f"{i}.PNG"))
    loaded = load_samples(tmp_path / "rgb", stacked)
    np.testing.assert_array_equal(loaded, to_float(torch.from_numpy(rgb)).numpy())


# ------------------------------------------------------------------------------------------ refused


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (
            _pixels((4, 3, 28, 28)),
            "got 3 channels, mnist has 1; expected images .N, C, H, W. = .N, 1, 28, 28.",
        ),
        (
            _pixels((4, 1, 32, 32)),
            "got 32x32 images, mnist has 28x28; expected .* .ganbench does not resize.",
        ),
        (_pixels((4, 28, 28, 1)), r"channels-last \(N, H, W, C\); expected images \(N, C, H, W\)"),
        (_pixels((4, 28, 28)), r"rank-3 array of shape \(4, 28, 28\); expected images \(N, C, H, W\)"),
        (
            np.zeros((4, 1, 28, 28), np.int64),
            re.escape("int64; expected uint8 in [0, 255] or float in [-1, 1]"),
        ),
        (
            np.zeros((4, 1, 28, 28), bool),
            re.escape("dtype bool; expected uint8 in [0, 255] or float in [-1, 1]"),
        ),
        (
            np.linspace(-3.2, 4.0, 4 * 28 * 28).reshape(4, 1, 28, 28),
            re.escape(
                "values in [-3.2, 4] are outside [-1, 1]: images as floats must be in [-1, 1]"
                " (ganbench's convention); uint8 in [0, 255] also works"
            ),
        ),
        (
            np.where(np.eye(28) > 0, np.nan, 0.0)[None, None].repeat(2, 0),
            "56 of 1,568 values are NaN or infinite; expected uint8",
        ),
    ],
    ids=["channels", "size", "channels-last", "rank", "int64", "bool", "range", "nan"],
)
def test_bad_image_arrays_are_refused_saying_what_was_expected(tmp_path: Path, mnist, array, match) -> None:
    np.save(tmp_path / "bad.npy", array)
    _refused(tmp_path / "bad.npy", mnist, match, name="mnist")


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((10, 3)), r"shape \(10, 3\); expected points \(N, 2\) for ring-8"),
        (np.zeros(20), r"shape \(20,\); expected points \(N, 2\) for ring-8"),
        (
            np.array([[0.0, np.inf], [np.nan, 1.0]]),
            "2 of 4 values are NaN or infinite; expected finite floats",
        ),
        (np.array([[0.0, 1e300]]), "beyond float32's range"),
        (np.array([["a", "b"]]), "dtype <U1; expected float points"),
        (np.zeros((10, 2), complex), "dtype complex128; expected float points"),
    ],
    ids=["width", "rank", "non-finite", "huge", "strings", "complex"],
)
def test_bad_point_arrays_are_refused(tmp_path: Path, ring, array, match) -> None:
    np.save(tmp_path / "bad.npy", array)
    _refused(tmp_path / "bad.npy", ring, match, name="ring-8")


def test_a_batch_shape_is_checked_as_a_file_is(ring, mnist) -> None:
    # `ganbench eval --generator` checks its test batch with the same messages as a file of samples.
    check_shape((2, 2), ring, "batch", name="ring-8")
    check_shape((2, 1, 28, 28), mnist, "batch", name="mnist")
    for shape, match in [
        ((2, 3), r"^batch: shape \(2, 3\); expected points \(N, 2\) for ring-8$"),
        ((2,), r"^batch: shape \(2,\); expected points \(N, 2\) for ring-8$"),
    ]:
        with pytest.raises(GanbenchError, match=match):
            check_shape(shape, ring, "batch", name="ring-8")
    with pytest.raises(GanbenchError, match=r"^batch: shape \(2, 28, 28, 1\) is channels-last"):
        check_shape((2, 28, 28, 1), mnist, "batch", name="mnist")


def test_fewer_samples_than_the_metrics_need_are_refused(tmp_path: Path, ring, mnist) -> None:
    np.save(tmp_path / "few.npy", np.zeros((10, 2)))
    _refused(tmp_path / "few.npy", ring, "holds 10 samples; the metrics need at least 1,000", need=1000)
    np.save(tmp_path / "none.npy", np.zeros((0, 2)))
    _refused(tmp_path / "none.npy", ring, "holds 0 samples; the metrics need at least 1")
    (tmp_path / "imgs").mkdir()
    for i in range(2):
        (tmp_path / "imgs" / f"{i}.png").write_bytes(b"never decoded: counted first")
    _refused(tmp_path / "imgs", mnist, "holds 2 samples; the metrics need at least 5", need=5)


def test_npz_files_must_hold_one_array_or_one_named_samples(tmp_path: Path, ring) -> None:
    np.savez(tmp_path / "two.npz", x=np.zeros((5, 2)), y=np.zeros((5, 2)))
    _refused(
        tmp_path / "two.npz", ring, "holds arrays x, y; expected exactly one array, or one named 'samples'"
    )
    np.savez(tmp_path / "empty.npz")
    _refused(tmp_path / "empty.npz", ring, "holds no arrays; expected exactly one array")


def test_pickles_are_refused_and_never_run(tmp_path: Path, ring) -> None:
    marker = tmp_path / "ran"
    np.save(tmp_path / "objects.npy", np.array([Poison(marker)], dtype=object), allow_pickle=True)
    _refused(tmp_path / "objects.npy", ring, "numpy would have to unpickle it, which ganbench never does")
    np.savez(tmp_path / "objects.npz", samples=np.array([Poison(marker)], dtype=object))
    _refused(tmp_path / "objects.npz", ring, "array 'samples' holds Python objects")
    torch.save(Poison(marker), tmp_path / "poison.pt")
    _refused(tmp_path / "poison.pt", ring, "cannot load it with torch.load .refused by weights_only=True")
    assert not marker.exists()


def test_unreadable_and_unknown_files_are_refused(tmp_path: Path, ring, mnist) -> None:
    (tmp_path / "garbage.npy").write_bytes(b"\x00not numpy at all")
    _refused(tmp_path / "garbage.npy", ring, "not a numeric .npy/.npz array")
    np.save(tmp_path / "cut.npy", np.zeros((100, 2)))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:200])
    _refused(tmp_path / "cut.npy", ring, "not a readable .npy/.npz file")
    (tmp_path / "garbage.pt").write_bytes(b"PK\x03\x04 truncated zip")
    _refused(tmp_path / "garbage.pt", ring, "not a zip-format torch file")
    torch.save({"samples": torch.zeros(5, 2)}, tmp_path / "dict.pt")
    _refused(
        tmp_path / "dict.pt", ring, r"holds a dict, not a tensor; expected one tensor of points \(N, 2\)"
    )
    torch.save(torch.zeros(5, 1, 28, 28, dtype=torch.complex64), tmp_path / "complex.pt")
    _refused(tmp_path / "complex.pt", mnist, re.escape("dtype complex64; expected uint8 in [0, 255]"))
    np.savetxt(tmp_path / "points.csv", np.zeros((5, 2)))
    _refused(tmp_path / "points.csv", ring, r"unknown file type '\.csv'; accepted: \.npy, \.npz, \.pt, \.pth")
    _refused(tmp_path / "missing.npy", ring, "no such file or folder; expected .npy, .npz")


def test_bad_folders_are_refused(tmp_path: Path, ring, mnist) -> None:
    from torchvision.io import write_png

    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").write_text("no images here")
    _refused(tmp_path / "empty", mnist, r"no \.png/\.jpg/\.jpeg/\.bmp/\.webp files in it or below")
    _refused(tmp_path / "empty", ring, "a folder of images, but ring-8 holds points", name="ring-8")

    (tmp_path / "big").mkdir()
    write_png(torch.from_numpy(_pixels((1, 28, 28))), str(tmp_path / "big" / "0.png"))
    write_png(torch.from_numpy(_pixels((1, 32, 30))), str(tmp_path / "big" / "1.png"))
    message = _refused(
        tmp_path / "big", mnist, "got a 32x30 image .height x width., mnist has 28x28", name="mnist"
    )
    assert str(tmp_path / "big" / "1.png") in message and "does not resize" in message

    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    message = _refused(tmp_path / "broken", mnist, "cannot decode image")
    assert str(tmp_path / "broken" / "0.png") in message
