"""Concept composition in a Domain Expansion latent (arXiv:2601.20069): c_p ⊕ (c_q ⊖ c_p).

Take sample p's latent and move the chosen tasks' concepts to those of sample q, through the
per-task linear readouts (the paper's decoders). Each task m owns the columns A_m of the orthonormal
basis V, V_m = V[:, A_m], and its readout is Dec_m(f) = W_m f + b_m. Its target is:

* regression: Dec_m(f_p) + (y_q − y_p);
* angle (a scalar readout in radians): Dec_m(f_p) + wrap(y_q − y_p), wrapped to [−π, π);
* class, ``class_target="centre"`` (the default, ours): q's class centre ĉ_{y_q} in the task's
  coefficients, i.e. c*_m = ĉ_{y_q};
* class, ``class_target="swap"``: the logits Dec_m(f_p) with the entries of classes y_p and y_q
  swapped (the paper swaps the softmax mass of the two classes, which on logits is the same swap).

Two solves reach the targets:

* ``solve="per-task"`` (the default, ours): each composed task moves along its own axes only,
  starting from f_p: f* = f_p + Σ_m V_m Δ_m. A class task moved to its centre takes
  Δ_m = ĉ_{y_q} − c_{p,m}; with the logit swap, its readout is inverted on its own axes. Then
  the regression and angle tasks, composed or not (a task not composed targets its own decoded
  value Dec_m(f_p)), are solved through their readouts together, from the latent the class moves
  left, so that a readout reading another task's axes is accounted for. Each solve inverts the
  rows W_m V_S / ‖W_m‖₂ (V_S the axes of its tasks S) by a pseudo-inverse truncated at ``rcond``,
  so neither a readout's norm nor a direction the readouts hardly read is amplified. A class task
  not composed keeps its coefficients. Every move lies in the task span, so f_p's part off the
  axes is kept and composing no concept returns f_p.
* ``solve="stacked"`` (the paper's and the authors'): f* solves [W_1; …; W_M] f* = targets − b
  in the least-squares, minimum-norm sense (untruncated pseudo-inverse), then is re-projected on
  the task span: f* ← μ + Σ_m ⟨f* − μ, v_m⟩ v_m. A task not composed targets Dec_m(f_p).

Inputs may be numpy arrays or torch tensors; everything is computed in float64 numpy.
"""

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from orthomtl.metrics.functional._checks import Array, as_array, require_finite, task_labels
from orthomtl.metrics.functional._latent_model import LatentModel, Readout, latent_model
from orthomtl.tasks import Task, wrap_angle

Solve = Literal["per-task", "stacked"]
ClassTarget = Literal["centre", "swap"]
SOLVES = ("per-task", "stacked")
CLASS_TARGETS = ("centre", "swap")


def check_composition_options(solve: str, class_target: str, rcond: float) -> None:
    if solve not in SOLVES:
        raise ValueError(f"solve must be one of {SOLVES}, got {solve!r}.")
    if class_target not in CLASS_TARGETS:
        raise ValueError(f"class_target must be one of {CLASS_TARGETS}, got {class_target!r}.")
    if not 0.0 <= rcond < 1.0:
        raise ValueError(f"rcond must be in [0, 1), got {rcond}.")


def truncated_pinv(a: np.ndarray, floor: float) -> np.ndarray:
    """The pseudo-inverse of ``a`` with singular values ≤ ``floor`` treated as 0."""
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    inverse = np.divide(1.0, s, out=np.zeros_like(s), where=s > floor)
    return (vt.T * inverse) @ u.T


def _residual(
    model: LatentModel,
    m: int,
    f_p: np.ndarray,
    y_p: Mapping[str, np.ndarray],
    y_q: Mapping[str, np.ndarray],
) -> np.ndarray:
    """target_m − Dec_m(f_p), (P, out_m), for a regression, angle or logit-swapped class task."""
    weight, bias = model.readouts[m]
    task = model.tasks[m]
    y_p, y_q = y_p[task.name], y_q[task.name]
    if task.kind == "classification":
        decoded = f_p @ weight.T + bias
        rows = np.arange(decoded.shape[0])
        swapped = decoded.copy()
        swapped[rows, y_p], swapped[rows, y_q] = decoded[rows, y_q], decoded[rows, y_p]
        return swapped - decoded
    step = y_q - y_p
    return (wrap_angle(step) if task.kind == "angle" else step)[:, None]


