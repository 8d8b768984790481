"""``dsprites``: the official dSprites archive, 737 280 binary 64×64 sprites with six known factors.

Factors (``latents_classes`` / ``latents_values`` columns): color, shape, scale, orientation, pos_x,
pos_y. Tasks: ``shape`` (3 classes), ``scale`` (6 classes), ``orientation`` (an angle in radians,
``[0, 2π)``), ``pos_x`` and ``pos_y`` (regression, ``[0, 1]``). Note that a square looks the same
every 90° and an ellipse every 180°, so orientation is ambiguous for those shapes.

Only the sampled rows of ``imgs`` are kept: the array is streamed out of the (compressed) archive in
chunks rather than decompressed whole, so memory stays proportional to the sample. The binary pixels
stay uint8 in memory and become float32 a batch at a time.
"""

import zipfile
import zlib
from pathlib import Path

import numpy as np

from orthomtl.data._base import ArrayDataset, DatasetInfo, TaskData, select_tasks
from orthomtl.data._files import fixed_splits, open_npz, resolve_file
from orthomtl.registry import DATASETS
from orthomtl.tasks import Task

NAME = "dsprites"
FILENAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
SOURCE = "https://github.com/google-deepmind/dsprites-dataset"
FACTORS = ("color", "shape", "scale", "orientation", "pos_x", "pos_y")
TASKS = (
    Task("shape", "classification", 3),
    Task("scale", "classification", 6),
    Task("orientation", "angle"),
    Task("pos_x", "regression"),
    Task("pos_y", "regression"),
)
KEYS = ("imgs", "latents_classes", "latents_values")
_CHUNK_BYTES = 1 << 26


def read_rows(file: Path, key: str, rows: np.ndarray, length: int) -> np.ndarray:
    """Rows ``rows`` (sorted, unique) of the (length, H, W) array ``key`` of an npz, streamed."""
    with zipfile.ZipFile(file) as archive, archive.open(f"{key}.npy") as stream:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"{NAME}: {file}: {key!r} has unsupported .npy version {version}.")
        if len(shape) != 3 or shape[0] != length or 0 in shape or fortran or dtype.hasobject:
            raise ValueError(
                f"{NAME}: {file}: {key!r} is {dtype} of shape {shape} (Fortran order: {fortran}); "
                f"expected a C-ordered (N, H, W) array with N = {length} as in the latents."
            )
        row_bytes = shape[1] * shape[2] * dtype.itemsize
        chunk = max(_CHUNK_BYTES // row_bytes, 1)
        out = np.empty((len(rows), shape[1], shape[2]), dtype)
        done = 0
        for start in range(0, int(rows[-1]) + 1, chunk):
            count = min(chunk, length - start)
            data = stream.read(count * row_bytes)
            if len(data) != count * row_bytes:
                raise ValueError(f"{NAME}: {file}: {key!r} is truncated.")
            stop = int(np.searchsorted(rows, start + count))
            block = np.frombuffer(data, dtype).reshape(count, shape[1], shape[2])
            out[done:stop] = block[rows[done:stop] - start]
            done = stop
        return out


def load_dsprites(
    *,
    seed: int = 0,
    path: str | None = None,
    tasks: list[str] | None = None,
    train_size: int = 50_000,
    val_size: int = 5_000,
    test_size: int = 10_000,
) -> TaskData:
    """Load a fixed, non-overlapping sample of dSprites.

    Args:
        seed: unused (no augmentation); the sample is the same for every seed.
        path: the ``.npz`` file, or a directory containing it under its official name.
        tasks: any of shape, scale, orientation, pos_x, pos_y; ``None`` for all five.
        train_size: training images.
        val_size: validation images.
        test_size: test images.

    Returns:
        The three splits, with inputs (1, H, W) in {0, 1} and the six factor classes in
        ``Batch.factors``.
    """
    file = resolve_file(path, FILENAME, NAME, SOURCE)
    selected = select_tasks(TASKS, tasks, NAME)
    with open_npz(file, NAME, list(KEYS)) as archive:
        classes, values = archive["latents_classes"], archive["latents_values"]
    n = len(classes)
    for key, array in (("latents_classes", classes), ("latents_values", values)):
        if array.shape != (n, len(FACTORS)):
            raise ValueError(
                f"{NAME}: {key} has shape {array.shape}; expected ({n}, {len(FACTORS)}), one "
                f"column per factor {list(FACTORS)}."
            )
    sizes = {"train_size": train_size, "val_size": val_size, "test_size": test_size}
    parts = fixed_splits(NAME, n, sizes)
    rows = np.sort(np.concatenate(parts))
    try:
        images = read_rows(file, "imgs", rows, n)
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise ValueError(f"{NAME}: {file}: the 'imgs' array is corrupt ({err}).") from err
    if images.dtype == np.uint8:
        binary = images.max(initial=0) <= 1
    else:
        binary = bool(((images == 0) | (images == 1)).all())
    if not binary:
        raise ValueError(f"{NAME}: imgs must hold binary pixels 0 and 1, as in the official file.")
    images = images.astype(np.uint8, copy=False)
    columns = {
        "shape": classes[:, 1],
        "scale": classes[:, 2],
        "orientation": values[:, 3],
        "pos_x": values[:, 4],
        "pos_y": values[:, 5],
    }
    train, val, test = (
        ArrayDataset(
            images[np.searchsorted(rows, part), None],
            {task: column[part] for task, column in columns.items()},
            selected,
            factors=classes[part],
            name=f"{NAME} {split}",
            scale=1.0,
        )
        for part, split in zip(parts, ("train", "val", "test"), strict=True)
    )
    return TaskData(NAME, selected, train, val, test, factor_names=FACTORS)


DATASETS.register(NAME)(
    DatasetInfo(
        name=NAME,
        loader=load_dsprites,
        summary="dSprites: 64x64 binary sprites with six ground-truth factors",
        tasks="shape (3), scale (6), orientation (angle), pos_x, pos_y (regression)",
        factors=FACTORS,
        needs_path=True,
        source=SOURCE,
        options={
            "train_size": "training images (default 50000)",
            "val_size": "validation images (default 5000)",
            "test_size": "test images (default 10000)",
        },
    )
)
