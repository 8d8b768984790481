"""``shapes``: procedural scenes with the six factors of 3D Shapes, rendered on demand.

The renderer is in ``_shapes_render``; this module turns it into a dataset. A split
holds only combination indices (rows of the 480,000-scene factor grid, in ``3dshapes.h5`` order)
and renders each batch when it is fetched. Any factor can be a classification task.

Optional salt-and-pepper noise (``_augment``) sets a fraction of pixels to black or
white. Like every augmentation it is a pure function of ``(seed, epoch, index)``: the training split
draws fresh noise every epoch, validation and test keep one draw per sample, the same for every
seed. The index that keys the noise is the sample's combination index, which is unique across the
three splits, so validation and test share the fixed stream.
"""

from collections.abc import Sequence
from numbers import Integral

import numpy as np
import torch

from orthomtl.data._augment import SaltAndPepper, check_noise
from orthomtl.data._base import (
    Batch,
    DatasetInfo,
    TaskData,
    TaskDataset,
    select_tasks,
    split_indices,
)
from orthomtl.data._shapes_render import (
    FACTOR_NAMES,
    FACTOR_SIZES,
    IMAGE_SIZE,
    NUM_COMBINATIONS,
    ORIENTATIONS,
    SCALES,
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
SPLITS = ("random", "hue-holdout")
HELD_OUT_HUES: tuple[int, ...] = (1, 3, 5, 7, 9)
"""Hue levels of ``split="hue-holdout"``: a test scene has its floor and wall hues among them."""
VALUES: dict[str, np.ndarray] = {"scale": SCALES, "orientation": ORIENTATIONS}
"""A regression target's value per factor level, in the renderer's units (scale as a factor of
the base size, orientation in radians); a factor not listed is regressed on its level index."""


class ShapesDataset(TaskDataset):
    """One split of ``shapes``: combination indices, rendered (and noised) per batch.

    Args:
        combinations: (N,) indices into the factor grid, ``0..NUM_COMBINATIONS-1``.
        tasks: the factors to predict.
        noise: salt-and-pepper noise, keyed by the combination index; ``None`` for clean images.
    """

    def __init__(
        self,
        combinations: np.ndarray,
        tasks: Sequence[Task],
        *,
        noise: SaltAndPepper | None = None,
    ) -> None:
        self.combinations = np.asarray(combinations, dtype=np.int64)
        self.factors = np.stack(np.unravel_index(self.combinations, FACTOR_SIZES), axis=1)
        self.tasks = tuple(tasks)
        self.input_shape = (3, IMAGE_SIZE, IMAGE_SIZE)
        self.noise = noise
        self._columns = {task.name: FACTOR_NAMES.index(task.name) for task in self.tasks}
        self._values = {
            task.name: VALUES.get(task.name, np.arange(FACTOR_SIZES[self._columns[task.name]]))
            for task in self.tasks
            if task.kind == "regression"
        }

    def __len__(self) -> int:
        return len(self.combinations)

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        idx = np.asarray(indices, dtype=np.int64)
        factors = self.factors[idx]
        x = torch.from_numpy(render(factors))
        if self.noise is not None:
            x, _ = self.noise(x, self.combinations[idx], self.epoch)
        factor_tensor = torch.from_numpy(factors)
        targets = {
            name: torch.from_numpy(self._values[name][factors[:, col]].astype(np.float32))
            if name in self._values
            else factor_tensor[:, col].clone()
            for name, col in self._columns.items()
        }
        return Batch(
            x=x,
            targets=targets,
            index=torch.from_numpy(idx),
            factors=factor_tensor,
        )

    def labels(self, name: str) -> np.ndarray:
        """Every sample's label of task ``name``, read from the factor grid (nothing rendered)."""
        if name not in self._columns:
            raise KeyError(f"No task {name!r}; the split's tasks are {list(self._columns)}.")
        levels = self.factors[:, self._columns[name]]
        return (
            self._values[name][levels].astype(np.float32) if name in self._values else levels.copy()
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
    regression: list[str] | None = None,
    split: str = "random",
) -> TaskData:
    """Build the ``shapes`` splits: disjoint samples of the 480,000 factor combinations.

    The test split is drawn first and the validation split next, so changing ``train_size`` keeps
    them the same. The splits do not depend on ``seed``.

    ``split="hue-holdout"`` is the split of Detaux (section 5.1): the test pool is every
    combination whose floor hue and wall hue are both among ``HELD_OUT_HUES`` (5 of the 10 levels,
    so 25% of the combinations), and training and validation scenes come from the other 75%. Every
    (floor, wall) hue pair is seen in training or in test, never both. We hold out the odd levels,
    a fixed choice (the paper does not say which five).

    Args:
        seed: seeds the training noise (the only randomness that varies between runs).
        path: must be ``None``; the scenes are rendered, not read.
        tasks: factors to predict, from ``FACTOR_NAMES``; ``None`` means all six.
        train_size: number of training scenes.
        val_size: number of validation scenes.
        test_size: number of test scenes.
        noise: fraction of pixels set to black or white, in [0, 1).
        regression: selected factors served as regression tasks instead of classes, with the
            values of ``VALUES`` (e.g. ``["orientation", "scale"]``, as in Domain Expansion's
            ShapeNet objectives).
        split: ``"random"`` (the three splits sampled from all combinations) or
            ``"hue-holdout"`` (see above).

    Returns:
        The three splits, with one task per selected factor: regression for those in
        ``regression``, classification for the others.

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
    if split not in SPLITS:
        raise ValueError(f"{NAME}: split must be one of {list(SPLITS)}, got {split!r}.")
    noise = check_noise(noise, NAME)
    selected = select_tasks(TASKS, tasks, NAME)
    regressed = list(regression or [])
    stray = [name for name in regressed if name not in [t.name for t in selected]]
    if stray:
        raise ValueError(
            f"{NAME}: regression names {stray}, which are not among the selected tasks "
            f"{[t.name for t in selected]}; add them to data.tasks or remove them."
        )
    selected = [Task(t.name, "regression") if t.name in regressed else t for t in selected]
    test, val, train = _draw_splits(split, int(test_size), int(val_size), int(train_size))
    train_noise = SaltAndPepper(noise, seed, fixed=False) if noise > 0 else None
    eval_noise = SaltAndPepper(noise, 0, fixed=True) if noise > 0 else None
    return TaskData(
        name=NAME,
        tasks=selected,
        train=ShapesDataset(train, selected, noise=train_noise),
        val=ShapesDataset(val, selected, noise=eval_noise),
        test=ShapesDataset(test, selected, noise=eval_noise),
        factor_names=FACTOR_NAMES,
    )


def _draw_splits(split: str, test_size: int, val_size: int, train_size: int) -> list[np.ndarray]:
    """The test, validation and training combinations of ``split`` (see ``load_shapes``)."""
    if split == "random":
        return split_indices(NUM_COMBINATIONS, [test_size, val_size, train_size], SPLIT_SEED)
    floor = np.isin(np.arange(FACTOR_SIZES[0]), HELD_OUT_HUES)
    wall = np.isin(np.arange(FACTOR_SIZES[1]), HELD_OUT_HUES)
    # Floor and wall hue are the grid's two leading axes: one block of scenes per hue pair.
    held = np.repeat(np.outer(floor, wall).ravel(), NUM_COMBINATIONS // (floor.size * wall.size))
    test_pool, rest = np.flatnonzero(held), np.flatnonzero(~held)
    where = f"{NAME} (split=hue-holdout, held-out hues {list(HELD_OUT_HUES)})"
    if test_size > len(test_pool):
        raise ValueError(
            f"{where}: test_size = {test_size} exceeds the {len(test_pool)} combinations with "
            "floor and wall hues both held out; lower data.test_size."
        )
    if train_size + val_size > len(rest):
        raise ValueError(
            f"{where}: train_size + val_size = {train_size + val_size} exceeds the {len(rest)} "
            "combinations left for training; lower the sizes."
        )
    (test,) = split_indices(len(test_pool), [test_size], SPLIT_SEED)
    val, train = split_indices(len(rest), [val_size, train_size], SPLIT_SEED)
    return [test_pool[test], rest[val], rest[train]]


DATASETS.register(NAME)(
    DatasetInfo(
        name=NAME,
        loader=load_shapes,
        summary=(
            "Procedural 3D-Shapes-like scenes (64×64 RGB): floor, wall and a shaded object, "
            "rendered on demand from 480,000 factor combinations; no download."
        ),
        tasks="any of the six factors (classification, or regression with data.regression)",
        factors=FACTOR_NAMES,
        needs_path=False,
        options={
            "train_size": "training scenes (default 20000)",
            "val_size": "validation scenes (default 2000)",
            "test_size": "test scenes (default 5000)",
            "noise": "fraction of pixels set to black or white, in [0, 1) (default 0)",
            "regression": "factors served as regression tasks, e.g. [orientation, scale]",
            "split": (
                "random (default), or hue-holdout as in Detaux: test scenes have floor and wall "
                "hues both among the held-out levels 1, 3, 5, 7, 9 (25% of the combinations); "
                "train and val come from the other 75%"
            ),
        },
    )
)