def _solve_on_axes(
    model: LatentModel,
    tasks: list[int],
    composed: np.ndarray,
    targets: list[np.ndarray],
    rcond: float,
) -> np.ndarray:
    """The step along the axes of ``tasks`` that brings their readouts from ``composed`` to
    ``targets``, in the least-squares sense: rows W_m V_S / ‖W_m‖₂, truncated pseudo-inverse."""
    span = np.concatenate([model.task_basis(m) for m in tasks], axis=1)
    rows, residuals = [], []
    for m, target in zip(tasks, targets, strict=True):
        weight, bias = model.readouts[m]
        scale = 1.0 / max(float(np.linalg.norm(weight, 2)), np.finfo(np.float64).tiny)
        rows.append(scale * weight @ span)
        residuals.append(scale * (target - (composed @ weight.T + bias)))
    inverse = truncated_pinv(np.concatenate(rows), rcond)
    return (np.concatenate(residuals, axis=1) @ inverse.T) @ span.T


def _per_task(
    model: LatentModel,
    f_p: np.ndarray,
    y_p: Mapping[str, np.ndarray],
    y_q: Mapping[str, np.ndarray],
    chosen: set[str],
    class_target: ClassTarget,
    rcond: float,
) -> np.ndarray:
    composed = f_p.copy()
    values = []
    for m, task in enumerate(model.tasks):
        weight, bias = model.readouts[m]
        if task.kind != "classification":
            values.append(m)
        elif task.name in chosen and class_target == "centre":
            v_m = model.task_basis(m)
            step = model.centres[task.name][y_q[task.name]] - (f_p - model.mean) @ v_m
            composed += step @ v_m.T
        elif task.name in chosen:
            target = f_p @ weight.T + bias + _residual(model, m, f_p, y_p, y_q)
            composed += _solve_on_axes(model, [m], f_p, [target], rcond)
    if not values:
        return composed
    targets = []
    for m in values:
        weight, bias = model.readouts[m]
        target = f_p @ weight.T + bias
        if model.tasks[m].name in chosen:
            target = target + _residual(model, m, f_p, y_p, y_q)
        targets.append(target)
    return composed + _solve_on_axes(model, values, composed, targets, rcond)


def _stacked(
    model: LatentModel,
    f_p: np.ndarray,
    y_p: Mapping[str, np.ndarray],
    y_q: Mapping[str, np.ndarray],
    chosen: set[str],
    class_target: ClassTarget,
) -> np.ndarray:
    targets = []
    for m, task in enumerate(model.tasks):
        weight, bias = model.readouts[m]
        decoded = f_p @ weight.T + bias
        if task.name not in chosen:
            targets.append(decoded)
        elif task.kind == "classification" and class_target == "centre":
            v_m = model.task_basis(m)
            step = model.centres[task.name][y_q[task.name]] - (f_p - model.mean) @ v_m
            targets.append(decoded + step @ (weight @ v_m).T)
        else:
            targets.append(decoded + _residual(model, m, f_p, y_p, y_q))
    weight = np.concatenate([w for w, _ in model.readouts])
    bias = np.concatenate([b for _, b in model.readouts])
    solution = (np.concatenate(targets, axis=1) - bias) @ np.linalg.pinv(weight).T
    return model.mean + ((solution - model.mean) @ model.basis) @ model.basis.T


def compose_checked(
    model: LatentModel,
    f_p: np.ndarray,
    y_p: Mapping[str, np.ndarray],
    y_q: Mapping[str, np.ndarray],
    concepts: Sequence[str],
    solve: Solve,
    class_target: ClassTarget,
    rcond: float,
) -> np.ndarray:
    """``compose`` on validated inputs: f_p (P, D), labels (P,) of the composed tasks."""
    chosen = set(concepts)
    if solve == "stacked":
        return _stacked(model, f_p, y_p, y_q, chosen, class_target)
    return _per_task(model, f_p, y_p, y_q, chosen, class_target, rcond)


