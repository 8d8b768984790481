"""The file-backed loaders on tiny files in the real formats: MNIST IDX, dSprites npz, 3D Shapes h5,
and image-npz."""

import gzip
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from orthomtl.data import (
    TaskDataset,
    load_dsprites,
    load_image_npz,
    load_mnist,
    load_shapes3d,
    rotate,
)
from orthomtl.data import _dsprites as dsprites
from orthomtl.data._mnist import FILES
from orthomtl.registry import DATASETS


def everything(split: TaskDataset):
    return split.__getitems__(list(range(len(split))))


def stamp(n: int, size: int) -> np.ndarray:
    """(n, size, size) uint8 images whose first row spells the index in binary (0/1 pixels)."""
    images = np.zeros((n, size, size), np.uint8)
    bits = (np.arange(n)[:, None] >> np.arange(size)) & 1
    images[:, 0, :] = bits
    return images


def unstamp(x: torch.Tensor) -> np.ndarray:
    bits = (x[:, 0, 0, :].numpy() > 0.5).astype(np.int64)
    return (bits << np.arange(bits.shape[1])).sum(axis=1)


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


# --- dSprites ----------------------------------------------------------------------------------

N_SPRITES = 48


def write_dsprites(file: Path, compressed: bool = True, **override: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    classes = np.stack(
        [np.zeros(N_SPRITES, int), *(rng.integers(0, k, N_SPRITES) for k in (3, 6, 40, 32, 32))],
        axis=1,
    )
    values = np.stack(
        [
            np.ones(N_SPRITES),
            classes[:, 1] + 1.0,
            0.5 + 0.1 * classes[:, 2],
            classes[:, 3] * 2 * np.pi / 40,
            classes[:, 4] / 31,
            classes[:, 5] / 31,
        ],
        axis=1,
    )
    arrays = {"imgs": stamp(N_SPRITES, 64), "latents_classes": classes, "latents_values": values}
    arrays.update(override)
    (np.savez_compressed if compressed else np.savez)(file, **arrays)


@pytest.fixture
def sprites_file(tmp_path: Path) -> Path:
    file = tmp_path / dsprites.FILENAME
    write_dsprites(file)
    return file


@pytest.mark.parametrize("compressed", [True, False])
def test_dsprites_labels_follow_the_latents(tmp_path: Path, compressed: bool, monkeypatch) -> None:
    monkeypatch.setattr(dsprites, "_CHUNK_BYTES", 5 * 64 * 64)  # stream in several chunks
    write_dsprites(tmp_path / dsprites.FILENAME, compressed)
    with np.load(tmp_path / dsprites.FILENAME) as archive:
        classes, values = archive["latents_classes"], archive["latents_values"]
    data = load_dsprites(path=str(tmp_path), train_size=30, val_size=6, test_size=10)
    assert data.input_shape == (1, 64, 64) and data.factor_names == dsprites.FACTORS
    assert [(t.name, t.kind) for t in data.tasks] == [
        ("shape", "classification"),
        ("scale", "classification"),
        ("orientation", "angle"),
        ("pos_x", "regression"),
        ("pos_y", "regression"),
    ]
    seen = []
    for split in (data.train, data.val, data.test):
        batch = everything(split)
        index = unstamp(batch.x)
        seen.extend(index)
        assert split.x.dtype == torch.uint8 and torch.equal(batch.x, split.x.float())
        np.testing.assert_array_equal(batch.targets["shape"], classes[index, 1])
        np.testing.assert_array_equal(batch.targets["scale"], classes[index, 2])
        np.testing.assert_allclose(batch.targets["orientation"], values[index, 3], rtol=1e-6)
        np.testing.assert_allclose(batch.targets["pos_y"], values[index, 5], rtol=1e-6)
        np.testing.assert_array_equal(batch.factors, classes[index])
    assert len(set(seen)) == 46


def test_dsprites_task_selection_and_fixed_sample(sprites_file: Path) -> None:
    sizes = {"train_size": 20, "val_size": 5, "test_size": 5}
    a = load_dsprites(path=str(sprites_file), tasks=["pos_x", "shape"], **sizes)
    b = load_dsprites(seed=3, path=str(sprites_file), **sizes)
    assert [t.name for t in a.tasks] == ["pos_x", "shape"]
    assert torch.equal(a.test.x, b.test.x)


def test_dsprites_errors(sprites_file: Path, tmp_path: Path) -> None:
    sizes = {"train_size": 20, "val_size": 5, "test_size": 5}
    with pytest.raises(FileNotFoundError, match=r"dsprites_ndarray.*nowhere.*google-deepmind"):
        load_dsprites(path=str(tmp_path / "nowhere"), **sizes)
    with pytest.raises(ValueError, match=r"need .* = 50 samples, but only 48"):
        load_dsprites(path=str(sprites_file), train_size=40, val_size=5, test_size=5)
    write_dsprites(sprites_file, latents_values=np.zeros((N_SPRITES, 5)))
    with pytest.raises(ValueError, match=r"latents_values has shape \(48, 5\); expected \(48, 6\)"):
        load_dsprites(path=str(sprites_file), **sizes)
    write_dsprites(sprites_file, imgs=stamp(N_SPRITES, 64).astype(np.float64))
    binary = load_dsprites(path=str(sprites_file), **sizes)
    assert binary.train.x.dtype == torch.uint8 and binary.train.x.max() == 1
    write_dsprites(sprites_file, imgs=stamp(N_SPRITES, 64) * 0.5)
    with pytest.raises(ValueError, match="binary pixels 0 and 1"):
        load_dsprites(path=str(sprites_file), **sizes)
    write_dsprites(sprites_file, imgs=stamp(N_SPRITES, 64) * 2)
    with pytest.raises(ValueError, match="binary pixels 0 and 1"):
        load_dsprites(path=str(sprites_file), **sizes)
    write_dsprites(sprites_file, imgs=np.zeros((N_SPRITES, 64 * 64), np.uint8))
    with pytest.raises(ValueError, match=r"expected a C-ordered \(N, H, W\)"):
        load_dsprites(path=str(sprites_file), **sizes)
    np.savez(sprites_file.with_suffix(""), imgs=stamp(N_SPRITES, 64))
    with pytest.raises(ValueError, match=r"lacks the array\(s\) \['latents_classes'"):
        load_dsprites(path=str(sprites_file), **sizes)
    sprites_file.write_text("not a zip archive")
    with pytest.raises(ValueError, match=r"not a readable \.npz"):
        load_dsprites(path=str(sprites_file), **sizes)


# --- 3D Shapes ---------------------------------------------------------------------------------

N_SHAPES = 40
GRIDS = [
    np.linspace(0, 0.9, 10),
    np.linspace(0, 0.9, 10),
    np.linspace(0, 0.9, 10),
    np.linspace(0.75, 1.25, 8),
    np.arange(4.0),
    np.linspace(-30, 30, 15),
]


def write_shapes(file: Path, images: np.ndarray | None = None, labels: np.ndarray | None = None):
    rng = np.random.default_rng(2)
    # every value of every factor occurs, as in the real file, so sorted values map to the grid
    classes = np.stack([rng.permutation(np.arange(N_SHAPES) % len(g)) for g in GRIDS], axis=1)
    if labels is None:
        labels = np.stack([g[c] for g, c in zip(GRIDS, classes.T, strict=True)], axis=1)
    if images is None:
        images = np.repeat(stamp(N_SHAPES, 16)[..., None], 3, axis=3) * 255
    with h5py.File(file, "w") as h5:
        h5.create_dataset("images", data=images)
        h5.create_dataset("labels", data=labels)
    return classes


def test_shapes3d_factor_classes(tmp_path: Path) -> None:
    classes = write_shapes(tmp_path / "3dshapes.h5")
    data = load_shapes3d(path=str(tmp_path), train_size=25, val_size=5, test_size=8)
    assert data.input_shape == (3, 16, 16) and len(data.tasks) == 6
    assert [t.num_classes for t in data.tasks] == [10, 10, 10, 8, 4, 15]
    for split in (data.train, data.val, data.test):
        batch = everything(split)
        index = unstamp(batch.x)
        np.testing.assert_array_equal(batch.factors, classes[index])
        np.testing.assert_array_equal(batch.targets["orientation"], classes[index, 5])
        assert batch.x.max() == 1.0 and torch.equal(batch.x[:, 0], batch.x[:, 2])
        assert split.x.dtype == torch.uint8 and split.x.shape[1:] == (3, 16, 16)
        torch.testing.assert_close(batch.x, split.x / 255)
    small = load_shapes3d(
        path=str(tmp_path / "3dshapes.h5"), tasks=["shape"], train_size=5, val_size=2, test_size=2
    )
    assert [t.name for t in small.tasks] == ["shape"]


def test_shapes3d_noise(tmp_path: Path) -> None:
    write_shapes(tmp_path / "3dshapes.h5", images=np.full((N_SHAPES, 16, 16, 3), 128, np.uint8))
    sizes = {"train_size": 20, "val_size": 5, "test_size": 5}
    data = load_shapes3d(path=str(tmp_path), noise=0.2, **sizes)
    x = everything(data.train).x
    grey = torch.tensor(128 / 255).item()
    assert 0.15 < float((x != grey).float().mean()) < 0.25
    assert torch.equal(x[:, 0], x[:, 1]) and set(x.unique().tolist()) == {0.0, grey, 1.0}
    data.train.set_epoch(1)
    assert not torch.equal(x, everything(data.train).x)
    other = load_shapes3d(seed=5, path=str(tmp_path), noise=0.2, **sizes)
    other.test.set_epoch(3)
    assert torch.equal(everything(data.test).x, everything(other.test).x)
    with pytest.raises(ValueError, match=r"shapes3d: data\.noise must be .* \[0, 1\), got 1\.5"):
        load_shapes3d(path=str(tmp_path), noise=1.5, **sizes)


def test_shapes3d_errors(tmp_path: Path) -> None:
    file = tmp_path / "3dshapes.h5"
    sizes = {"train_size": 20, "val_size": 5, "test_size": 5}
    with pytest.raises(FileNotFoundError, match=r"3dshapes\.h5.*3d-shapes"):
        load_shapes3d(path=str(tmp_path), **sizes)
    with h5py.File(file, "w") as h5:
        h5.create_dataset("images", data=np.zeros((4, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"lacks the dataset\(s\) \['labels'\]"):
        load_shapes3d(path=str(file), **sizes)
    write_shapes(file, images=np.zeros((N_SHAPES, 8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"expected images \(N, H, W, 3\)"):
        load_shapes3d(path=str(file), **sizes)
    write_shapes(file, images=np.zeros((N_SHAPES, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="has float32 images; expected uint8"):
        load_shapes3d(path=str(file), **sizes)
    write_shapes(file, labels=np.arange(N_SHAPES * 6.0).reshape(N_SHAPES, 6))
    with pytest.raises(
        ValueError, match=r"'floor_hue' has 40 distinct values .*; expected at most 10"
    ):
        load_shapes3d(path=str(file), **sizes)
    file.write_text("plain text")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        load_shapes3d(path=str(file), **sizes)


# --- image-npz ---------------------------------------------------------------------------------


def test_image_npz_infers_tasks_and_layout(tmp_path: Path) -> None:
    file = tmp_path / "mine.npz"
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    np.savez(file, images=images, kind=np.arange(20) % 4, size=np.linspace(0, 1, 20))
    data = load_image_npz(path=str(file))
    assert data.input_shape == (3, 8, 8)
    assert [(t.name, t.kind, t.num_classes) for t in data.tasks] == [
        ("kind", "classification", 4),
        ("size", "regression", None),
    ]
    assert (len(data.train), len(data.val), len(data.test)) == (14, 2, 4)
    batch = everything(data.val)
    assert batch.x.max() <= 1 and batch.targets["size"].dtype == torch.float32
    assert data.val.x.dtype == torch.uint8  # kept as stored, scaled per batch as before:
    assert torch.equal(batch.x, torch.from_numpy(data.val.x.numpy() * np.float32(1 / 255)))
    rows = {x.tobytes() for x in images.transpose(0, 3, 1, 2)}
    assert all(x.tobytes() in rows for x in data.train.x.numpy())
    np.savez(file, images=images, kind=np.arange(20) % 4, extra=np.zeros((20, 5)))
    assert [t.name for t in load_image_npz(path=str(file), tasks=["kind"]).tasks] == ["kind"]
    with pytest.raises(ValueError, match=r"lacks the array\(s\) \['size'\]"):
        load_image_npz(path=str(file), tasks=["size"])
    np.savez(file, pics=np.zeros((10, 2, 5, 5)), turn=np.linspace(-3, 3, 10), y=np.arange(10.0))
    spec = {"turn": "angle", "y": "classification"}
    data = load_image_npz(path=str(file), images_key="pics", tasks_spec=spec, tasks=["turn"])
    assert data.input_shape == (2, 5, 5) and data.tasks[0].kind == "angle"
    assert data.train.x.dtype == torch.float32 and data.train.scale is None
    np.savez(file, images=np.zeros((10, 5, 5)), y=np.arange(10.0))
    data = load_image_npz(path=str(file), tasks_spec={"y": "classification"}, val_fraction=0.3)
    assert data.input_shape == (1, 5, 5) and data.tasks[0].num_classes == 10
    assert len(data.val) == 3


def test_image_npz_errors(tmp_path: Path) -> None:
    file = tmp_path / "mine.npz"
    with pytest.raises(FileNotFoundError, match=r"mine\.npz.*'images' array"):
        load_image_npz(path=str(file))
    x = np.zeros((10, 4, 4), np.float32)
    x[3, 1, 1] = np.nan
    np.savez(file, images=x, y=np.arange(10) % 2)
    with pytest.raises(ValueError, match=r"image-npz \w+ \(mine\.npz\): inputs contain NaN"):
        load_image_npz(path=str(file))
    np.savez(file, images=np.zeros((10, 4, 4)), y=np.arange(10) % 2 - 2 * (np.arange(10) == 4))
    with pytest.raises(ValueError, match=r"image-npz \w+ \(mine\.npz\): task 'y' .* out of range"):
        load_image_npz(path=str(file))
    np.savez(file, images=np.zeros((10, 4, 4)), y=np.full(10, np.inf))
    with pytest.raises(ValueError, match=r"image-npz .* inf labels"):
        load_image_npz(path=str(file))
    np.savez(file, images=np.zeros((10, 4, 4)), y=np.zeros((10, 2)))
    with pytest.raises(ValueError, match=r"labels 'y' .* shape \(10, 2\); expected \(10,\)"):
        load_image_npz(path=str(file))
    np.savez(file, images=np.zeros((10, 4)), y=np.arange(10))
    with pytest.raises(ValueError, match=r"expected \(N, H, W\), \(N, H, W, C\)"):
        load_image_npz(path=str(file))
    np.savez(file, images=np.zeros((10, 4, 4)))
    with pytest.raises(ValueError, match="no label arrays besides 'images'"):
        load_image_npz(path=str(file))
    np.savez(file, images=np.zeros((0, 4, 4)), y=np.zeros(0))
    with pytest.raises(ValueError, match="empty"):
        load_image_npz(path=str(file))
    np.savez(file, images=np.zeros((10, 4, 4)), y=np.arange(10))
    with pytest.raises(ValueError, match=r"lacks the array\(s\) \['z'\]"):
        load_image_npz(path=str(file), tasks_spec={"z": "regression"})
    with pytest.raises(ValueError, match="choose one of"):
        load_image_npz(path=str(file), tasks_spec={"y": "ranking"})
    np.savez(file, images=np.zeros((10, 4, 4)), y=np.linspace(0, 1, 10))
    with pytest.raises(ValueError, match="whole numbers"):
        load_image_npz(path=str(file), tasks_spec={"y": "classification"})


def test_all_registered() -> None:
    for name, loader in [
        ("mnist", load_mnist),
        ("dsprites", load_dsprites),
        ("shapes3d", load_shapes3d),
        ("image-npz", load_image_npz),
    ]:
        info = DATASETS.get(name)
        assert info.loader is loader and info.needs_path and info.source
