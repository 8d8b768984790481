"""Latent metrics of a baseline, which has no task axes (Domain Expansion, arXiv:2601.20069).

The latent is scored on its own top-M PCA axes, and the axes are dealt to the tasks so that the
summed metric is largest: the Hungarian algorithm when each task takes one axis, an exhaustive
search over the splits (at most ``MAX_SPLITS``) when a task takes several.
"""

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from orthomtl.metrics.functional._checks import Array, as_matrix
from orthomtl.metrics.functional._latent import AxisScore, task_scorers
from orthomtl.tasks import Task

MAX_SPLITS = 1000


def _splits(sizes: Sequence[int]) -> list[list[tuple[int, ...]]]:
    """Every way to deal axes 0..Σsizes−1 into ordered groups of the given sizes."""
    if not sizes:
        return [[]]
    out = []
    total = sum(sizes)
    for first in itertools.combinations(range(total), sizes[0]):
        rest = [a for a in range(total) if a not in first]
        for tail in _splits(sizes[1:]):
            out.append([first, *(tuple(rest[i] for i in group) for group in tail)])
    return out


def score_on_pca_axes(
    latent: Array,
    labels: Mapping[str, Array],
    tasks: Sequence[Task],
    *,
    axes_per_task: Sequence[int] | None = None,
    fit_latent: Array | None = None,
    max_points: int = 2000,
    seed: int = 0,
) -> dict[str, AxisScore]:
    """Score a baseline's latent on its top PCA axes, as Domain Expansion does (arXiv:2601.20069).

    A baseline has no task axes, so: centre its test-set latent F (N×D), take the top-M right
    singular vectors (M = the total number of axes) as axes and project on them (mean and axes
    fitted on ``fit_latent`` instead when given, e.g. the training latent); then give each
    task its number of axes so that the sum of the metrics is largest. With one axis per task that
    is the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``) on every task's metric on
    every axis; when a task owns several axes, every split of the M axes into the tasks' groups is
    scored (at most ``MAX_SPLITS``). For the assignment only, an undefined (NaN) Spearman counts as
    -1, the lowest any metric can be.

    Args:
        latent: (N, D) test-set latent, D >= M and N >= M.
        labels: per task name, its (N,) labels (-1 or NaN where missing).
        tasks: the tasks; their order does not change the result.
        axes_per_task: per task its number of axes (as Domain Expansion's ``task_axes``); ``None``
            for one each.
        fit_latent: (N', D) latents to fit the mean and the PCA axes on (e.g. the training
            split's), so that the test set only scores them; ``None`` fits them on ``latent``.
        max_points: Spearman's subsample bound.
        seed: seed of the Spearman subsample and of k-means.

    Returns:
        Per task name its metric and the PCA components it was given (0 = largest variance).
    """
    f = as_matrix(latent, "latent")
    sizes = [1] * len(tasks) if axes_per_task is None else [int(k) for k in axes_per_task]
    if len(sizes) != len(tasks) or min(sizes, default=1) < 1:
        raise ValueError(
            f"axes_per_task must give a count >= 1 for each of the {len(tasks)} tasks, got {sizes}."
        )
    m = sum(sizes)
    if min(f.shape) < m:
        raise ValueError(
            f"latent of shape {f.shape} has fewer than {m} principal axes (the tasks' axes)."
        )
    scorers = task_scorers(labels, tasks, f.shape[0], max_points, seed)
    fit = f if fit_latent is None else as_matrix(fit_latent, "fit_latent")
    if fit.shape[1] != f.shape[1] or fit.shape[0] < m:
        raise ValueError(
            f"fit_latent must have {f.shape[1]} columns and at least {m} rows, got {fit.shape}."
        )
    mean = fit.mean(axis=0)
    _, _, right = np.linalg.svd(fit - mean, full_matrices=False)
    projected = (f - mean) @ right[:m].T
    if all(k == 1 for k in sizes):
        values = np.array([[score(projected[:, a]) for a in range(m)] for _, score in scorers])
        rows, cols = linear_sum_assignment(np.nan_to_num(values, nan=-1.0), maximize=True)
        return {
            tasks[t].name: AxisScore(scorers[t][0], float(values[t, a]), (int(a),))
            for t, a in zip(rows, cols, strict=True)
        }
    splits = _splits(sizes)
    if len(splits) > MAX_SPLITS:
        raise ValueError(
            f"{len(splits)} ways to give {m} PCA axes to groups of sizes {sizes}; at most "
            f"{MAX_SPLITS} are scored. Use fewer axes per task."
        )
    cache: dict[tuple[int, tuple[int, ...]], float] = {}

    def value(t: int, group: tuple[int, ...]) -> float:
        if (t, group) not in cache:
            cache[(t, group)] = scorers[t][1](projected[:, list(group)])
        return cache[(t, group)]

    def total(split: list[tuple[int, ...]]) -> float:
        return sum(np.nan_to_num(value(t, g), nan=-1.0) for t, g in enumerate(split))

    best = max(splits, key=total)
    return {
        task.name: AxisScore(scorers[t][0], float(value(t, group)), group)
        for t, (task, group) in enumerate(zip(tasks, best, strict=True))
    }
