"""The neural- and latent-collapse diagnostics of one encoded sample, as scalars and a record.

``collapse_diagnostics`` takes the latents one process encoded (their labels per task), sums the
class statistics over processes, and returns the scalars logged as ``nc/<key>`` and the record
``diagnostics.json`` keeps: the latent covariance's eigen-spectrum, the cross-task head cosine
matrix and the principal angles between the tasks' class-mean subspaces. Without a class task
(regression only) it is the spectrum and the effective rank alone.

- ``neural_collapse_metrics``: per class task NC1, NC2 of the class means, with a linear head
  NC2 of the head and NC3; the cross-task head coherence; the effective rank (RankMe).
- ``<task>/nc4``: the share of rows whose head prediction, among the classes present, differs
  from their nearest class mean (Papyan et al. 2020's NC4), counted on every process's rows
  against the global class means.
- ``feature_sum_alignment``: with two class tasks or more on single-source rows, how far each
  joint label's mean feature is from the direction Σ_t w^t_{k_t} (``JointLabelStatistics``).
- principal angles (degrees, ascending) between the spans of two tasks' centred class means,
  by ``scipy.linalg.subspace_angles``: 90° everywhere means the tasks use orthogonal subspaces.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.linalg import subspace_angles
from torch import Tensor

from orthomtl.engine import LinearReadouts, ReduceSum
from orthomtl.metrics import ClassStatistics, JointLabelStatistics, neural_collapse_metrics
from orthomtl.metrics.functional import (
    cross_task_coherence,
    effective_rank,
    feature_sum_alignment,
    nc4_counts,
)
from orthomtl.tasks import Task


@dataclass
class EncodedSample:
    """One process's share of an encoded sample: latents (N, D) and labels (N,) per task."""

    latents: Tensor
    targets: dict[str, Tensor]


def collapse_diagnostics(
    sample: EncodedSample,
    tasks: Sequence[Task],
    readouts: LinearReadouts | None,
    reduce_sum: ReduceSum,
) -> tuple[dict[str, float], dict[str, Any]]:
    """The scalars and the record of ``sample``; see the module docstring. Every process calls
    it (the sums are reduced with ``reduce_sum``)."""
    h = sample.latents.double()
    covariance = latent_covariance(h, reduce_sum)
    spectrum = torch.linalg.eigvalsh(covariance).clamp(min=0).flip(0)
    metrics = {"effective_rank": effective_rank(covariance, covariance=True)}
    record: dict[str, Any] = {
        "metrics": metrics,
        "latent_dim": int(h.shape[1]),
        "spectrum": spectrum.tolist(),
    }
    tracked = _tasks_with_two_classes(tasks, sample.targets, reduce_sum)
    if not tracked:  # regression tasks only: the latent's spectrum and effective rank
        return metrics, record
    statistics = ClassStatistics(tracked, h.shape[1])
    statistics.update(h, sample.targets)
    statistics.reduce(reduce_sum)
    heads = {name: (w.double(), b.double()) for name, (w, b) in (readouts or {}).items()}
    metrics |= neural_collapse_metrics(
        statistics, {t.name: heads[t.name][0] for t in tracked if t.name in heads}
    )
    moments = {t.name: statistics.compute(t.name) for t in tracked}
    metrics |= _nc4(h, sample.targets, heads, moments, reduce_sum)
    with_heads = [t for t in tracked if t.name in heads]
    if JointLabelStatistics.supports(with_heads):
        alignment = _alignment(h, sample.targets, with_heads, heads, reduce_sum)
        if alignment is not None:
            metrics["feature_sum_alignment"] = alignment
    if len(with_heads) >= 2:
        coherence = cross_task_coherence({t.name: heads[t.name][0] for t in with_heads})
        record["coherence"] = {
            "tasks": [t.name for t in with_heads],
            "offsets": coherence.offsets,
            "matrix": coherence.matrix.tolist(),
        }
    if len(tracked) >= 2:
        record["principal_angles"] = principal_angles(
            {name: m.centred_means for name, m in moments.items()}
        )
    return metrics, record


def latent_covariance(h: Tensor, reduce_sum: ReduceSum) -> Tensor:
    """The covariance (D × D) of every process's rows of ``h`` (N × D) together, from their
    count, sum and sum of outer products (one all-reduce)."""
    d = h.shape[1]
    moments = reduce_sum(torch.cat([h.new_tensor([h.shape[0]]), h.sum(0), (h.T @ h).flatten()]))
    n = moments[0].clamp(min=1)
    mean = moments[1 : 1 + d] / n
    return moments[1 + d :].view(d, d) / n - torch.outer(mean, mean)


def principal_angles(centred_means: Mapping[str, Tensor]) -> dict[str, list[float]]:
    """Per pair of tasks ``a~b``, the principal angles in degrees (ascending) between the spans
    of their centred class means (each K_t × D)."""
    names = list(centred_means)
    spans = {n: centred_means[n].T.cpu().numpy() for n in names}
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            angles = np.degrees(subspace_angles(spans[a], spans[b]))
            out[f"{a}~{b}"] = sorted(float(x) for x in angles)
    return out


def _tasks_with_two_classes(
    tasks: Sequence[Task], targets: Mapping[str, Tensor], reduce_sum: ReduceSum
) -> list[Task]:
    """The class tasks with at least two classes present on all processes together."""
    out = []
    for task in tasks:
        if task.kind != "classification":
            continue
        labels = targets[task.name]
        counts = torch.bincount(labels[labels >= 0].long(), minlength=task.num_classes or 0)
        if int((reduce_sum(counts.double()) > 0).sum()) >= 2:
            out.append(task)
    return out


def _nc4(
    h: Tensor,
    targets: Mapping[str, Tensor],
    heads: Mapping[str, tuple[Tensor, Tensor]],
    moments: Mapping[str, Any],
    reduce_sum: ReduceSum,
) -> dict[str, float]:
    out = {}
    for name, m in moments.items():
        if name not in heads:
            continue
        weight, bias = heads[name]
        present = m.classes.to(weight.device)
        keep = targets[name].to(h.device) >= 0
        counts = torch.tensor(
            nc4_counts(h[keep], weight[present].to(h), bias[present].to(h), m.means.to(h)),
            dtype=torch.float64,
            device=h.device,
        )
        disagree, total = reduce_sum(counts).tolist()
        if total:
            out[f"{name}/nc4"] = disagree / total
    return out


def _alignment(
    h: Tensor,
    targets: Mapping[str, Tensor],
    tasks: Sequence[Task],
    heads: Mapping[str, tuple[Tensor, Tensor]],
    reduce_sum: ReduceSum,
) -> float | None:
    """The feature-sum alignment, or ``None`` without two joint labels (multi-source rows)."""
    joint = JointLabelStatistics(tasks, h.shape[1])
    joint.update(h, targets)
    joint.reduce(reduce_sum)
    labels, means = joint.means()
    if labels.shape[0] < 2:
        return None
    global_mean = means.mean(0)
    return feature_sum_alignment(
        means, labels, global_mean, [heads[t.name][0].to(means) for t in tasks]
    )