def _labels(
    given: Mapping[str, Array | float], tasks: Sequence[Task], rows: int, side: str
) -> dict[str, np.ndarray]:
    vectors = {name: np.atleast_1d(as_array(y)) for name, y in given.items()}
    labels = task_labels(vectors, tasks, rows)
    for task in tasks:
        y = labels[task.name]
        if (y < 0 if task.kind == "classification" else np.isnan(y)).any():
            raise ValueError(f"compose needs every label; {side}[{task.name!r}] has a missing one.")
    return labels


def compose(
    f_p: Array,
    y_p: Mapping[str, Array | float],
    y_q: Mapping[str, Array | float],
    mean: Array,
    basis: Array,
    readouts: Sequence[Readout],
    tasks: Sequence[Task],
    *,
    axes: Sequence[Sequence[int]] | None = None,
    centres: Mapping[str, Array] | None = None,
    concepts: Sequence[str] | None = None,
    solve: Solve = "per-task",
    class_target: ClassTarget = "centre",
    rcond: float = 1e-2,
) -> np.ndarray:
    """The composed latent f* = c_p ⊕ (c_q ⊖ c_p) of Domain Expansion (arXiv:2601.20069).

    The targets and the two solves are described in the module docstring.

    Args:
        f_p: (P, D) latents of the source samples, or one latent (D,).
        y_p: per composed task, the source samples' labels (P,) (a scalar for one latent); a class
            task moved to its centre does not need them.
        y_q: per composed task, the target labels, likewise; no label may be missing.
        mean: (D,) the pooling's mean μ.
        basis: (D, M) the orthonormal task axes v_m, every task's columns (M ≥ the tasks).
        readouts: per task, ``(W_m, b_m)`` with W_m (out_m, D) and b_m (out_m,); out_m is
            num_classes for a class task and 1 otherwise (e.g. an ``nn.Linear``'s weight and bias).
        tasks: the tasks, in the order of the readouts.
        axes: per task its columns of ``basis``; column m for task m when ``None`` (then M must be
            the number of tasks).
        centres: per class task, its class centres (K, a_m) in its coefficients ⟨f − μ, V_m⟩,
            needed by ``class_target="centre"`` (see ``class_centres``).
        concepts: the task names to compose (all when ``None``); the others keep f_p's.
        solve: ``"per-task"`` or ``"stacked"``.
        class_target: ``"centre"`` or ``"swap"``.
        rcond: the per-task solve's truncation of the norm-scaled readouts' singular values.

    Returns:
        f*, (P, D), or (D,) for one latent.
    """
    check_composition_options(solve, class_target, rcond)
    names = [t.name for t in tasks]
    chosen = names if concepts is None else list(concepts)
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        raise ValueError(f"concepts {unknown} are not tasks; the tasks are {names}.")
    composed_tasks = [t for t in tasks if t.name in chosen]
    uses_centres = class_target == "centre" and any(
        t.kind == "classification" for t in composed_tasks
    )
    model = latent_model(mean, basis, readouts, tasks, axes, centres, need_centres=uses_centres)
    f = as_array(f_p)
    single = f.ndim == 1
    f = np.atleast_2d(f)
    if f.ndim != 2 or f.shape[1] != model.mean.shape[0]:
        dim = model.mean.shape[0]
        raise ValueError(f"f_p must have shape (P, {dim}) or ({dim},), got {f.shape}.")
    require_finite(f, "f_p")
    needs_source = [
        t for t in composed_tasks if not (t.kind == "classification" and class_target == "centre")
    ]
    source = _labels(y_p, needs_source, f.shape[0], "y_p") if needs_source else {}
    target = _labels(y_q, composed_tasks, f.shape[0], "y_q") if composed_tasks else {}
    composed = compose_checked(model, f, source, target, chosen, solve, class_target, rcond)
    return composed[0] if single else composed
