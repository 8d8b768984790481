"""The linear model of a Domain Expansion latent that composition works on, validated: the mean
μ, the orthonormal task axes V and each task's columns of them, one linear readout per task, and
the class tasks' centres in their coefficients (arXiv:2601.20069).

Inputs may be numpy arrays or torch tensors; everything is float64 numpy.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from orthomtl.metrics.functional._checks import (
    Array,
    as_array,
    as_matrix,
    check_tasks,
    require_finite,
)
from orthomtl.tasks import Task, wrap_angle

Readout = tuple[Array, Array]

# Orthonormality tolerance of the basis, loose enough for a float32 basis.
_ORTHONORMAL_ATOL = 1e-4


@dataclass(frozen=True)
class LatentModel:
    """A validated model of the latent: μ (D,), the orthonormal basis V (D, M), per task its
    columns, its readout (W_m, b_m), and for class tasks its class centres (K, a_m) in its
    coefficients (empty when not given)."""

    mean: np.ndarray
    basis: np.ndarray
    tasks: tuple[Task, ...]
    axes: tuple[tuple[int, ...], ...]
    readouts: tuple[tuple[np.ndarray, np.ndarray], ...]
    centres: Mapping[str, np.ndarray]

    def task_basis(self, m: int) -> np.ndarray:
        """V_m (D, a_m), task m's axes."""
        return self.basis[:, list(self.axes[m])]

    def decode(self, f: np.ndarray, m: int) -> np.ndarray:
        """Task m's readout prediction for latents f (P, D): class index, value or angle."""
        weight, bias = self.readouts[m]
        out = f @ weight.T + bias
        kind = self.tasks[m].kind
        if kind == "classification":
            return out.argmax(axis=1)
        return wrap_angle(out[:, 0]) if kind == "angle" else out[:, 0]


def _check_axes(
    axes: Sequence[Sequence[int]] | None, tasks: Sequence[Task], columns: int
) -> tuple[tuple[int, ...], ...]:
    if axes is None:
        if columns != len(tasks):
            raise ValueError(
                f"The basis has {columns} columns for {len(tasks)} tasks, so pass axes: per task "
                "its columns (e.g. orthomtl.pooling.task_axes(tasks, class_axes))."
            )
        return tuple((m,) for m in range(columns))
    groups = tuple(tuple(int(c) for c in group) for group in axes)
    used = sorted(c for group in groups for c in group)
    if len(groups) != len(tasks) or any(not g for g in groups) or used != list(range(columns)):
        raise ValueError(
            f"axes {groups} must give each of the {len(tasks)} tasks a non-empty group of the "
            f"{columns} basis columns, each column used once."
        )
    return groups


def _check_centres(
    centres: Mapping[str, Array] | None,
    tasks: Sequence[Task],
    axes: Sequence[tuple[int, ...]],
    needed: bool,
) -> dict[str, np.ndarray]:
    checked: dict[str, np.ndarray] = {}
    for task, columns in zip(tasks, axes, strict=True):
        if task.kind != "classification":
            continue
        if centres is None or task.name not in centres:
            if needed:
                raise ValueError(
                    f"class_target='centre' needs the class centres of task {task.name!r} in its "
                    "coefficients (centres={name: (K, a) array}, e.g. from class_centres on the "
                    "training latent), or use class_target='swap'."
                )
            continue
        c = as_array(centres[task.name])
        if c.shape != (task.num_classes, len(columns)):
            raise ValueError(
                f"centres[{task.name!r}] must have shape {(task.num_classes, len(columns))} "
                f"(classes, the task's axes), got {c.shape}."
            )
        require_finite(c, f"centres[{task.name!r}]")
        checked[task.name] = c
    return checked


def latent_model(
    mean: Array,
    basis: Array,
    readouts: Sequence[Readout],
    tasks: Sequence[Task],
    axes: Sequence[Sequence[int]] | None = None,
    centres: Mapping[str, Array] | None = None,
    *,
    need_centres: bool = False,
) -> LatentModel:
    """Validate μ (D,), an orthonormal basis V (D, M), the task axes (one column per task when
    ``None``), one linear readout per task, and the class centres (required with
    ``need_centres``)."""
    check_tasks(tasks)
    mu = as_array(mean)
    if mu.ndim != 1:
        raise ValueError(f"mean must have shape (D,), got {mu.shape}.")
    require_finite(mu, "mean")
    dim, m = mu.shape[0], len(tasks)
    v = as_matrix(basis, "basis")
    if v.shape[0] != dim or v.shape[1] < m:
        raise ValueError(
            f"basis must have shape (D, M) with D = {dim} and M >= {m} (at least one column per "
            f"task), got {v.shape}."
        )
    error = float(np.abs(v.T @ v - np.eye(v.shape[1])).max())
    if error > _ORTHONORMAL_ATOL:
        raise ValueError(f"basis columns must be orthonormal; max |VᵀV − I| = {error:.3g}.")
    if len(readouts) != m:
        raise ValueError(f"Need one readout per task ({m}), got {len(readouts)}.")
    checked = []
    for (weight, bias), task in zip(readouts, tasks, strict=True):
        out = task.num_classes if task.kind == "classification" else 1
        w, b = as_array(weight), as_array(bias)
        if w.shape != (out, dim) or b.shape != (out,):
            raise ValueError(
                f"Readout of task {task.name!r} ({task.kind}) must have weight {(out, dim)} and "
                f"bias {(out,)}, got {w.shape} and {b.shape}."
            )
        require_finite(w, f"readout weight of task {task.name!r}")
        require_finite(b, f"readout bias of task {task.name!r}")
        checked.append((w, b))
    groups = _check_axes(axes, tasks, v.shape[1])
    checked_centres = _check_centres(centres, tasks, groups, need_centres)
    return LatentModel(mu, v, tuple(tasks), groups, tuple(checked), checked_centres)
