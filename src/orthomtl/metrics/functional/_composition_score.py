"""Composition similarity of Domain Expansion (arXiv:2601.20069) on a test set, with its floor
and ceiling, and the class centres the default composition moves to.

The score is the mean cos(f*, f_q) over pairs (p, q) of test samples, f* = ``compose``(f_p → q).
Alone it is hard to read: a latent dominated by its mean scores high whatever f* is. Two
references on the same pairs bound it:

* the floor, f* = f_p (no composition at all);
* the ceiling, f* = f_p + V(c_q − c_p): p's latent with all of q's task coefficients put in, the
  best any composition through the task axes can do.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from orthomtl.metrics.functional._checks import Array, as_matrix, task_labels
from orthomtl.metrics.functional._composition import (
    ClassTarget,
    Solve,
    check_composition_options,
    compose_checked,
)
from orthomtl.metrics.functional._latent_model import Readout, latent_model
from orthomtl.tasks import Task, circular_distance

_SCORES = ("raw", "centred", "floor_raw", "floor_centred", "ceiling_raw", "ceiling_centred")


@dataclass(frozen=True)
class CompositionScore:
    """Mean cosine similarity of composed latents f* to the targets' latents f_q.

    Attributes:
        raw: mean cos(f*, f_q), on raw latents, as the paper reports.
        centred: mean cos(f* − μ, f_q − μ), centred at the pooling's mean μ; unlike the raw score
            it is not inflated by a large μ.
        floor_raw, floor_centred: the same for f* = f_p (nothing composed).
        ceiling_raw, ceiling_centred: the same for f* = f_p + V(c_q − c_p) (q's coefficients).
        decoded: per task, how f* decodes against q's labels: the share decoded to q's class for
            a class task, the mean absolute error (circular, in radians, for an angle) otherwise.
    """

    raw: float
    centred: float
    floor_raw: float
    floor_centred: float
    ceiling_raw: float
    ceiling_centred: float
    decoded: dict[str, float] = field(default_factory=dict)

    def as_dict(self, prefix: str = "composition/") -> dict[str, float]:
        """Flat metric names: ``composition/raw``, ``composition/floor_raw``, … and
        ``composition/<task>/accuracy`` or ``composition/<task>/mae``."""
        out = {f"{prefix}{name}": getattr(self, name) for name in _SCORES}
        out.update({f"{prefix}{name}": value for name, value in self.decoded.items()})
        return out


def class_centres(
    latent: Array,
    labels: Mapping[str, Array],
    mean: Array,
    basis: Array,
    tasks: Sequence[Task],
    axes: Sequence[Sequence[int]] | None = None,
) -> dict[str, np.ndarray]:
    """Per class task, the mean coefficients ⟨f − μ, V_m⟩ (K, a_m) of each class, from (N, D)
    latents and their labels (typically the training split's). A class with no sample gets the
    mean of all labelled samples."""
    model = latent_model(
        mean, basis, [_placeholder(t, mean) for t in tasks], tasks, axes, need_centres=False
    )
    f = as_matrix(latent, "latent")
    ys = task_labels(labels, tasks, f.shape[0])
    out = {}
    for m, task in enumerate(tasks):
        if task.kind != "classification":
            continue
        y = ys[task.name]
        keep = y >= 0
        c = (f[keep] - model.mean) @ model.task_basis(m)
        onehot = np.eye(task.num_classes)[y[keep]]
        counts = onehot.sum(0)
        fallback = c.mean(0) if c.shape[0] else np.zeros(c.shape[1])
        sums = onehot.T @ c
        out[task.name] = np.where(
            counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], fallback
        )
    return out


def _placeholder(task: Task, mean: Array) -> Readout:
    """A zero readout of the right shape, for validating μ, V and the axes alone."""
    dim = np.shape(mean)[0]
    out = task.num_classes if task.kind == "classification" else 1
    return np.zeros((out, dim)), np.zeros(out)


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
    axes: Sequence[Sequence[int]] | None = None,
    centres: Mapping[str, Array] | None = None,
    solve: Solve = "per-task",
    class_target: ClassTarget = "centre",
    rcond: float = 1e-2,
    seed: int = 0,
) -> CompositionScore:
    """Composition similarity of Domain Expansion (arXiv:2601.20069) on a test set.

    The test samples with every label present are permuted by ``numpy.random.default_rng(seed)``
    and split into halves P and Q (one sample left out when their number is odd); P[i] is paired
    with Q[i]. For each pair, f* = ``compose``(f_p, y_p, y_q) with every task composed, compared
    with f_q by cosine similarity, raw (as the paper reports) and centred at μ, beside the floor
    and the ceiling (module docstring).

    Args:
        latent: (N, D) test-set latents.
        mean, basis, readouts, tasks, axes, centres, solve, class_target, rcond: as for
            ``compose``.
        labels: per task name, its (N,) labels (-1 or NaN where missing).
        seed: seed of the pairing.
    """
    check_composition_options(solve, class_target, rcond)
    needs = class_target == "centre" and any(t.kind == "classification" for t in tasks)
    model = latent_model(mean, basis, readouts, tasks, axes, centres, need_centres=needs)
    f = as_matrix(latent, "latent")
    if f.shape[1] != model.mean.shape[0]:
        raise ValueError(f"latent has {f.shape[1]} columns but mean has {model.mean.shape[0]}.")
    ys = task_labels(labels, tasks, f.shape[0])
    missing = [
        ys[t.name] < 0 if t.kind == "classification" else np.isnan(ys[t.name]) for t in tasks
    ]
    complete = np.flatnonzero(~np.any(missing, axis=0))
    if complete.size < 2:
        raise ValueError(
            f"Composition needs at least 2 fully labelled samples to form a pair, got "
            f"{complete.size}."
        )
    order = np.random.default_rng(seed).permutation(complete)
    half = order.size // 2
    p, q = order[:half], order[half : 2 * half]
    y_p = {name: y[p] for name, y in ys.items()}
    y_q = {name: y[q] for name, y in ys.items()}
    composed = compose_checked(
        model, f[p], y_p, y_q, [t.name for t in tasks], solve, class_target, rcond
    )
    ceiling = f[p] + (f[q] - f[p]) @ model.basis @ model.basis.T
    mu = model.mean
    decoded = {}
    for m, task in enumerate(tasks):
        out = model.decode(composed, m)
        if task.kind == "classification":
            decoded[f"{task.name}/accuracy"] = float(np.mean(out == y_q[task.name]))
        elif task.kind == "angle":
            decoded[f"{task.name}/mae"] = float(np.mean(circular_distance(out - y_q[task.name])))
        else:
            decoded[f"{task.name}/mae"] = float(np.mean(np.abs(out - y_q[task.name])))
    return CompositionScore(
        raw=_mean_cosine(composed, f[q]),
        centred=_mean_cosine(composed - mu, f[q] - mu),
        floor_raw=_mean_cosine(f[p], f[q]),
        floor_centred=_mean_cosine(f[p] - mu, f[q] - mu),
        ceiling_raw=_mean_cosine(ceiling, f[q]),
        ceiling_centred=_mean_cosine(ceiling - mu, f[q] - mu),
        decoded=decoded,
    )
