"""New classification tasks on an existing split, from label arrays in the split's sample order.

Detaux's MTL stage trains on the principal task and the auxiliary labels found by clustering:
``WithLabels`` serves a split with those labels added, and ``with_labels`` wraps the three splits
of a ``TaskData``. The images, augmentations and labels of the base split are unchanged; a batch
holds the targets of the listed tasks only, in their order.
"""

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import torch

from orthomtl.data._base import Batch, TaskData, TaskDataset
from orthomtl.tasks import Task

SPLIT_NAMES = ("train", "val", "test")


class WithLabels(TaskDataset):
    """A split with classification labels added for new tasks.

    A batch is the base's batch with its targets replaced by those of ``tasks``: a base task's
    labels come from the base, a new task's from ``labels``, gathered by the batch's ``index`` (the
    base's sample indices). So the wrapper also works around a split whose batches hold other
    rows than those asked for, such as a ``PairedDataset``.

    Args:
        base: the split.
        labels: (N,) integer labels in ``0..num_classes-1`` per new task, aligned with the base's
            samples (N = ``len(base)``).
        tasks: every task of the new split: tasks of the base to keep (same spec) and the new
            classification tasks, in the order batches list them. Base tasks not listed are left
            out of the batches.
        name: the split's name, used in error messages.

    Raises:
        ValueError: on a task that is neither a base task nor labelled, a label array for a task
            not listed, a new task that is not a classification, labels of the wrong length, type
            or range, or (multi-source data) a task list that does not start with the base's tasks.
    """

    def __init__(
        self,
        base: TaskDataset,
        labels: Mapping[str, np.ndarray],
        tasks: Sequence[Task],
        *,
        name: str = "dataset",
    ) -> None:
        known = {task.name: task for task in base.tasks}
        listed = [task.name for task in tasks]
        if len(set(listed)) < len(listed):
            raise ValueError(f"{name}: task names must be unique, got {listed}.")
        if stray := sorted(set(labels) - set(listed)):
            raise ValueError(
                f"{name}: labels given for {stray}, which are not among the tasks {listed}."
            )
        self._labels: dict[str, torch.Tensor] = {}
        for task in tasks:
            if task.name in labels:
                self._labels[task.name] = _check_labels(labels[task.name], task, len(base), name)
            elif known.get(task.name) != task:
                raise ValueError(
                    f"{name}: task {task} is not a task of the split (its tasks are "
                    f"{list(base.tasks)}) and has no labels; pass labels[{task.name!r}]."
                )
        if base.sources is not None and tuple(tasks[: len(base.tasks)]) != base.tasks:
            raise ValueError(
                f"{name}: the split is multi-source, and its sources index its tasks; list "
                f"{[t.name for t in base.tasks]} first, in that order, then the new tasks."
            )
        self.base = base
        self.tasks = tuple(tasks)
        self.input_shape, self.sources, self.epoch = base.input_shape, base.sources, base.epoch

    def __len__(self) -> int:
        return len(self.base)

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        batch = self.base.__getitems__(indices)
        targets = {
            task.name: self._labels[task.name][batch.index]
            if task.name in self._labels
            else batch.targets[task.name]
            for task in self.tasks
        }
        return replace(batch, targets=targets)

    def set_epoch(self, epoch: int) -> None:
        """Forwarded to the base, whose augmentations depend on the epoch."""
        self.epoch = epoch
        self.base.set_epoch(epoch)

    def labels(self, name: str) -> np.ndarray:
        """An added task's labels, or a kept base task's (``base.labels``)."""
        if name not in (names := [task.name for task in self.tasks]):
            raise KeyError(f"No task {name!r}; the split's tasks are {names}.")
        stored = self._labels.get(name)
        return self.base.labels(name) if stored is None else stored.numpy().copy()


def _check_labels(values: np.ndarray, task: Task, size: int, name: str) -> torch.Tensor:
    if task.kind != "classification":
        raise ValueError(
            f"{name}: added tasks must be classifications; {task.name!r} is a {task.kind} task."
        )
    assert task.num_classes is not None
    y = np.asarray(values)
    if y.shape != (size,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"{name}: labels of {task.name!r} must be {size} integers, one per sample of the "
            f"split; got {y.dtype} {y.shape}."
        )
    if (bad := (y < 0) | (y >= task.num_classes)).any():
        raise ValueError(
            f"{name}: {int(bad.sum())} labels of {task.name!r} are out of range (e.g. "
            f"{int(y[bad][0])}); expected 0..{task.num_classes - 1}."
        )
    return torch.from_numpy(y.astype(np.int64))


def with_labels(
    data: TaskData,
    labels: Mapping[str, Mapping[str, np.ndarray]],
    new_tasks: Sequence[Task],
) -> TaskData:
    """``data`` with the classification tasks ``new_tasks`` added to every split.

    Args:
        data: the dataset; its tasks are kept, and the new ones come after them.
        labels: per split (``"train"``, ``"val"``, ``"test"``), one label array per new task,
            aligned with that split's samples.
        new_tasks: the added tasks, with names not yet used by ``data``.

    Returns:
        A ``TaskData`` of ``WithLabels`` splits, with the same name and factor names.

    Raises:
        ValueError: on missing or extra splits or tasks, or invalid labels (see ``WithLabels``).
    """
    if sorted(labels) != sorted(SPLIT_NAMES):
        raise ValueError(
            f"{data.name}: labels must be given for the splits {list(SPLIT_NAMES)}, got "
            f"{list(labels)}."
        )
    if taken := sorted({t.name for t in new_tasks} & {t.name for t in data.tasks}):
        raise ValueError(f"{data.name}: the new tasks {taken} are already tasks of the dataset.")
    tasks = [*data.tasks, *new_tasks]
    new = [task.name for task in new_tasks]
    splits = {}
    for split in SPLIT_NAMES:
        if missing := sorted(set(new) - set(labels[split])):
            raise ValueError(f"{data.name} {split}: no labels for the new tasks {missing}.")
        splits[split] = WithLabels(
            getattr(data, split), labels[split], tasks, name=f"{data.name} {split}"
        )
    return TaskData(data.name, tasks, **splits, factor_names=data.factor_names)
