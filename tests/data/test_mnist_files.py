"""The MNIST loader on tiny IDX files, plain and gzipped, in both official layouts."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from orthomtl.data import load_mnist, rotate
from orthomtl.data._mnist import FILES
from tests.data.files import everything

# --- MNIST -------------------------------------------------------------------------------------


def write_idx(file: Path, array: np.ndarray, gz: bool = False) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        file.with_name(file.name + ".gz").write_bytes(gzip.compress(data))
    else:
        file.write_bytes(data)


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    write_idx(tmp_path / FILES["train_images"], rng.integers(0, 256, (30, 28, 28)), gz=True)
    write_idx(tmp_path / FILES["train_labels"], np.arange(30) % 10, gz=True)
    write_idx(tmp_path / FILES["test_images"], np.full((10, 28, 28), 255))
    write_idx(tmp_path / FILES["test_labels"], np.arange(10)[::-1])
    return tmp_path


def test_mnist_reads_plain_and_gzipped_idx(mnist_dir: Path) -> None:
    data = load_mnist(path=str(mnist_dir), val_size=5)
    assert (len(data.train), len(data.val), len(data.test)) == (25, 5, 10)
    assert data.input_shape == (1, 28, 28) and [t.name for t in data.tasks] == ["digit", "angle"]
    assert torch.equal(data.test.targets["digit"], torch.arange(10).flip(0))
    assert data.test.x.dtype == torch.uint8 and data.test.x.min() == 255  # the file's pixels
    batch = everything(data.test)
    assert batch.x.dtype == torch.float32 and batch.x.min() >= 0 and batch.x.max() <= 1
    assert batch.targets["angle"].abs().max() <= np.pi / 2
    train = everything(data.train)  # gathered, scaled to [0, 1], then rotated
    expected = rotate(data.train.x.float() * (1 / 255), train.targets["angle"].double())
    torch.testing.assert_close(train.x, expected, atol=1e-5, rtol=0)
    other_seed = load_mnist(seed=4, path=str(mnist_dir), val_size=5)
    assert torch.equal(batch.targets["angle"], everything(other_seed.test).targets["angle"])
    digits = np.concatenate([data.train.targets["digit"], data.val.targets["digit"]])
    assert sorted(digits) == sorted(np.arange(30) % 10)


def test_mnist_without_rotation_and_subsampled(mnist_dir: Path) -> None:
    data = load_mnist(path=str(mnist_dir), rotate=False, val_size=4, train_size=10)
    assert (len(data.train), len(data.val)) == (10, 4) and [t.name for t in data.tasks] == ["digit"]
    batch = everything(data.test)
    assert set(batch.targets) == {"digit"} and torch.equal(batch.x, torch.ones(10, 1, 28, 28))
    assert data.train.x.dtype == torch.uint8
    torch.testing.assert_close(everything(data.train).x, data.train.x / 255)
    with pytest.raises(ValueError, match="no task"):
        load_mnist(path=str(mnist_dir), rotate=False, val_size=4, tasks=["angle"])


def test_mnist_torchvision_layout(mnist_dir: Path, tmp_path_factory) -> None:
    root = tmp_path_factory.mktemp("tv")
    (root / "MNIST").mkdir()
    mnist_dir.rename(root / "MNIST" / "raw")
    assert len(load_mnist(path=str(root), val_size=5).test) == 10


def test_mnist_missing_files(mnist_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte.*yann.lecun.com"):
        load_mnist(path=str(tmp_path / "nowhere"))
    (mnist_dir / FILES["test_labels"]).unlink()
    with pytest.raises(FileNotFoundError) as err:
        load_mnist(path=str(mnist_dir))
    message = str(err.value)
    assert "t10k-labels-idx1-ubyte" in message and str(mnist_dir) in message
    assert "train-images" not in message and "exdb/mnist" in message
    with pytest.raises(FileNotFoundError, match=r"no data\.path"):
        load_mnist()


def test_mnist_malformed_files(mnist_dir: Path) -> None:
    test_labels = mnist_dir / FILES["test_labels"]
    good = test_labels.read_bytes()
    test_labels.write_bytes(b"\x08\x03" + good[2:])
    with pytest.raises(ValueError, match="magic number"):
        load_mnist(path=str(mnist_dir), val_size=5)
    test_labels.write_bytes(good[:-3])
    with pytest.raises(ValueError, match=r"truncated.*shape \(10,\)"):
        load_mnist(path=str(mnist_dir), val_size=5)
    test_labels.write_bytes(good[:6])
    with pytest.raises(ValueError, match="truncated"):
        load_mnist(path=str(mnist_dir), val_size=5)
    test_labels.write_bytes(good[:2] + b"\x42" + good[3:])
    with pytest.raises(ValueError, match="type code 0x42"):
        load_mnist(path=str(mnist_dir), val_size=5)
    write_idx(test_labels, np.arange(9))
    with pytest.raises(ValueError, match=r"10 images but .* 9 labels"):
        load_mnist(path=str(mnist_dir), val_size=5)
    write_idx(test_labels, np.arange(10) + 3)
    with pytest.raises(ValueError, match=r"mnist test: task 'digit' has 3 labels out of range"):
        load_mnist(path=str(mnist_dir), val_size=5)
    gz = mnist_dir / (FILES["train_images"] + ".gz")
    gz.write_bytes(gz.read_bytes()[:40])
    with pytest.raises(ValueError, match="not a valid gzip"):
        load_mnist(path=str(mnist_dir), val_size=5)


def test_mnist_split_too_large(mnist_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"mnist: the splits need .* 30"):
        load_mnist(path=str(mnist_dir), val_size=5, train_size=26)
