"""Image datasets: offline idx loading in every folder layout, sampling, errors, folders, CIFAR-10."""

from __future__ import annotations

import pickle
import urllib.request
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision.datasets
from conftest import SHARED_MNIST, write_idx
from PIL import Image
from torchvision.io import write_jpeg, write_png

from ganbench.config import build as build_params
from ganbench.data import images
from ganbench.data.base import DATASETS
from ganbench.data.images import (
    Cifar10Params,
    FolderParams,
    ImageData,
    MnistParams,
    load_cifar10,
    load_fashion_mnist,
    load_folder,
    load_mnist,
    mnist_available,
    to_float,
    to_uint8,
)
from ganbench.errors import GanbenchError

# torchvision 0.29 deprecates its image codecs in favour of torchcodec, which is not installed here.
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding:DeprecationWarning")

# The official MNIST test set's label counts, digits 0..9.
OFFICIAL_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision downloads through urllib: make any real request fail at once instead of going out."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# ------------------------------------------------------------------------------------- idx helpers


def synthetic(n: int = 20, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` 28x28 images whose pixels encode their index (and `offset`), labels i % 10."""
    index = np.arange(n)[:, None, None]
    pixels = np.arange(28 * 28).reshape(1, 28, 28)
    imgs = ((index * 7 + pixels + offset) % 256).astype(np.uint8)
    return imgs, ((np.arange(n) + offset) % 10).astype(np.uint8)


def write_split(
    folder: Path, split: str = "train", n: int = 20, gz: bool = False, offset: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if split == "train" else "t10k"
    imgs, labels = synthetic(n, offset)
    write_idx(folder / f"{prefix}-images-idx3-ubyte", imgs, gz)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, gz)
    return imgs, labels


def assert_matches(data: ImageData, imgs: np.ndarray, labels: np.ndarray) -> None:
    assert data.images.dtype == torch.uint8
    assert data.images.shape == (len(imgs), 1, 28, 28)
    assert torch.equal(data.images[:, 0], torch.from_numpy(imgs))
    assert data.labels is not None and data.labels.dtype == torch.int64
    assert data.labels.tolist() == labels.tolist()


# ------------------------------------------------------------------------------------ MNIST layouts


@pytest.mark.parametrize(
    ("subfolder", "gz"),
    [("MNIST/raw", False), ("MNIST/raw", True), ("", True), ("", False), ("mnist", False), ("mnist", True)],
)
@pytest.mark.parametrize("split", ["train", "test"])
def test_mnist_loads_every_layout(tmp_path: Path, subfolder: str, gz: bool, split: str) -> None:
    imgs, labels = write_split(tmp_path / subfolder, split, gz=gz)
    data = load_mnist(split, tmp_path, download=False)
    assert_matches(data, imgs, labels)
    assert len(data) == 20
    assert f"mnist {split} split, 20 images" in data.description
    assert mnist_available(split, tmp_path)
    assert not mnist_available("test" if split == "train" else "train", tmp_path)


def test_data_root_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    imgs, labels = write_split(tmp_path, "test", gz=True)
    monkeypatch.setenv("GANBENCH_DATA_ROOT", str(tmp_path))
    assert_matches(load_mnist("test", download=False), imgs, labels)
    assert mnist_available("test")


def test_search_order_torchvision_layout_then_own_folder_then_root(tmp_path: Path) -> None:
    root_imgs, _ = write_split(tmp_path, offset=1)
    own_imgs, _ = write_split(tmp_path / "mnist", offset=2)
    tv_imgs, _ = write_split(tmp_path / "MNIST/raw", offset=3)
    assert torch.equal(load_mnist("train", tmp_path, download=False).images[:, 0], torch.from_numpy(tv_imgs))
    for f in (tmp_path / "MNIST/raw").iterdir():
        f.unlink()
    assert torch.equal(load_mnist("train", tmp_path, download=False).images[:, 0], torch.from_numpy(own_imgs))
    for f in (tmp_path / "mnist").iterdir():
        f.unlink()
    assert torch.equal(
        load_mnist("train", tmp_path, download=False).images[:, 0], torch.from_numpy(root_imgs)
    )


def test_plain_file_wins_over_gz_and_pairs_come_from_one_folder(tmp_path: Path) -> None:
    plain, _ = write_split(tmp_path, offset=4)
    write_split(tmp_path, gz=True, offset=5)
    assert torch.equal(load_mnist("train", tmp_path, download=False).images[:, 0], torch.from_numpy(plain))
    # images in one folder and labels in another are not a dataset
    other = tmp_path / "other"
    imgs, labels = synthetic()
    write_idx(other / "MNIST/raw/train-images-idx3-ubyte", imgs)
    write_idx(other / "train-labels-idx1-ubyte", labels)
    assert not mnist_available("train", other)


def test_resize_to_32(tmp_path: Path) -> None:
    write_split(tmp_path)
    data = load_mnist("train", tmp_path, size=32, download=False)
    assert data.images.dtype == torch.uint8
    assert data.images.shape == (20, 1, 32, 32)
    assert data.image_shape == (1, 32, 32)


def test_loads_are_memoized_and_a_rewritten_file_is_read_again(tmp_path: Path) -> None:
    write_split(tmp_path)
    first = load_mnist("train", tmp_path, download=False)
    assert load_mnist("train", tmp_path, download=False) is first
    imgs, labels = write_split(tmp_path, n=7, offset=9)
    assert_matches(load_mnist("train", tmp_path, download=False), imgs, labels)


def test_unreadable_idx_file_names_the_file(tmp_path: Path) -> None:
    write_split(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"not an idx file at all")
    with pytest.raises(GanbenchError, match="train-images-idx3-ubyte is not a readable idx file"):
        load_mnist("train", tmp_path, download=False)


def test_bad_split_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GanbenchError, match="split must be 'train' or 'test'"):
        load_mnist("valid", tmp_path, download=False)


# ------------------------------------------------------------------------------- sampling, reference


def test_to_uint8_inverts_to_float_for_every_value() -> None:
    every = torch.arange(256, dtype=torch.uint8)
    floats = to_float(every)
    assert floats.dtype == torch.float32
    assert floats.min() == -1 and floats.max() == 1
    assert torch.equal(to_uint8(floats), every)
    assert to_uint8(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]


def test_sample_is_float_in_range_and_reproducible(tmp_path: Path) -> None:
    write_split(tmp_path)
    data = load_mnist("train", tmp_path, download=False)
    a = data.sample(64, torch.Generator().manual_seed(1))
    assert a.dtype == torch.float32 and a.shape == (64, 1, 28, 28)
    assert a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, data.sample(64, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, data.sample(64, torch.Generator().manual_seed(2)))
    # every sample is one of the dataset's images
    flat = to_float(data.images).reshape(len(data), -1)
    assert all((flat == row).all(dim=1).any() for row in a.reshape(64, -1))


def test_sample_uses_only_the_given_generator(tmp_path: Path) -> None:
    write_split(tmp_path)
    data = load_mnist("train", tmp_path, download=False)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = data.sample(32, torch.Generator().manual_seed(7))
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(456)
    assert torch.equal(a, data.sample(32, torch.Generator().manual_seed(7)))


def test_reference_is_the_first_n_images(tmp_path: Path) -> None:
    imgs, _ = write_split(tmp_path)
    data = load_mnist("train", tmp_path, download=False)
    ref = data.reference(5)
    assert ref.dtype == torch.uint8
    assert torch.equal(ref[:, 0], torch.from_numpy(imgs[:5]))
    ref.zero_()  # a copy: writing into it leaves the (cached) dataset alone
    assert torch.equal(data.reference(20)[:, 0], torch.from_numpy(imgs))
    with pytest.raises(GanbenchError, match=r"asked for 21 reference images, but the dataset has only 20"):
        data.reference(21)


# ------------------------------------------------------------------------------- missing, download


def test_missing_files_without_download(tmp_path: Path) -> None:
    with pytest.raises(GanbenchError) as info:
        load_mnist("train", tmp_path, download=False)
    message = str(info.value)
    assert "\n" not in message
    for part in (
        "dataset 'mnist' (split 'train')",
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        str(tmp_path / "MNIST" / "raw"),
        str(tmp_path / "mnist"),
        "--data-root",
        "GANBENCH_DATA_ROOT",
        "download is off",
    ):
        assert part in message


def test_failed_download_gives_one_line_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(self: object) -> None:
        print("Downloading https://example.invalid/t10k-images-idx3-ubyte.gz")
        raise RuntimeError(
            "Error downloading t10k-images-idx3-ubyte.gz:\nTried mirror, got:\n<urlopen error offline>\n"
        )

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", fail)
    root = tmp_path / "root"
    with pytest.raises(GanbenchError) as info:
        load_mnist("test", root)
    message = str(info.value)
    assert "\n" not in message
    assert "t10k-images-idx3-ubyte" in message and "--data-root" in message
    assert message.endswith("(download failed: <urlopen error offline>)")
    assert capsys.readouterr().out == ""  # torchvision's print went to stderr


def test_download_url_error_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: object) -> None:
        raise URLError("no network")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", fail)
    monkeypatch.setenv("GANBENCH_DATA_ROOT", str(tmp_path))
    with pytest.raises(GanbenchError, match=r"download failed: <urlopen error no network>"):
        DATASETS.get("mnist").build(MnistParams(split="test"))


def test_failed_download_leaves_no_empty_folders(tmp_path: Path) -> None:
    # The real torchvision download, stopped by the no_network fixture before any byte is fetched.
    root = tmp_path / "fresh"
    with pytest.raises(GanbenchError, match="download failed: .*network disabled in tests"):
        load_mnist("train", root)
    assert not root.exists()


def test_successful_download_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def fake_download(self: torchvision.datasets.MNIST) -> None:
        for split in ("train", "test"):
            written[split] = write_split(Path(self.raw_folder), split, gz=True)

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", fake_download)
    data = load_mnist("test", tmp_path)
    assert_matches(data, *written["test"])
    assert (tmp_path / "MNIST/raw/t10k-images-idx3-ubyte.gz").is_file()


# ------------------------------------------------------------------------------------ Fashion-MNIST


def test_fashion_mnist_uses_its_own_folder(tmp_path: Path) -> None:
    mnist_imgs, mnist_labels = write_split(tmp_path / "MNIST/raw", "test")
    with pytest.raises(GanbenchError, match=r"dataset 'fashion-mnist' \(split 'test'\).*FashionMNIST"):
        load_fashion_mnist("test", tmp_path, download=False)
    fashion_imgs, fashion_labels = write_split(tmp_path / "FashionMNIST/raw", "test", offset=11)
    assert_matches(load_fashion_mnist("test", tmp_path, download=False), fashion_imgs, fashion_labels)
    assert_matches(load_mnist("test", tmp_path, download=False), mnist_imgs, mnist_labels)
    other = tmp_path / "other"
    imgs, labels = write_split(other / "fashion-mnist", "train", gz=True)
    assert_matches(load_fashion_mnist("train", other, download=False), imgs, labels)


def test_fashion_mnist_download_uses_torchvision_fashion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[str] = []

    def fail(self: object) -> None:
        used.append(type(self).__name__)
        raise URLError("offline")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", fail)
    with pytest.raises(GanbenchError, match="download failed: <urlopen error offline>"):
        load_fashion_mnist("train", tmp_path)
    assert used == ["FashionMNIST"]


# ---------------------------------------------------------------------------------------- real data


def test_real_mnist_test_split() -> None:
    if not mnist_available("test", SHARED_MNIST):
        pytest.skip(f"MNIST test files (t10k-*-idx*-ubyte.gz) not found in {SHARED_MNIST}")
    data = load_mnist("test", SHARED_MNIST, download=False)
    assert data.images.shape == (10_000, 1, 28, 28)
    assert data.images.dtype == torch.uint8
    assert int(data.images.max()) == 255
    assert data.labels is not None
    assert torch.bincount(data.labels, minlength=10).tolist() == OFFICIAL_TEST_COUNTS
    with pytest.raises(GanbenchError, match="train-images-idx3-ubyte"):
        load_mnist("train", SHARED_MNIST, download=False)


# ------------------------------------------------------------------------------------------- folder


def solid(channels: int, height: int, width: int, value: int) -> torch.Tensor:
    return torch.full((channels, height, width), value, dtype=torch.uint8)


def write_folder(folder: Path) -> None:
    """Four images in nested folders, sorted order a, b/c, b/d/e, f; plus a file that is not an image."""
    (folder / "b/d").mkdir(parents=True)
    # wide: a 20x20 square of 200 in the middle of black margins, so the center crop is all 200
    wide = solid(3, 20, 40, 0)
    wide[:, :, 10:30] = 200
    write_png(wide, str(folder / "a.png"))
    write_png(solid(1, 50, 30, 60), str(folder / "b/c.PNG"))
    write_jpeg(solid(3, 16, 16, 128), str(folder / "b/d/e.jpg"))
    Image.fromarray(np.full((9, 12, 3), 30, np.uint8)).save(folder / "f.bmp")
    (folder / "b/notes.txt").write_text("not an image")


def test_folder_loads_every_image_cropped_and_resized(tmp_path: Path) -> None:
    write_folder(tmp_path)
    data = load_folder(tmp_path, size=16)
    assert data.images.shape == (4, 3, 16, 16)
    assert data.images.dtype == torch.uint8
    assert data.labels is None
    assert (data.images[0] == 200).all()  # the center crop dropped the black margins
    assert (data.images[1] == 60).all()  # grayscale expanded to RGB
    assert (data.images[2].int() - 128).abs().max() <= 3  # jpeg is lossy
    assert (data.images[3] == 30).all()
    gray = load_folder(tmp_path, size=8, channels=1)
    assert gray.images.shape == (4, 1, 8, 8)


def test_folder_dataset_through_the_registry(tmp_path: Path) -> None:
    write_folder(tmp_path)
    spec = DATASETS.get("folder")
    data = spec.build(build_params(FolderParams, {"path": str(tmp_path), "channels": 1}, "dataset.folder"))
    assert data.images.shape == (4, 1, 32, 32)
    assert "4 images" in data.description
    with pytest.raises(GanbenchError, match=r"needs `path = \.\.\.` in its \[dataset.folder\] table"):
        spec.build(FolderParams())
    with pytest.raises(GanbenchError, match="channels must be one of 1, 3"):
        build_params(FolderParams, {"path": "x", "channels": 2}, "dataset.folder")


def test_folder_errors_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(GanbenchError, match=f"{missing} is not a folder"):
        load_folder(missing)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub/readme.txt").write_text("nothing")
    with pytest.raises(GanbenchError, match=f"no .png/.jpg/.jpeg/.bmp files under {empty}"):
        load_folder(empty)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"not a png")
    with pytest.raises(GanbenchError, match="cannot decode image .*x.png"):
        load_folder(broken)


# ----------------------------------------------------------------------------------------- CIFAR-10


def test_cifar10_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(GanbenchError) as info:
        load_cifar10("train", tmp_path, download=False)
    message = str(info.value)
    assert "\n" not in message
    assert "cifar-10-batches-py" in message and str(tmp_path) in message and "--data-root" in message

    def fail(self: object) -> None:
        raise URLError("offline")

    monkeypatch.setattr(torchvision.datasets.CIFAR10, "download", fail)
    with pytest.raises(GanbenchError, match=r"cifar-10-batches-py.*download failed: <urlopen error offline>"):
        load_cifar10("test", tmp_path)


def test_cifar10_corrupted_folder(tmp_path: Path) -> None:
    (tmp_path / "cifar-10-batches-py").mkdir()
    with pytest.raises(GanbenchError, match="cifar-10-batches-py is incomplete or corrupted"):
        load_cifar10("test", tmp_path, download=False)


def test_cifar10_pixels_come_out_channels_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # torchvision checks the official md5 sums; tiny stand-in batches skip that check.
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_load_meta", lambda self: None)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    chw = rng.integers(0, 256, (6, 3, 32, 32), dtype=np.uint8)  # the batches store rows of R, G, B planes
    labels = [3, 1, 4, 1, 5, 9]
    with (folder / "test_batch").open("wb") as f:
        pickle.dump({"data": chw.reshape(6, -1), "labels": labels}, f)
    data = load_cifar10("test", tmp_path, download=False)
    assert data.images.shape == (6, 3, 32, 32)
    assert torch.equal(data.images, torch.from_numpy(chw))
    assert data.labels is not None and data.labels.tolist() == labels
    assert load_cifar10("test", tmp_path, size=16, download=False).images.shape == (6, 3, 16, 16)


# ----------------------------------------------------------------------------------------- registry


def test_image_datasets_are_registered() -> None:
    for name in ("mnist", "fashion-mnist", "cifar10", "folder"):
        assert DATASETS.get(name).modality == "images"
    assert DATASETS.get("mnist").params is MnistParams
    assert DATASETS.get("fashion-mnist").params is MnistParams
    assert DATASETS.get("cifar10").params is Cifar10Params
    assert images.ImageData.modality == "images"


def test_registered_mnist_reads_the_root_at_build_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    imgs, labels = write_split(tmp_path / "mnist", "test")
    monkeypatch.setenv("GANBENCH_DATA_ROOT", str(tmp_path))
    params = build_params(MnistParams, {"split": "test", "download": False}, "dataset.mnist")
    assert_matches(DATASETS.get("mnist").build(params), imgs, labels)
    sized = DATASETS.get("mnist").build(build_params(MnistParams, {"split": "test", "size": 32}, "d"))
    assert sized.images.shape == (20, 1, 32, 32)
    with pytest.raises(GanbenchError, match="must be >= 8"):
        build_params(MnistParams, {"size": 4}, "dataset.mnist")
