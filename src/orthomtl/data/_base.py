"""The data contract every dataset follows: a ``TaskData`` of three ``TaskDataset`` splits.

A ``TaskDataset`` is fetched a batch at a time through ``__getitems__`` (PyTorch's batched fetch),
so augmentations such as rotation run vectorised over the batch. Random augmentation is a pure
function of ``(seed, epoch, index)``: an index gets a fresh draw every epoch, and a resumed or
distributed run sees exactly the draws an uninterrupted single-process run would.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from orthomtl.tasks import Task


@dataclass
class Batch:
    """Inputs ``x`` (B, C, H, W) or (B, F), labels per task, dataset indices, and, where the dataset
    knows them, the ground-truth generative factors (B, n_factors) for evaluation only.

    In multi-source data (each task has its own samples, as in the dual encoder), ``source`` (B,)
    holds the index of the task each row belongs to, and the other tasks' labels of that row are
    missing (``-1`` / NaN)."""

    x: Tensor
    targets: dict[str, Tensor]
    index: Tensor
    factors: Tensor | None = None
    source: Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]


class TaskDataset(Dataset[Batch]):
    """A split. Subclasses implement ``__len__`` and ``__getitems__``."""

    tasks: tuple[Task, ...]
    input_shape: tuple[int, ...]
    epoch: int = 0
    sources: np.ndarray | None = None
    """Multi-source data: each sample's source (the index of its task), (N,) int64; else None."""

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Batch:
        return self.__getitems__([index])

    def set_epoch(self, epoch: int) -> None:
        """Called by the engine before each epoch; draws depend on ``(seed, epoch, index)``."""
        self.epoch = epoch

    def labels(self, name: str) -> np.ndarray:
        """Every sample's label of task ``name``, (N,), in sample order.

        This default fetches the whole split, 1024 samples at a time (rendering and augmenting each
        one; labels that an augmentation draws are the current epoch's). Subclasses holding their
        labels override it with a cheap read.

        Raises:
            KeyError: if ``name`` is not a task of the split.
        """
        if name not in (names := [task.name for task in self.tasks]):
            raise KeyError(f"No task {name!r}; the split's tasks are {names}.")
        n, step = len(self), 1024
        batches = [self.__getitems__(range(a, min(a + step, n))) for a in range(0, n, step)]
        return np.concatenate([batch.targets[name].numpy() for batch in batches])


def validate_arrays(
    name: str, x: np.ndarray, targets: Mapping[str, np.ndarray], tasks: Sequence[Task]
) -> None:
    """Check inputs and labels at the public boundary; raise ``ValueError`` naming the problem and
    fix.
    """
    if x.shape[0] == 0:
        raise ValueError(
            f"{name}: the dataset is empty (0 samples). Check the file or the split sizes."
        )
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{name}: inputs must be numeric, got dtype {x.dtype}.")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).reshape(x.shape[0], -1).any(axis=1).sum())
        raise ValueError(
            f"{name}: inputs contain NaN or inf in {bad} of {x.shape[0]} samples. "
            "Clean or drop those samples before training."
        )
    names = {task.name for task in tasks}
    if missing := names - set(targets):
        raise ValueError(f"{name}: no labels for tasks {sorted(missing)}; got {sorted(targets)}.")
    for task in tasks:
        y = np.asarray(targets[task.name])
        if y.shape != (x.shape[0],):
            raise ValueError(
                f"{name}: labels of task {task.name!r} have shape {y.shape}, "
                f"expected ({x.shape[0]},)."
            )
        if task.kind == "classification":
            assert task.num_classes is not None
            if not np.issubdtype(y.dtype, np.integer):
                raise ValueError(
                    f"{name}: class labels of {task.name!r} must be integers, got {y.dtype}."
                )
            bad = (y < -1) | (y >= task.num_classes)
            if bad.any():
                raise ValueError(
                    f"{name}: task {task.name!r} has {int(bad.sum())} labels out of range "
                    f"(e.g. {int(y[bad][0])}); expected 0..{task.num_classes - 1}, "
                    "or -1 for missing."
                )
        elif np.isinf(y).any():
            raise ValueError(
                f"{name}: task {task.name!r} has inf labels; use NaN to mark a missing label."
            )


BatchTransform = Callable[[Tensor, np.ndarray, int], tuple[Tensor, dict[str, Tensor]]]
"""(x, indices, epoch) -> (new x, extra targets): a vectorised augmentation of one batch."""


