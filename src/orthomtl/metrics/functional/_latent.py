"""Latent-space metrics of Domain Expansion (arXiv:2601.20069): how well a latent axis encodes a
task.

* Regression and angle tasks: the **pairwise-distance Spearman** correlation between the distances
  of the task's latent coefficients and the distances of its labels (circular for angles).
* Class tasks: the **V-score**, the V-measure between the labels and a k-means clustering of the
  task's coefficients.
* Domain Expansion scores each task on the axes it owns (``score_on_axes``): one per task in the
  paper, several for a class task with ``class_axes`` > 1. A baseline has no task axes; it is
  scored on the top PCA axes of its own latent (``_pca_axes``).

Inputs may be numpy arrays or torch tensors; everything is computed in float64 numpy. Missing labels
(``-1`` for a class task, ``NaN`` otherwise) are dropped.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import pdist
from scipy.stats import rankdata
from sklearn.cluster import KMeans
from sklearn.metrics import v_measure_score

from orthomtl.metrics.functional._checks import (
    Array,
    as_features,
    as_matrix,
    check_num_classes,
    class_labels,
    real_labels,
    task_labels,
)
from orthomtl.pooling import check_layout
from orthomtl.tasks import Task, circular_distance

Scorer = Callable[[Array], float]


@dataclass(frozen=True)
class AxisScore:
    """A task's latent metric on the axes it was scored on.

    Attributes:
        metric: ``"spearman"`` for a regression or angle task, ``"v_score"`` for a class task.
        value: the metric; NaN when a Spearman correlation is undefined (constant distances).
        axes: the axes' indices: the task's own for Domain Expansion, PCA components (0 = largest
            variance) for a baseline.
    """

    metric: str
    value: float
    axes: tuple[int, ...]


def _centred_ranks(distances: np.ndarray) -> np.ndarray:
    ranks = rankdata(distances)
    return ranks - ranks.mean()


def _spearman_scorer(
    y: np.ndarray, *, circular: bool, period: float, max_points: int, seed: int
) -> Scorer:
    """The label side of ``pairwise_distance_spearman``, prepared once; scores coefficients."""
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
        label_distances = circular_distance(label_distances, period)
    label_ranks = _centred_ranks(label_distances)

    def score(coefficients: Array) -> float:
        c = as_features(coefficients, "coefficients", y.shape[0])
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
    y = real_labels(labels, "labels")
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
        x = as_features(features, "features", y.shape[0])[keep]
        clusters = KMeans(n_clusters=num_classes, n_init=10, random_state=seed).fit_predict(x)
        return float(v_measure_score(y[keep], clusters))

    return score


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
    check_num_classes(num_classes)
    return _v_scorer(class_labels(labels, num_classes, "labels"), num_classes, seed)(features)


def task_scorers(
    labels: Mapping[str, Array], tasks: Sequence[Task], rows: int, max_points: int, seed: int
) -> list[tuple[str, Scorer]]:
    """Per task: its metric's name and a scorer of one axis (N,)."""
    ys = task_labels(labels, tasks, rows)
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
    axes: Sequence[Sequence[int]] | None = None,
    max_points: int = 2000,
    seed: int = 0,
) -> dict[str, AxisScore]:
    """Score Domain Expansion's own axes (arXiv:2601.20069): task m on the columns it owns.

    Each task's metric (``pairwise_distance_spearman`` for regression, circular with period 2π for
    angles; ``v_score`` for classes) on its columns of the coefficients.

    Args:
        coefficients: (N, M) latent coefficients.
        labels: per task name, its (N,) labels (-1 or NaN where missing).
        tasks: the tasks, in the order of ``axes``.
        axes: per task its columns (``orthomtl.pooling.task_axes``); ``None`` for one column per
            task, column m for task m.
        max_points: Spearman's subsample bound.
        seed: seed of the Spearman subsample and of k-means.
    """
    c = as_matrix(coefficients, "coefficients")
    if axes is None:
        if c.shape[1] != len(tasks):
            raise ValueError(
                f"coefficients must have one column per task ({len(tasks)}), got shape {c.shape}; "
                "pass axes= when a task owns several."
            )
        axes = [(m,) for m in range(len(tasks))]
    layout = check_layout(axes, tasks, c.shape[1])
    scorers = task_scorers(labels, tasks, c.shape[0], max_points, seed)
    return {
        task.name: AxisScore(metric, score(c[:, list(columns)]), columns)
        for columns, task, (metric, score) in zip(layout, tasks, scorers, strict=True)
    }
