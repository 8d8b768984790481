"""Input checks shared by the latent metrics (``latent``, ``composition``).

Inputs may be numpy arrays or torch tensors; each check returns a float64 (labels of a class task:
int64) numpy array, or raises ``ValueError`` naming the input. Missing labels are ``-1`` for a class
task and ``NaN`` otherwise.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from orthomtl.tasks import Task

Array = np.ndarray | Tensor


def as_array(x: Array | float) -> np.ndarray:
    """``x`` as a float64 numpy array."""
    if isinstance(x, Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def require_finite(a: np.ndarray, name: str) -> None:
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite; it holds NaN or inf.")


def as_matrix(x: Array, name: str) -> np.ndarray:
    """``x`` as a finite float64 matrix (N, D)."""
    a = as_array(x)
    if a.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got {a.shape}.")
    require_finite(a, name)
    return a


def as_features(x: Array, name: str, rows: int) -> np.ndarray:
    """``x`` as finite float64 features (N, k) with N = ``rows``; a vector (N,) is one column."""
    a = as_array(x)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] == 0:
        raise ValueError(f"{name} must have shape (N,) or (N, k) with k >= 1, got {a.shape}.")
    if a.shape[0] != rows:
        raise ValueError(f"{name} has {a.shape[0]} rows but there are {rows} labels.")
    require_finite(a, name)
    return a


def real_labels(labels: Array, name: str) -> np.ndarray:
    """Regression or angle labels (N,) as float64; NaN marks a missing label."""
    y = as_array(labels)
    if y.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got {y.shape}.")
    if np.isinf(y).any():
        raise ValueError(f"{name} holds inf; mark a missing label with NaN.")
    return y


def class_labels(labels: Array, num_classes: int, name: str) -> np.ndarray:
    """Class labels (N,) as int64 in ``[0, num_classes)``; -1 marks a missing label."""
    y = as_array(labels)
    if y.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got {y.shape}.")
    if not np.all(y == np.round(y)) or np.any((y < -1) | (y >= num_classes)):
        raise ValueError(
            f"{name} must be integers in [0, {num_classes}), or -1 for a missing label."
        )
    return y.astype(np.int64)


def check_num_classes(num_classes: int) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):
        raise ValueError(f"num_classes must be an integer, got {num_classes!r}.")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}.")


def check_tasks(tasks: Sequence[Task]) -> None:
    names = [task.name for task in tasks]
    if not names:
        raise ValueError("Need at least one task.")
    if len(set(names)) != len(names):
        raise ValueError(f"Task names must be unique, got {names}.")


def task_labels(
    labels: Mapping[str, Array], tasks: Sequence[Task], rows: int
) -> dict[str, np.ndarray]:
    """Each task's labels, converted by its kind and checked to have ``rows`` entries."""
    check_tasks(tasks)
    missing = [task.name for task in tasks if task.name not in labels]
    if missing:
        raise ValueError(f"No labels for tasks {missing}; got labels for {sorted(labels)}.")
    result = {}
    for task in tasks:
        name = f"labels[{task.name!r}]"
        if task.kind == "classification":
            assert task.num_classes is not None
            y = class_labels(labels[task.name], task.num_classes, name)
        else:
            y = real_labels(labels[task.name], name)
        if y.shape[0] != rows:
            raise ValueError(f"{name} has {y.shape[0]} entries but the latent has {rows} rows.")
        result[task.name] = y
    return result
