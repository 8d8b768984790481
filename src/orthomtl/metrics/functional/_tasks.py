"""Task metrics as plain functions. Missing labels (-1 or NaN) are skipped.

``task_metrics_update`` turns one batch into a few sums per task, and ``task_metrics_compute`` turns
summed states into metrics: the pair behind both ``task_metrics`` and the streaming ``TaskMetrics``
(as in torchmetrics), so a state reduced across processes gives the single-process metrics.

Δm follows Maninis et al. (2019) as used by LibMTL: the mean over tasks of the relative change
against single-task learning, signed so that a positive Δm is an improvement.
"""

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from orthomtl.losses import task_loss
from orthomtl.tasks import Task, wrap_angle


def accuracy(prediction: Tensor, target: Tensor) -> float:
    """Share of labelled samples whose predicted class is the label; labels of -1 are skipped."""
    mask = target >= 0
    return float((prediction[mask] == target[mask]).float().mean()) if mask.any() else math.nan


def mae(prediction: Tensor, target: Tensor) -> float:
    """Mean absolute error over the samples with a (non-NaN) label."""
    mask = ~torch.isnan(target)
    return float((prediction[mask] - target[mask]).abs().mean()) if mask.any() else math.nan


def circular_mae(prediction: Tensor, target: Tensor) -> float:
    """Mean absolute angular error in radians, the short way round the circle."""
    mask = ~torch.isnan(target)
    if not mask.any():
        return math.nan
    return float(wrap_angle(prediction[mask] - target[mask]).abs().mean())


def delta_m(
    results: Mapping[str, float],
    single_task: Mapping[str, float],
    higher_is_better: Mapping[str, bool],
) -> float:
    """Δm in percent: mean_t (−1)^{l_t} (M_t − M_stl,t) / M_stl,t × 100, with l_t = 1 when lower is
    better.

    Args:
        results: metric per task of the method.
        single_task: the same metrics of single-task learning, given explicitly.
        higher_is_better: per task, whether a larger metric is better (accuracy) or not (MAE).
    """
    missing = set(results) - set(single_task)
    if missing:
        raise ValueError(f"delta_m: no single-task result for {sorted(missing)}.")
    terms = []
    for name, value in results.items():
        base = single_task[name]
        if base == 0:
            raise ValueError(f"delta_m: the single-task metric of {name!r} is 0; Δm is undefined.")
        sign = 1.0 if higher_is_better[name] else -1.0
        terms.append(sign * (value - base) / abs(base))
    return 100.0 * float(np.mean(terms))


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value) of seed results."""
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def task_metrics_update(
    outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor], tasks: Sequence[Task]
) -> Tensor:
    """The sums of one batch, (T, 4) float64 on the outputs' device: per task the metric's sum
    (correct predictions, or absolute errors, circular for angles), the number of labelled samples,
    the loss (``orthomtl.losses.task_loss``) times that number, and, for regression tasks, the sum
    of squared errors (0 for the other kinds)."""
    rows = []
    for task in tasks:
        output, target = outputs[task.name].detach(), targets[task.name]
        labelled = ~task.missing(target)
        prediction, truth = task.predict(output)[labelled], target[labelled]
        if task.kind == "classification":
            score = (prediction == truth).sum()
        elif task.kind == "angle":
            score = wrap_angle(prediction - truth).abs().sum()
        else:
            score = (prediction - truth).abs().sum()
        count = labelled.sum().double()
        squared = (
            (prediction - truth).double().pow(2).sum() if task.kind == "regression" else 0 * count
        )
        loss = task_loss(task, output, target).detach().double()
        rows.append(torch.stack([score.double(), count, loss * count, squared]))
    return torch.stack(rows)


def task_metrics_compute(state: Tensor, tasks: Sequence[Task]) -> dict[str, float]:
    """``{"<task>/accuracy" or "<task>/mae": value, "<task>/loss": value, "loss": their sum}`` from
    summed ``task_metrics_update`` states, and ``"<task>/mse"`` for regression tasks with
    ``"mse"`` their mean (each task counts once); a task with no labelled sample is left out."""
    result: dict[str, float] = {}
    total_loss = 0.0
    squared_errors = []
    for task, (score, count, loss, squared) in zip(tasks, state.tolist(), strict=True):
        if count == 0:
            continue
        result[f"{task.name}/{task.metric}"] = score / count
        if task.kind == "regression":
            result[f"{task.name}/mse"] = squared / count
            squared_errors.append(squared / count)
        result[f"{task.name}/loss"] = loss / count
        total_loss += loss / count
    result["loss"] = total_loss
    if squared_errors:
        result["mse"] = sum(squared_errors) / len(squared_errors)
    return result


def task_metrics(
    outputs: Mapping[str, Tensor], targets: Mapping[str, Tensor], tasks: Sequence[Task]
) -> dict[str, float]:
    """Accuracy or MAE (circular for angles) and the mean loss of every task on one set of
    outputs; see ``task_metrics_compute``."""
    return task_metrics_compute(task_metrics_update(outputs, targets, tasks), tasks)
