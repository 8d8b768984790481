"""Concept composition in a Domain Expansion latent (arXiv:2601.20069): c_p ⊕ (c_q ⊖ c_p).

Take sample p's latent and move every task's concept to that of sample q, through the per-task
linear readouts (the paper's decoders): the composed latent f* should decode to q's labels and, if
the latent is organised by task axes, lie close to q's own latent. ``compose`` builds f* for given
pairs; ``composition_similarity`` scores it on a test set.

Inputs may be numpy arrays or torch tensors; everything is computed in float64 numpy.
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
    task_labels,
)
from orthomtl.tasks import Task, wrap_angle

Readout = tuple[Array, Array]
_Readouts = list[tuple[np.ndarray, np.ndarray]]

# Orthonormality tolerance of the basis, loose enough for a float32 basis.
_ORTHONORMAL_ATOL = 1e-4


@dataclass(frozen=True)
class CompositionScore:
    """Mean cosine similarity of composed latents f* to the targets' latents f_q.

    Attributes:
        raw: mean cos(f*, f_q), on raw latents, as the paper reports.
        centred: mean cos(f* − μ, f_q − μ), on latents centred at the pooling's mean μ; unlike the
            raw score it is not inflated by a large μ.
    """

    raw: float
    centred: float


def _check_model(
    mean: Array, basis: Array, readouts: Sequence[Readout], tasks: Sequence[Task]
) -> tuple[np.ndarray, np.ndarray, _Readouts]:
    """Validate μ (D,), an orthonormal basis V (D×M), M ≥ the number of tasks (a task may own
    several axes), and one linear readout per task."""
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
    checked: _Readouts = []
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
    return mu, v, checked


def _missing(task: Task, y: np.ndarray) -> np.ndarray:
    return y < 0 if task.kind == "classification" else np.isnan(y)


def _compose(
    f_p: np.ndarray,
    y_p: Mapping[str, np.ndarray],
    y_q: Mapping[str, np.ndarray],
    mu: np.ndarray,
    v: np.ndarray,
    readouts: _Readouts,
    tasks: Sequence[Task],
) -> np.ndarray:
    """``compose`` on validated inputs: f_p (P, D), labels (P,) per task, none missing."""
    targets = []
    for (w, b), task in zip(readouts, tasks, strict=True):
        decoded = f_p @ w.T + b
        yp, yq = y_p[task.name], y_q[task.name]
        if task.kind == "classification":
            rows = np.arange(decoded.shape[0])
            swapped = decoded.copy()
            swapped[rows, yp], swapped[rows, yq] = decoded[rows, yq], decoded[rows, yp]
            targets.append(swapped)
        else:
            step = yq - yp
            if task.kind == "angle":
                step = wrap_angle(step)
            targets.append(decoded + step[:, None])
    weight = np.concatenate([w for w, _ in readouts])
    bias = np.concatenate([b for _, b in readouts])
    solution = (np.concatenate(targets, axis=1) - bias) @ np.linalg.pinv(weight).T
    return mu + ((solution - mu) @ v) @ v.T


def compose(
    f_p: Array,
    y_p: Mapping[str, Array | float],
    y_q: Mapping[str, Array | float],
    mean: Array,
    basis: Array,
    readouts: Sequence[Readout],
    tasks: Sequence[Task],
) -> np.ndarray:
    """The composed latent f* = c_p ⊕ (c_q ⊖ c_p) of Domain Expansion (arXiv:2601.20069).

    For each task m with linear readout Dec_m(f) = W_m f + b_m, the target output of f* is:

    * regression: Dec_m(f_p) + (y_q − y_p);
    * angle (a scalar readout in radians): Dec_m(f_p) + wrap(y_q − y_p), wrapped to [−π, π);
    * class: the logits Dec_m(f_p) with the entries of classes y_p and y_q swapped. This is our
      choice; the paper swaps the softmax mass of the two classes, which on logits is the same swap.

    f* solves the stacked system [W_1; …; W_M] f* = targets − [b_1; …; b_M] in the least-squares,
    minimum-norm sense (pseudo-inverse), and is then re-projected on the task span:
    f* ← μ + Σ_m ⟨f* − μ, v_m⟩ v_m.

    Args:
        f_p: (P, D) latents of the source samples, or one latent (D,).
        y_p: per task name, the source samples' labels (P,) (a scalar for one latent).
        y_q: per task name, the target labels, likewise; no label may be missing.
        mean: (D,) the pooling's mean μ.
        basis: (D, M) the orthonormal task axes v_m, every task's columns (M ≥ the tasks).
        readouts: per task, ``(W_m, b_m)`` with W_m (out_m, D) and b_m (out_m,); out_m is
            num_classes for a class task and 1 otherwise (e.g. an ``nn.Linear``'s weight and bias).
        tasks: the tasks, in the order of the readouts.

    Returns:
        f*, (P, D), or (D,) for one latent.
    """
    mu, v, checked = _check_model(mean, basis, readouts, tasks)
    f = as_array(f_p)
    single = f.ndim == 1
    f = np.atleast_2d(f)
    if f.ndim != 2 or f.shape[1] != mu.shape[0]:
        raise ValueError(
            f"f_p must have shape (P, {mu.shape[0]}) or ({mu.shape[0]},), got {f.shape}."
        )
    require_finite(f, "f_p")
    labels = {}
    for side, given in (("y_p", y_p), ("y_q", y_q)):
        vectors = {name: np.atleast_1d(as_array(y)) for name, y in given.items()}
        converted = task_labels(vectors, tasks, f.shape[0])
        for task in tasks:
            if _missing(task, converted[task.name]).any():
                raise ValueError(
                    f"compose needs every label; {side}[{task.name!r}] has a missing one."
                )
        labels[side] = converted
    composed = _compose(f, labels["y_p"], labels["y_q"], mu, v, checked, tasks)
    return composed[0] if single else composed


def _mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.mean(np.sum(a * b, axis=1) / np.maximum(norms, np.finfo(np.float64).tiny)))


def composition_similarity(
    latent: Array,
    mean: Array,
    basis: Array,
    readouts: Sequence[Readout],
    labels: Mapping[str, Array],
    tasks: Sequence[Task],
    *,
    seed: int = 0,
) -> CompositionScore:
    """Composition similarity of Domain Expansion (arXiv:2601.20069) on a test set.

    The test samples with every label present are permuted by ``numpy.random.default_rng(seed)``
    and split into halves P and Q (one sample left out when their number is odd); P[i] is paired
    with Q[i]. For each pair, f* = ``compose``(f_p, y_p, y_q) and it is compared with f_q by cosine
    similarity, raw (as the paper reports) and centred at μ.

    Args:
        latent: (N, D) test-set latents.
        mean: (D,) the pooling's mean μ.
        basis: (D, M) the orthonormal task axes, every task's columns (M ≥ the tasks).
        readouts: per task, ``(W_m, b_m)`` as in ``compose``.
        labels: per task name, its (N,) labels (-1 or NaN where missing).
        tasks: the tasks, in the order of the readouts.
        seed: seed of the pairing.
    """
    mu, v, checked = _check_model(mean, basis, readouts, tasks)
    f = as_matrix(latent, "latent")
    if f.shape[1] != mu.shape[0]:
        raise ValueError(f"latent has {f.shape[1]} columns but mean has {mu.shape[0]}.")
    ys = task_labels(labels, tasks, f.shape[0])
    incomplete = np.any([_missing(task, ys[task.name]) for task in tasks], axis=0)
    complete = np.flatnonzero(~incomplete)
    if complete.size < 2:
        raise ValueError(
            f"Composition needs at least 2 fully labelled samples to form a pair, got "
            f"{complete.size}."
        )
    order = np.random.default_rng(seed).permutation(complete)
    half = order.size // 2
    p, q = order[:half], order[half : 2 * half]
    composed = _compose(
        f[p],
        {name: y[p] for name, y in ys.items()},
        {name: y[q] for name, y in ys.items()},
        mu,
        v,
        checked,
        tasks,
    )
    return CompositionScore(
        raw=_mean_cosine(composed, f[q]), centred=_mean_cosine(composed - mu, f[q] - mu)
    )