class ArrayDataset(TaskDataset):
    """A split held in memory as arrays, with an optional vectorised batch transform.

    A batch is gathered from the stored inputs, converted to float32 (multiplied by ``scale`` when
    one is given), and only then passed to the transform, which therefore always sees float32.

    Args:
        x: inputs (N, ...). Numeric; float inputs must be finite.
        targets: labels (N,) per task name; tasks whose labels the transform creates (e.g. a
            rotation angle) may be missing.
        tasks: the tasks of the split.
        factors: ground-truth factors (N, n_factors), for evaluation only.
        transform: a vectorised augmentation of each batch, see ``BatchTransform``.
        name: the split's name, used in error messages.
        source: multi-source data only: each sample's source, an integer in
            ``[0, len(tasks))`` naming the task it was drawn for (``Batch.source``).
        scale: ``None`` stores ``x`` as float32. A number keeps ``x`` in its own dtype, e.g. the
            uint8 pixels of an image file (4 times less memory), and each batch becomes
            ``x[index].float() * scale``, e.g. ``scale=1/255`` for pixels in ``[0, 1]``.

    Raises:
        ValueError: on invalid inputs or labels (see ``validate_arrays``), or a ``scale`` that is
            not a finite positive number.
    """

    def __init__(
        self,
        x: np.ndarray | Tensor,
        targets: Mapping[str, np.ndarray],
        tasks: Sequence[Task],
        factors: np.ndarray | None = None,
        transform: BatchTransform | None = None,
        name: str = "dataset",
        scale: float | None = None,
        source: np.ndarray | None = None,
    ) -> None:
        number = isinstance(scale, Real) and not isinstance(scale, bool)
        if scale is not None and not (number and 0 < scale < math.inf):
            raise ValueError(f"{name}: scale must be a finite positive number, got {scale!r}.")
        x_np = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
        stored = {
            task.name: np.asarray(targets[task.name]) for task in tasks if task.name in targets
        }
        extra = [task for task in tasks if task.name not in targets]
        if transform is None or not extra:
            validate_arrays(name, x_np, stored, tasks)
        else:  # labels created by the transform (e.g. the rotation angle) are checked there
            validate_arrays(name, x_np, stored, [t for t in tasks if t.name in stored])
        self.scale = None if scale is None else float(scale)
        self.x = torch.as_tensor(x_np, dtype=torch.float32 if scale is None else None)
        self.targets = {
            k: _label_tensor(v, t) for t in tasks if (k := t.name) in stored for v in [stored[k]]
        }
        self.factors = None if factors is None else torch.as_tensor(np.asarray(factors))
        self.tasks = tuple(tasks)
        self.input_shape = tuple(self.x.shape[1:])
        self.transform = transform
        self.sources = None if source is None else _check_sources(source, len(x_np), tasks, name)

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        idx = np.asarray(indices, dtype=np.int64)
        index = torch.from_numpy(idx)
        x = self.x[index]
        if self.scale is not None:
            x = x.float().mul_(self.scale)
        targets = {k: v[index] for k, v in self.targets.items()}
        if self.transform is not None:
            x, extra = self.transform(x, idx, self.epoch)
            targets.update(extra)
        factors = None if self.factors is None else self.factors[index]
        source = None if self.sources is None else torch.from_numpy(self.sources[idx])
        return Batch(x=x, targets=targets, index=index, factors=factors, source=source)

    def labels(self, name: str) -> np.ndarray:
        """The stored labels of ``name``; those the transform draws take the default's pass."""
        stored = self.targets.get(name)
        return super().labels(name) if stored is None else stored.numpy().copy()


def _check_sources(source: np.ndarray, rows: int, tasks: Sequence[Task], name: str) -> np.ndarray:
    values = np.asarray(source)
    if values.shape != (rows,) or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(
            f"{name}: source must hold one integer per sample, shape ({rows},); got "
            f"{values.dtype} {values.shape}."
        )
    if values.size and (values.min() < 0 or values.max() >= len(tasks)):
        raise ValueError(
            f"{name}: source values must index the {len(tasks)} tasks (0..{len(tasks) - 1}); got "
            f"{values.min()}..{values.max()}."
        )
    return values.astype(np.int64)


def _label_tensor(values: np.ndarray, task: Task) -> Tensor:
    if task.kind == "classification":
        return torch.as_tensor(values.astype(np.int64))
    return torch.as_tensor(values.astype(np.float32))


@dataclass
class TaskData:
    """A dataset's three splits, its task specs, and the names of its ground-truth factors."""

    name: str
    tasks: list[Task]
    train: TaskDataset
    val: TaskDataset
    test: TaskDataset
    factor_names: tuple[str, ...] = ()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.train.input_shape

    def task(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(f"No task {name!r}; tasks are {[t.name for t in self.tasks]}.")


@dataclass(frozen=True)
class DatasetInfo:
    """What ``orthomtl datasets`` shows, and how to build the data.

    ``loader(seed=..., path=..., tasks=..., **options) -> TaskData``; ``tasks`` selects task names
    (for factor datasets, any factor can be a task) and ``None`` means the defaults.
    """

    name: str
    loader: Callable[..., TaskData]
    summary: str
    tasks: str
    factors: tuple[str, ...] = ()
    needs_path: bool = False
    source: str = ""
    options: dict[str, str] = field(default_factory=dict)


def split_indices(n: int, sizes: Sequence[int], seed: int) -> list[np.ndarray]:
    """A seeded permutation of ``range(n)`` cut into consecutive parts of the given sizes."""
    if sum(sizes) > n:
        raise ValueError(
            f"Split sizes {list(sizes)} need {sum(sizes)} samples; only {n} available."
        )
    order = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([0, *sizes])
    return [order[bounds[i] : bounds[i + 1]] for i in range(len(sizes))]


def select_tasks(
    available: Sequence[Task], names: Sequence[str] | None, dataset: str
) -> list[Task]:
    """The tasks named in ``names`` (all of ``available`` when ``None``), with a clear error on
    typos.
    """
    if names is None:
        return list(available)
    by_name = {task.name: task for task in available}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(
            f"Dataset {dataset!r} has no task(s) {unknown}. Available: {list(by_name)}."
        )
    if not names:
        raise ValueError(f"Dataset {dataset!r}: data.tasks is empty; name at least one task.")
    return [by_name[n] for n in names]
