"""``shapes``: procedural scenes with the six factors of 3D Shapes, rendered on demand.

The renderer is in ``orthomtl.data.shapes_render``; this module turns it into a dataset. A split
holds only combination indices (rows of the 480,000-scene factor grid, in ``3dshapes.h5`` order)
and renders each batch when it is fetched. Any factor can be a classification task.

Optional salt-and-pepper noise sets a fraction of pixels to black or white. Like every augmentation
it is a pure function of ``(seed, epoch, index)``, computed by a counter-based hash: the training
split draws fresh noise every epoch, validation and test keep one draw per sample. The index that
keys the noise is the sample's combination index, which is unique across the three splits.
"""

from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
import torch

from orthomtl.data.base import (
    Batch,
    DatasetInfo,
    TaskData,
    TaskDataset,
    select_tasks,
    split_indices,
)
from orthomtl.data.shapes_render import (
    FACTOR_NAMES,
    FACTOR_SIZES,
    IMAGE_SIZE,
    NUM_COMBINATIONS,
    render,
)
from orthomtl.registry import DATASETS
from orthomtl.tasks import Task

NAME = "shapes"
TASKS: tuple[Task, ...] = tuple(
    Task(name, "classification", size)
    for name, size in zip(FACTOR_NAMES, FACTOR_SIZES, strict=True)
)
SPLIT_SEED = 20_180_601
"""Seed of the split permutation: the splits are the same for every training seed."""

