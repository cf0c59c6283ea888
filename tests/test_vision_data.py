"""genbench.data.vision on tiny files written in each dataset's own on-disk format, so that
torchvision's real readers run; nothing is downloaded."""
import os
import pickle
import struct
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar
import torchvision.datasets.mnist

from genbench.data.vision import SHAPES, DataError, default_root, load_vision

MNIST_FOLDERS = {"mnist": "MNIST/raw", "fashion-mnist": "FashionMNIST/raw"}
IDX_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
CIFAR_FILES = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]
FOLDER = {**MNIST_FOLDERS, "cifar10": "cifar-10-batches-py"}
FILES = {"mnist": IDX_FILES, "fashion-mnist": IDX_FILES, "cifar10": CIFAR_FILES}


def write_idx(path, array):
    """An idx file: big-endian magic 0x08 (uint8) << 8 | ndim, then each dimension, then the bytes."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(raw, n=5):
    """Train and t10k splits of n random images each; returns {split: (images, labels)}."""
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    splits = {}
    for split in ("train", "t10k"):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(raw / f"{split}-images-idx3-ubyte", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels)
        splits[split] = images, labels
    return splits


def write_cifar(folder, n=2):
    """Five train batches and a test batch of n images each, pickled as the CIFAR-10 files are:
    rows of 3072 bytes (R plane, G plane, B plane, each row-major), and the label names."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name in CIFAR_FILES[:-1]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n).tolist()
        # str keys: the real files are Python 2 pickles whose str keys torchvision's latin1 load
        # decodes to str, and it indexes entry["data"]
        (folder / name).write_bytes(pickle.dumps({"data": data, "labels": labels}))
        batches[name] = data, labels
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"class{i}" for i in range(10)]}))
    return batches


@pytest.fixture
def no_checksums(monkeypatch):
    """Our files cannot match CIFAR-10's md5 sums; check only that they exist, everything else real."""
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))


@pytest.fixture
def offline(monkeypatch):
    """The network is down: any attempt to reach it raises URLError."""
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture
def no_download(monkeypatch):
    """Fail the test if torchvision so much as tries to download."""
    def forbidden(*args, **kwargs):
        pytest.fail("torchvision tried to download")
    monkeypatch.setattr(urllib.request, "urlopen", forbidden)
    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", forbidden)
    monkeypatch.setattr(torchvision.datasets.cifar, "download_and_extract_archive", forbidden)


def assert_one_line(err):
    assert "\n" not in str(err) and str(err)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("train", [True, False])
def test_mnist_like_returns_the_idx_pixels_and_labels(tmp_path, no_download, name, train):
    expected = write_mnist(tmp_path / MNIST_FOLDERS[name])["train" if train else "t10k"]
    images, labels = load_vision(name, tmp_path, train=train)
    assert images.dtype == torch.uint8 and images.shape == (5, *SHAPES[name])
    assert labels.dtype == torch.int64
    assert torch.equal(images[:, 0], torch.from_numpy(expected[0]))
    assert labels.tolist() == expected[1].tolist()


def cifar_row(image_hwc: np.ndarray) -> np.ndarray:
    """CIFAR-10's on-disk row of a 32×32 RGB image: the red plane, then green, then blue, each row-major."""
    return np.concatenate([image_hwc[:, :, c].reshape(-1) for c in range(3)])


@pytest.mark.parametrize("train", [True, False])
def test_cifar10_returns_channels_first_rgb(tmp_path, no_checksums, no_download, train):
    batches = write_cifar(tmp_path / "cifar-10-batches-py")
    # the first image of each batch pure red, the second black with one green pixel at row 1, column 2
    red, dot = np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32, 3), np.uint8)
    red[:, :, 0], dot[1, 2, 1] = 255, 200
    for name, (data, labels) in batches.items():
        data[0], data[1] = cifar_row(red), cifar_row(dot)
        (tmp_path / "cifar-10-batches-py" / name).write_bytes(pickle.dumps({"data": data, "labels": labels}))
    names = CIFAR_FILES[:5] if train else ["test_batch"]
    images, labels = load_vision("cifar10", tmp_path, train=train)
    assert images.dtype == torch.uint8 and images.shape == (2 * len(names), 3, 32, 32)
    assert (images[0, 0] == 255).all() and (images[0, 1:] == 0).all()  # channel 0 is red
    assert images[1].nonzero().tolist() == [[1, 1, 2]] and images[1, 1, 1, 2] == 200  # green, at (y=1, x=2)
    assert labels.dtype == torch.int64
    assert labels.tolist() == [label for b in names for label in batches[b][1]]


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_missing_files_name_folder_and_files_without_downloading(tmp_path, no_download, name):
    with pytest.raises(DataError) as err:
        load_vision(name, tmp_path, train=True)
    assert_one_line(err.value)
    message = str(err.value)
    assert str(tmp_path / FOLDER[name]) in message and "--download" in message
    assert all(f in message for f in FILES[name])


