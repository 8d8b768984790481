"""Latent-space metrics of Domain Expansion (arXiv:2601.20069): how well a latent axis encodes a
task.

* Regression and angle tasks: the **pairwise-distance Spearman** correlation between the distances
  of the task's latent coefficients and the distances of its labels (circular for angles).
* Class tasks: the **V-score**, the V-measure between the labels and a k-means clustering of the
  task's coefficients.
* Domain Expansion has one axis per task and scores axis m for task m (``score_on_axes``). A
  baseline has no task axes, so it is scored on the top-M PCA axes of its own latent, tasks assigned
  to axes by the Hungarian algorithm (``score_on_pca_axes``).

Inputs may be numpy arrays or torch tensors; everything is computed in float64 numpy. Missing labels
(``-1`` for a class task, ``NaN`` otherwise) are dropped.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import pdist
from scipy.stats import rankdata
from sklearn.cluster import KMeans
from sklearn.metrics import v_measure_score
from torch import Tensor

from orthomtl.tasks import Task

Array = np.ndarray | Tensor
Scorer = Callable[[Array], float]


@dataclass(frozen=True)
class AxisScore:
    """A task's latent metric on the axis it was scored on.

    Attributes:
        metric: ``"spearman"`` for a regression or angle task, ``"v_score"`` for a class task.
        value: the metric; NaN when a Spearman correlation is undefined (constant distances).
        axis: the axis' index: the task's own for Domain Expansion, a PCA component (0 = largest
            variance) for a baseline.
    """

    metric: str
    value: float
    axis: int


def _as_array(x: Array | float) -> np.ndarray:
    """``x`` as a float64 numpy array."""
    if isinstance(x, Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _require_finite(a: np.ndarray, name: str) -> None:
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite; it holds NaN or inf.")


def _matrix(x: Array, name: str) -> np.ndarray:
    """``x`` as a finite float64 matrix (N, D)."""
    a = _as_array(x)
    if a.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got {a.shape}.")
    _require_finite(a, name)
    return a


def _features(x: Array, name: str, rows: int) -> np.ndarray:
    """``x`` as finite float64 features (N, k) with N = ``rows``; a vector (N,) is one column."""
    a = _as_array(x)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] == 0:
        raise ValueError(f"{name} must have shape (N,) or (N, k) with k >= 1, got {a.shape}.")
    if a.shape[0] != rows:
        raise ValueError(f"{name} has {a.shape[0]} rows but there are {rows} labels.")
    _require_finite(a, name)
    return a


def _real_labels(labels: Array, name: str) -> np.ndarray:
    """Regression or angle labels (N,) as float64; NaN marks a missing label."""
    y = _as_array(labels)
    if y.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got {y.shape}.")
    if np.isinf(y).any():
        raise ValueError(f"{name} holds inf; mark a missing label with NaN.")
    return y


def _class_labels(labels: Array, num_classes: int, name: str) -> np.ndarray:
    """Class labels (N,) as int64 in ``[0, num_classes)``; -1 marks a missing label."""
    y = _as_array(labels)
    if y.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got {y.shape}.")
    if not np.all(y == np.round(y)) or np.any((y < -1) | (y >= num_classes)):
        raise ValueError(
            f"{name} must be integers in [0, {num_classes}), or -1 for a missing label."
        )
    return y.astype(np.int64)


def _check_tasks(tasks: Sequence[Task]) -> None:
    names = [task.name for task in tasks]
    if not names:
        raise ValueError("Need at least one task.")
    if len(set(names)) != len(names):
        raise ValueError(f"Task names must be unique, got {names}.")


def _task_labels(
    labels: Mapping[str, Array], tasks: Sequence[Task], rows: int
) -> dict[str, np.ndarray]:
    """Each task's labels, converted by its kind and checked to have ``rows`` entries."""
    _check_tasks(tasks)
    missing = [task.name for task in tasks if task.name not in labels]
    if missing:
        raise ValueError(f"No labels for tasks {missing}; got labels for {sorted(labels)}.")
    result = {}
    for task in tasks:
        name = f"labels[{task.name!r}]"
        if task.kind == "classification":
            assert task.num_classes is not None
            y = _class_labels(labels[task.name], task.num_classes, name)
        else:
            y = _real_labels(labels[task.name], name)
        if y.shape[0] != rows:
            raise ValueError(f"{name} has {y.shape[0]} entries but the latent has {rows} rows.")
        result[task.name] = y
    return result