_MASK64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser, in place on uint64 (a bijection with good avalanche)."""
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def salt_and_pepper(
    images: np.ndarray, fraction: float, *, seed: int, epoch: int, index: np.ndarray
) -> np.ndarray:
    """Set about ``fraction`` of each image's pixels (all channels) to black or white, in place.

    Args:
        images: (N, C, H, W) float images, C-contiguous.
        fraction: the probability that a pixel is replaced, in [0, 1).
        seed: the run's seed.
        epoch: the epoch of the draw.
        index: (N,) non-negative integers, one key per image.

    Returns:
        ``images``. Each pixel's fate is a pure function of (seed, epoch, index, pixel): a
        counter-based hash gives it a 32-bit word, whose high 31 bits decide whether it is
        replaced and whose low bit picks black or white.
    """
    x = images.reshape(len(images), images.shape[1], -1)
    pixels = x.shape[2]
    key = _mix(np.array([seed & _MASK64], dtype=np.uint64) + _GOLDEN)
    key = _mix(key ^ np.uint64(epoch & _MASK64))
    per_image = _mix(key ^ np.asarray(index, dtype=np.uint64))
    counters = np.arange(1, (pixels + 1) // 2 + 1, dtype=np.uint64) * _GOLDEN
    words = _mix(per_image[:, None] + counters).view(np.uint32)[:, :pixels]  # 2 pixels per hash
    hit = (words >> np.uint32(1)) < np.uint32(int(fraction * 2.0**31))
    x *= ~hit[:, None]
    x += (hit & (words & np.uint32(1)).astype(bool))[:, None]
    return images


class ShapesDataset(TaskDataset):
    """One split of ``shapes``: combination indices, rendered (and noised) per batch.

    Args:
        combinations: (N,) indices into the factor grid, ``0..NUM_COMBINATIONS-1``.
        tasks: the factors to predict.
        noise: fraction of pixels set to black or white; 0 for clean images.
        seed: seeds the noise.
        fresh_noise: draw new noise every epoch (training) rather than once per sample.
    """

    def __init__(
        self,
        combinations: np.ndarray,
        tasks: Sequence[Task],
        *,
        noise: float = 0.0,
        seed: int = 0,
        fresh_noise: bool = False,
    ) -> None:
        self.combinations = np.asarray(combinations, dtype=np.int64)
        self.factors = np.stack(np.unravel_index(self.combinations, FACTOR_SIZES), axis=1)
        self.tasks = tuple(tasks)
        self.input_shape = (3, IMAGE_SIZE, IMAGE_SIZE)
        self.noise, self.seed, self.fresh_noise = noise, seed, fresh_noise
        self._columns = {task.name: FACTOR_NAMES.index(task.name) for task in self.tasks}

    def __len__(self) -> int:
        return len(self.combinations)

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        idx = np.asarray(indices, dtype=np.int64)
        factors = self.factors[idx]
        x = render(factors)
        if self.noise > 0:
            epoch = self.epoch if self.fresh_noise else 0
            keys = self.combinations[idx]
            salt_and_pepper(x, self.noise, seed=self.seed, epoch=epoch, index=keys)
        factor_tensor = torch.from_numpy(factors)
        return Batch(
            x=torch.from_numpy(x),
            targets={name: factor_tensor[:, col].clone() for name, col in self._columns.items()},
            index=torch.from_numpy(idx),
            factors=factor_tensor,
        )


def load_shapes(
    *,
    seed: int = 0,
    path: str | None = None,
    tasks: list[str] | None = None,
    train_size: int = 20_000,
    val_size: int = 2_000,
    test_size: int = 5_000,
    noise: float = 0.0,
) -> TaskData:
    """Build the ``shapes`` splits: disjoint samples of the 480,000 factor combinations.

    The test split is drawn first and the validation split next, so changing ``train_size`` keeps
    them the same. The splits do not depend on ``seed``.

    Args:
        seed: seeds the noise (the only randomness that varies between runs).
        path: must be ``None``; the scenes are rendered, not read.
        tasks: factors to predict, from ``FACTOR_NAMES``; ``None`` means all six.
        train_size: number of training scenes.
        val_size: number of validation scenes.
        test_size: number of test scenes.
        noise: fraction of pixels set to black or white, in [0, 1).

    Returns:
        The three splits, with one classification task per selected factor.

    Raises:
        ValueError: on a path, an unknown task, or an option out of range.
    """
    if path is not None:
        raise ValueError(
            f"{NAME}: the dataset is procedural (rendered on the fly) and takes no path; "
            f"got path={path!r}. Remove data.path."
        )
    sizes = {"train_size": train_size, "val_size": val_size, "test_size": test_size}
    for option, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise ValueError(
                f"{NAME}: {option} must be an integer in 1..{NUM_COMBINATIONS}, got {value!r}."
            )
    if sum(sizes.values()) > NUM_COMBINATIONS:
        raise ValueError(
            f"{NAME}: train_size + val_size + test_size = {sum(sizes.values())} exceeds the "
            f"{NUM_COMBINATIONS} factor combinations; lower the sizes."
        )
    if isinstance(noise, bool) or not isinstance(noise, Real) or not 0 <= noise < 1:
        raise ValueError(f"{NAME}: noise must be a fraction of pixels in [0, 1), got {noise!r}.")
    selected = select_tasks(TASKS, tasks, NAME)
    test, val, train = split_indices(
        NUM_COMBINATIONS, [int(test_size), int(val_size), int(train_size)], SPLIT_SEED
    )
    options = {"noise": float(noise), "seed": seed}
    return TaskData(
        name=NAME,
        tasks=selected,
        train=ShapesDataset(train, selected, fresh_noise=True, **options),
        val=ShapesDataset(val, selected, **options),
        test=ShapesDataset(test, selected, **options),
        factor_names=FACTOR_NAMES,
    )


DATASETS.register(NAME)(
    DatasetInfo(
        name=NAME,
        loader=load_shapes,
        summary=(
            "Procedural 3D-Shapes-like scenes (64×64 RGB): floor, wall and a shaded object, "
            "rendered on demand from 480,000 factor combinations; no download."
        ),
        tasks="any of the six factors (classification)",
        factors=FACTOR_NAMES,
        needs_path=False,
        options={
            "train_size": "training scenes (default 20000)",
            "val_size": "validation scenes (default 2000)",
            "test_size": "test scenes (default 5000)",
            "noise": "fraction of pixels set to black or white, in [0, 1) (default 0)",
        },
    )
)
