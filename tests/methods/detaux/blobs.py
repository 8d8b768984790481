"""``detaux-test-blobs``: a tiny image problem with a principal factor and a second, easily
separable one, for Detaux's end-to-end tests.

A bright 8×8 square on a dark 28×28 image: its column (left or right) is the principal task,
its row (top or bottom) the second factor, and a jitter of up to 1 px a nuisance.
"""

import numpy as np

from orthomtl.data import ArrayDataset, DatasetInfo, TaskData
from orthomtl.registry import DATASETS
from orthomtl.tasks import Task

NAME = "detaux-test-blobs"
FACTORS = ("column", "row")
TASK = Task("column", "classification", 2)


def blob_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 1, 28, 28) in [0, 1] and their factors (n, 2): column, row."""
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, 2, n), rng.integers(0, 2, n)], axis=1)
    jitter = rng.integers(-1, 2, (n, 2))
    images = np.zeros((n, 1, 28, 28), np.float32)
    for i, ((column, row), (dy, dx)) in enumerate(zip(factors, jitter, strict=True)):
        top, left = 4 + 12 * row + dy, 4 + 12 * column + dx
        images[i, 0, max(top, 0) : top + 8, max(left, 0) : left + 8] = 1.0
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
