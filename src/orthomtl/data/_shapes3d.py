"""``shapes3d``: the official 3D Shapes file, 480 000 renders of 64×64 scenes with six factors.

Factors (``labels`` columns, stored as values): floor_hue (10), wall_hue (10), object_hue (10),
scale (8), shape (4), orientation (15). Each factor's sorted distinct values in the file map to
class indices ``0, 1, ...``, and any factor can be a (classification) task.

Only the sampled rows of ``images`` are read from the HDF5 file, and they stay uint8 in memory
(scaled to ``[0, 1]`` a batch at a time). Optional salt-and-pepper noise (``_augment``)
is an augmentation: fresh every epoch in training, fixed per image in validation and test.
"""

from pathlib import Path

import h5py
import numpy as np

from orthomtl.data._augment import SaltAndPepper, check_noise
from orthomtl.data._base import ArrayDataset, DatasetInfo, TaskData, select_tasks
from orthomtl.data._files import fixed_splits, resolve_file
from orthomtl.registry import DATASETS
from orthomtl.tasks import Task

NAME = "shapes3d"
FILENAME = "3dshapes.h5"
SOURCE = "https://github.com/google-deepmind/3d-shapes"
FACTOR_SIZES = {
    "floor_hue": 10,
    "wall_hue": 10,
    "object_hue": 10,
    "scale": 8,
    "shape": 4,
    "orientation": 15,
}
FACTORS = tuple(FACTOR_SIZES)
TASKS = tuple(Task(name, "classification", size) for name, size in FACTOR_SIZES.items())
_READ_ROWS = 2048


def read_file(file: Path, sizes: dict[str, int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Images (n, 3, H, W) uint8 as in the file and factor classes (n, 6) of each split.

    The splits are drawn with ``fixed_splits``; only their rows are read, in increasing order, a
    block at a time.
    """
    try:
        h5 = h5py.File(file, "r")
    except OSError as err:
        raise ValueError(f"{NAME}: {file} is not a readable HDF5 file ({err}).") from err
    with h5:
        if missing := [key for key in ("images", "labels") if key not in h5]:
            raise ValueError(
                f"{NAME}: {file} lacks the dataset(s) {missing}; expected 'images' "
                f"(N, 64, 64, 3) uint8 and 'labels' (N, 6), found {list(h5)}."
            )
        images, labels = h5["images"], h5["labels"]
        n = images.shape[0]
        if images.ndim != 4 or images.shape[3] != 3 or labels.shape != (n, len(FACTORS)):
            raise ValueError(
                f"{NAME}: {file} has images {images.shape} and labels {labels.shape}; expected "
                f"images (N, H, W, 3) and labels (N, {len(FACTORS)}) with the same N."
            )
        if images.dtype != np.uint8:
            raise ValueError(
                f"{NAME}: {file} has {images.dtype} images; expected uint8 pixels 0..255 as in "
                "the official file."
            )
        classes = factor_classes(labels[()])
        parts = fixed_splits(NAME, n, sizes)
        rows = np.sort(np.concatenate(parts))
        pixels = np.empty((len(rows), 3, *images.shape[1:3]), np.uint8)
        for start in range(0, len(rows), _READ_ROWS):
            block = images[rows[start : start + _READ_ROWS]]
            pixels[start : start + len(block)] = block.transpose(0, 3, 1, 2)
    where = [np.searchsorted(rows, part) for part in parts]
    return [pixels[w] for w in where], [classes[part] for part in parts]


def factor_classes(values: np.ndarray) -> np.ndarray:
    """Label values (N, 6) to class indices: a factor's sorted distinct values become 0, 1, ..."""
    classes = np.empty(values.shape, np.int64)
    for column, (factor, size) in enumerate(FACTOR_SIZES.items()):
        distinct, inverse = np.unique(values[:, column], return_inverse=True)
        classes[:, column] = inverse
        if len(distinct) > size:
            raise ValueError(
                f"{NAME}: factor {factor!r} has {len(distinct)} distinct values in the labels; "
                f"expected at most {size}."
            )
    return classes


def load_shapes3d(
    *,
    seed: int = 0,
    path: str | None = None,
    tasks: list[str] | None = None,
    train_size: int = 50_000,
    val_size: int = 5_000,
    test_size: int = 10_000,
    noise: float = 0.0,
) -> TaskData:
    """Load a fixed, non-overlapping sample of 3D Shapes.

    Args:
        seed: seed of the training noise only; the sample is the same for every seed.
        path: the ``.h5`` file, or a directory containing it under its official name.
        tasks: factor names; ``None`` for all six.
        train_size: training images.
        val_size: validation images.
        test_size: test images.
        noise: salt-and-pepper probability per pixel, in ``[0, 1)``; 0 for none.

    Returns:
        The three splits, with inputs (3, 64, 64) and the six factor classes in ``Batch.factors``.
    """
    noise = check_noise(noise, NAME)
    file = resolve_file(path, FILENAME, NAME, SOURCE)
    selected = select_tasks(TASKS, tasks, NAME)
    noises = [
        SaltAndPepper(noise, seed, fixed=False),
        SaltAndPepper(noise, 0, fixed=True),
        SaltAndPepper(noise, 1, fixed=True),
    ]
    sizes = {"train_size": train_size, "val_size": val_size, "test_size": test_size}
    images, classes = read_file(file, sizes)
    train, val, test = (
        ArrayDataset(
            x,
            {factor: y[:, column] for column, factor in enumerate(FACTORS)},
            selected,
            factors=y,
            transform=transform if noise > 0 else None,
            name=f"{NAME} {split}",
            scale=1 / 255,
        )
        for x, y, transform, split in zip(
            images, classes, noises, ("train", "val", "test"), strict=True
        )
    )
    return TaskData(NAME, selected, train, val, test, factor_names=FACTORS)


DATASETS.register(NAME)(
    DatasetInfo(
        name=NAME,
        loader=load_shapes3d,
        summary="3D Shapes: 64x64 renders of a shape in a room with six ground-truth factors",
        tasks="any factor (classification); default all six",
        factors=FACTORS,
        needs_path=True,
        source=SOURCE,
        options={
            "train_size": "training images (default 50000)",
            "val_size": "validation images (default 5000)",
            "test_size": "test images (default 10000)",
            "noise": "salt-and-pepper probability per pixel (default 0)",
        },
    )
)