def _centred_ranks(distances: np.ndarray) -> np.ndarray:
    ranks = rankdata(distances)
    return ranks - ranks.mean()


def _spearman_scorer(
    y: np.ndarray, *, circular: bool, period: float, max_points: int, seed: int
) -> Scorer:
    """Prepare the label side of ``pairwise_distance_spearman`` once; the result scores
    coefficients.
    """
    if not isinstance(max_points, int) or max_points < 3:
        raise ValueError(f"max_points must be an integer >= 3, got {max_points!r}.")
    if not (math.isfinite(period) and period > 0):
        raise ValueError(f"period must be positive and finite, got {period!r}.")
    keep = np.flatnonzero(~np.isnan(y))
    if keep.size < 3:
        raise ValueError(f"Spearman needs at least 3 labelled points, got {keep.size}.")
    if keep.size > max_points:
        keep = np.random.default_rng(seed).choice(keep, size=max_points, replace=False)
    label_distances = pdist(y[keep, None])
    if circular:
        wrapped = np.mod(label_distances, period)
        label_distances = np.minimum(wrapped, period - wrapped)
    label_ranks = _centred_ranks(label_distances)

    def score(coefficients: Array) -> float:
        c = _features(coefficients, "coefficients", y.shape[0])
        ranks = _centred_ranks(pdist(c[keep]))
        norm = math.sqrt(float(ranks @ ranks) * float(label_ranks @ label_ranks))
        return float(ranks @ label_ranks) / norm if norm > 0 else math.nan

    return score


def pairwise_distance_spearman(
    coefficients: Array,
    labels: Array,
    *,
    circular: bool = False,
    period: float = 2 * math.pi,
    max_points: int = 2000,
    seed: int = 0,
) -> float:
    """Pairwise-distance Spearman of Domain Expansion (arXiv:2601.20069) for a regression or angle
    task.

    Not a correlation of predictions with labels: over all pairs i < j of labelled points, the
    Spearman rank correlation between the latent distances ``|c_i − c_j|`` (``‖c_i − c_j‖₂`` for
    k > 1) and the label distances ``|y_i − y_j|``. With ``circular`` the label distance is the
    short way round a circle of circumference ``period``: ``min(r, period − r)`` with
    ``r = |y_i − y_j| mod period``. It is 1 when ``c`` is an affine function of ``y``.

    Labels of NaN are dropped first; then, as the pairs are O(N²), at most ``max_points`` points are
    kept, drawn without replacement by ``numpy.random.default_rng(seed)``.

    Args:
        coefficients: the task's latent coefficients, (N,) or (N, k).
        labels: (N,) real labels (radians for angles), NaN where missing.
        circular: compare labels on a circle (angle tasks).
        period: the circle's circumference.
        max_points: subsample size bound, at least 3.
        seed: seed of the subsample.

    Returns:
        The correlation in [-1, 1]; NaN when the latent or the label distances are all equal.
    """
    y = _real_labels(labels, "labels")
    scorer = _spearman_scorer(y, circular=circular, period=period, max_points=max_points, seed=seed)
    return scorer(coefficients)


def _v_scorer(y: np.ndarray, num_classes: int, seed: int) -> Scorer:
    """Prepare the label side of ``v_score``; the result scores features."""
    keep = y >= 0
    if keep.sum() < num_classes:
        raise ValueError(
            f"V-score needs at least num_classes = {num_classes} labelled points, "
            f"got {int(keep.sum())}."
        )

    def score(features: Array) -> float:
        x = _features(features, "features", y.shape[0])[keep]
        clusters = KMeans(n_clusters=num_classes, n_init=10, random_state=seed).fit_predict(x)
        return float(v_measure_score(y[keep], clusters))

    return score


def _check_num_classes(num_classes: int) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):
        raise ValueError(f"num_classes must be an integer, got {num_classes!r}.")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}.")


def v_score(features: Array, labels: Array, num_classes: int, *, seed: int = 0) -> float:
    """V-score of Domain Expansion (arXiv:2601.20069) for a class task.

    k-means (scikit-learn, k = ``num_classes``, ``n_init=10``, ``random_state=seed``) on the task's
    projected features, then ``sklearn.metrics.v_measure_score(labels, clusters)``: the harmonic
    mean of homogeneity and completeness, 1 when the clusters are the classes, about 0 when
    unrelated. Labels of -1 are dropped first.

    Args:
        features: the task's coefficients, (N,) (one axis, as in Domain Expansion) or (N, k).
        labels: (N,) integer labels in ``[0, num_classes)``, -1 where missing.
        num_classes: the task's number of classes, the number of clusters.
        seed: k-means' random state.
    """
    _check_num_classes(num_classes)
    return _v_scorer(_class_labels(labels, num_classes, "labels"), num_classes, seed)(features)


