"""``detaux-test-blobs``: a tiny image problem with a principal factor and a second, easily
separable one, for Detaux's end-to-end tests.

A bright square on a dark 28×28 image: its column (left or right) is the principal task; its
row (top, middle or bottom) and its size (6 or 9 px) are the other factors, and a jitter of up
to 1 px a nuisance.
"""

import numpy as np

from orthomtl.data import ArrayDataset, DatasetInfo, TaskData
from orthomtl.registry import DATASETS
from orthomtl.tasks import Task

NAME = "detaux-test-blobs"
FACTORS = ("column", "row", "size")
TASK = Task("column", "classification", 2)


def blob_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 1, 28, 28) in [0, 1] and their factors (n, 3): column, row, size."""
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, k, n) for k in (2, 3, 2)], axis=1)
    jitter = rng.integers(-1, 2, (n, 2))
    images = np.zeros((n, 1, 28, 28), np.float32)
    for i, ((column, row, size), (dy, dx)) in enumerate(zip(factors, jitter, strict=True)):
        side = 6 + 3 * size
        top, left = 1 + 9 * row + dy, 2 + 14 * column + dx
        images[i, 0, max(top, 0) : top + side, max(left, 0) : left + side] = 1.0
    return images, factors


def load_blobs(
    *, seed: int = 0, path: str | None = None, tasks: list[str] | None = None, size: int = 480
) -> TaskData:
    splits = []
    for offset, n in enumerate((size, size // 4, size // 4)):
        images, factors = blob_images(n, 1000 * offset + 7)
        splits.append(
            ArrayDataset(images, {"column": factors[:, 0]}, [TASK], factors=factors, name=NAME)
        )
    return TaskData(NAME, [TASK], *splits, factor_names=FACTORS)


if NAME not in DATASETS:
    DATASETS.register(NAME)(
        DatasetInfo(NAME, load_blobs, "test squares", "column", factors=FACTORS)
    )