def test_a_missing_test_file_blocks_the_train_split_too(tmp_path, no_download):
    """torchvision checks all four idx files whichever split is asked for."""
    write_mnist(tmp_path / "MNIST/raw")
    (tmp_path / "MNIST/raw/t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte in"):
        load_vision("mnist", tmp_path, train=True)


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_a_failed_download_is_one_line_and_leaves_no_empty_folders(tmp_path, offline, name):
    with pytest.raises(DataError, match="download failed") as err:
        load_vision(name, tmp_path / "data", train=True, download=True)
    assert_one_line(err.value)
    assert "network is unreachable" in str(err.value)
    assert list(tmp_path.iterdir()) == []  # not data/, not data/MNIST/raw


def test_a_truncated_idx_file_names_the_file(tmp_path, no_download):
    path = tmp_path / "MNIST/raw/train-images-idx3-ubyte"
    write_mnist(path.parent)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match="cannot read") as err:
        load_vision("mnist", tmp_path, train=True)
    assert_one_line(err.value)
    assert str(path) in str(err.value)
    assert load_vision("mnist", tmp_path, train=False)[0].shape == (5, 1, 28, 28)   # the other split is intact


def test_more_images_than_labels_is_refused(tmp_path, no_download):
    """torchvision never compares the two counts."""
    raw = tmp_path / "MNIST/raw"
    write_mnist(raw)
    write_idx(raw / "train-labels-idx1-ubyte", np.zeros(4))
    with pytest.raises(DataError, match="5 images but 4 labels"):
        load_vision("mnist", tmp_path, train=True)


def test_images_of_another_size_are_refused(tmp_path, no_download):
    """torchvision reads an idx file of any image size."""
    raw = tmp_path / "MNIST/raw"
    write_mnist(raw)
    write_idx(raw / "train-images-idx3-ubyte", np.zeros((5, 32, 32)))
    with pytest.raises(DataError, match=r"shape \(1, 32, 32\), expected \(1, 28, 28\)"):
        load_vision("mnist", tmp_path, train=True)


def test_a_root_that_is_a_file_is_refused(tmp_path):
    root = tmp_path / "data"
    root.write_text("")
    with pytest.raises(DataError, match="not a directory"):
        load_vision("mnist", root, train=True)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads every folder")
def test_an_unreadable_root_is_refused(tmp_path):
    root = tmp_path / "data"
    root.mkdir(mode=0)
    try:
        with pytest.raises(DataError, match="not readable"):
            load_vision("mnist", root, train=True)
    finally:
        root.chmod(0o700)   # so that pytest can clean up


def test_an_unknown_name_is_refused(tmp_path):
    with pytest.raises(DataError, match="choose from mnist, fashion-mnist, cifar10"):
        load_vision("svhn", tmp_path, train=True)


def test_default_root_follows_genbench_data(monkeypatch, tmp_path):
    monkeypatch.setenv("GENBENCH_DATA", str(tmp_path))
    assert default_root() == tmp_path
    monkeypatch.delenv("GENBENCH_DATA")
    assert default_root() == default_root().home() / ".cache/genbench/data"


def test_stacked_mnist_and_resizing_through_get_dataset(tmp_path):
    from genbench.data import dataset_shape, get_dataset
    splits = write_mnist(tmp_path / "MNIST/raw", n=6)
    d = get_dataset("stacked-mnist", n_reference=20, root=tmp_path)
    assert d.shape == dataset_shape("stacked-mnist") == (3, 28, 28) and d.num_classes == 1000
    train_images = torch.from_numpy(splits["train"][0]).float() / 127.5 - 1
    assert all(any(torch.equal(c, img) for img in train_images) for c in d.train[0])  # channels are train digits
    labels = splits["t10k"][1].tolist()
    assert set(d.reference_labels.tolist()) <= {a * 100 + b * 10 + c for a in labels for b in labels for c in labels}
    small = get_dataset("mnist", root=tmp_path, image_size=14)
    assert small.shape == (1, 14, 14) and len(small.reference) == 6 and small.train.abs().max() <= 1


def test_missing_files_of_stacked_mnist_say_it_is_built_from_mnist(tmp_path, no_download):
    from genbench.data import get_dataset
    with pytest.raises(DataError) as err:
        get_dataset("stacked-mnist", n_reference=20, root=tmp_path)
    assert_one_line(err.value)
    assert str(err.value).startswith("stacked-mnist is built from mnist's files: mnist: no data in")