def _task_scorers(
    labels: Mapping[str, Array], tasks: Sequence[Task], rows: int, max_points: int, seed: int
) -> list[tuple[str, Scorer]]:
    """Per task: its metric's name and a scorer of one axis (N,)."""
    ys = _task_labels(labels, tasks, rows)
    scorers: list[tuple[str, Scorer]] = []
    for task in tasks:
        y = ys[task.name]
        if task.kind == "classification":
            assert task.num_classes is not None
            scorers.append(("v_score", _v_scorer(y, task.num_classes, seed)))
        else:
            spearman = _spearman_scorer(
                y,
                circular=task.kind == "angle",
                period=2 * math.pi,
                max_points=max_points,
                seed=seed,
            )
            scorers.append(("spearman", spearman))
    return scorers


def score_on_axes(
    coefficients: Array,
    labels: Mapping[str, Array],
    tasks: Sequence[Task],
    *,
    max_points: int = 2000,
    seed: int = 0,
) -> dict[str, AxisScore]:
    """Score Domain Expansion's own axes (arXiv:2601.20069): axis m belongs to task m.

    Each task's metric (``pairwise_distance_spearman`` for regression, circular with period 2π for
    angles; ``v_score`` for classes) on its column of the coefficients.

    Args:
        coefficients: (N, M) latent coefficients, column m the projection on task m's axis.
        labels: per task name, its (N,) labels (-1 or NaN where missing).
        tasks: the M tasks, in the order of the columns.
        max_points: Spearman's subsample bound.
        seed: seed of the Spearman subsample and of k-means.
    """
    c = _matrix(coefficients, "coefficients")
    if c.shape[1] != len(tasks):
        raise ValueError(
            f"coefficients must have one column per task ({len(tasks)}), got shape {c.shape}."
        )
    scorers = _task_scorers(labels, tasks, c.shape[0], max_points, seed)
    return {
        task.name: AxisScore(metric, score(c[:, axis]), axis)
        for axis, (task, (metric, score)) in enumerate(zip(tasks, scorers, strict=True))
    }


def score_on_pca_axes(
    latent: Array,
    labels: Mapping[str, Array],
    tasks: Sequence[Task],
    *,
    max_points: int = 2000,
    seed: int = 0,
) -> dict[str, AxisScore]:
    """Score a baseline's latent on its top PCA axes, as Domain Expansion does (arXiv:2601.20069).

    A baseline has no task axes, so: centre its test-set latent F (N×D), take the top-M right
    singular vectors (M = number of tasks) as axes and project on them; compute every task's metric
    (as in ``score_on_axes``) on every axis; then assign tasks to distinct axes by the Hungarian
    algorithm (``scipy.optimize.linear_sum_assignment``) maximising the sum of the metrics. For the
    assignment only, an undefined (NaN) Spearman counts as -1, the lowest any metric can be.

    Args:
        latent: (N, D) test-set latent, D >= M and N >= M.
        labels: per task name, its (N,) labels (-1 or NaN where missing).
        tasks: the M tasks; their order does not change the result.
        max_points: Spearman's subsample bound.
        seed: seed of the Spearman subsample and of k-means.

    Returns:
        Per task name its metric and the PCA component it was assigned (0 = largest variance).
    """
    f = _matrix(latent, "latent")
    m = len(tasks)
    if min(f.shape) < m:
        raise ValueError(
            f"latent of shape {f.shape} has fewer than {m} principal axes (one per task)."
        )
    scorers = _task_scorers(labels, tasks, f.shape[0], max_points, seed)
    centred = f - f.mean(axis=0)
    _, _, right = np.linalg.svd(centred, full_matrices=False)
    axes = centred @ right[:m].T
    values = np.array([[score(axes[:, a]) for a in range(m)] for _, score in scorers])
    rows, cols = linear_sum_assignment(np.nan_to_num(values, nan=-1.0), maximize=True)
    return {
        tasks[t].name: AxisScore(scorers[t][0], float(values[t, a]), int(a))
        for t, a in zip(rows, cols, strict=True)
    }
