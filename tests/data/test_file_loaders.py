"""The file-backed loaders of factor datasets on tiny files in the real formats: dSprites npz,
3D Shapes h5 and image-npz."""

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from orthomtl.data import _dsprites as dsprites
from orthomtl.data import load_dsprites, load_image_npz, load_mnist, load_shapes3d
from orthomtl.registry import DATASETS
from tests.data.files import everything, stamp, unstamp

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
