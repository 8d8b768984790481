"""Streaming per-task class statistics of a latent, the state behind the neural-collapse metrics.

For each class task, ``ClassStatistics`` keeps the class counts, the class sums of the latent and
the sum of its outer products over the labelled rows. They are sums, so ``reduce`` across
processes gives the single-process statistics exactly; ``compute`` turns them into class means
and within- and between-class covariances (``ClassMoments``), and ``neural_collapse_metrics`` into
the metrics of ``orthomtl.metrics.functional`` (NC1–NC3 per task, cross-task coherence).

Rows whose label is missing (-1) do not count, so multi-source data (each row labelled for its
own task only) needs nothing more.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from orthomtl.metrics.functional import cross_task_coherence, effective_rank, nc1, nc2, nc3
from orthomtl.tasks import Task


@dataclass
class ClassMoments:
    """One task's statistics over the classes present: ``classes`` (K,) their indices,
    ``counts`` (K,), ``means`` (K, D), ``global_mean`` (D,) (the mean of the class means),
    ``within`` Σ_W and ``between`` Σ_B (D, D)."""

    classes: Tensor
    counts: Tensor
    means: Tensor
    global_mean: Tensor
    within: Tensor
    between: Tensor

    @property
    def centred_means(self) -> Tensor:
        return self.means - self.global_mean


class ClassStatistics:
    """Per-task class counts, sums and second moments of a latent of width ``dim``.

    Args:
        tasks: the tasks; only classification tasks are tracked.
        dim: the latent's width D.
    """

    def __init__(self, tasks: Sequence[Task], dim: int) -> None:
        self.tasks = [t for t in tasks if t.kind == "classification"]
        if not self.tasks:
            raise ValueError("ClassStatistics needs at least one classification task.")
        self.dim = dim
        self.counts = {
            t.name: torch.zeros(t.num_classes or 0, dtype=torch.float64) for t in self.tasks
        }
        self.sums = {
            t.name: torch.zeros(t.num_classes or 0, dim, dtype=torch.float64) for t in self.tasks
        }
        self.squares = {t.name: torch.zeros(dim, dim, dtype=torch.float64) for t in self.tasks}
        self.latent = {
            "count": torch.zeros(1, dtype=torch.float64),
            "sum": torch.zeros(dim, dtype=torch.float64),
            "square": torch.zeros(dim, dim, dtype=torch.float64),
        }
        """Every row's moments, labelled or not, for the latent's covariance."""

    def update(self, features: Tensor, targets: Mapping[str, Tensor]) -> None:
        """Add a batch of latents (B, D) and its labels (B,) per task (-1: missing)."""
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise ValueError(
                f"ClassStatistics: features must be (B, {self.dim}), got {tuple(features.shape)}."
            )
        h = features.detach().double()
        latent = {k: v.to(h.device) for k, v in self.latent.items()}
        self.latent = {
            "count": latent["count"] + h.shape[0],
            "sum": latent["sum"] + h.sum(0),
            "square": latent["square"] + h.T @ h,
        }
        for task in self.tasks:
            labels = targets[task.name]
            keep = labels >= 0
            rows, classes = h[keep], labels[keep].long()
            name = task.name
            self.counts[name] = (
                self.counts[name].to(h.device)
                + torch.bincount(classes, minlength=task.num_classes).double()
            )
            self.sums[name] = self.sums[name].to(h.device).index_add(0, classes, rows)
            self.squares[name] = self.squares[name].to(h.device) + rows.T @ rows

    def reduce(self, all_reduce_sum: Callable[[Tensor], Tensor]) -> None:
        """Sum the statistics over processes (e.g. ``lambda t: fabric.all_reduce(t, "sum")``)."""
        for state in (self.counts, self.sums, self.squares, self.latent):
            for name in state:
                state[name] = all_reduce_sum(state[name]).double()

    def covariance(self) -> Tensor:
        """The latent's covariance over every row seen, (D, D)."""
        n = self.latent["count"].clamp(min=1)
        mean = self.latent["sum"] / n
        return self.latent["square"] / n - torch.outer(mean, mean)

    def compute(self, task: str) -> ClassMoments:
        """The task's class moments over its classes present (at least 2)."""
        counts, sums = self.counts[task], self.sums[task]
        present = torch.nonzero(counts > 0).flatten()
        if present.numel() < 2:
            raise ValueError(
                f"ClassStatistics: task {task!r} has {present.numel()} class(es) with samples; "
                "the metrics need at least 2."
            )
        n = counts[present]
        means = sums[present] / n[:, None]
        within = (self.squares[task] - (means.T * n) @ means) / n.sum()
        global_mean = means.mean(0)
        centred = means - global_mean
        between = centred.T @ centred / present.numel()
        return ClassMoments(present, n, means, global_mean, within, between)


def neural_collapse_metrics(
    statistics: ClassStatistics, heads: Mapping[str, Tensor]
) -> dict[str, float]:
    """``<task>/nc1`` and ``<task>/nc2_means`` for every tracked task; with its head W (K × D,
    from ``Method.linear_readouts``), ``<task>/nc2_head`` and ``<task>/nc3``; with two heads or
    more, ``coherence_mean`` and ``coherence_max`` across tasks; and the latent's
    ``effective_rank``. Only the classes present count."""
    out: dict[str, float] = {
        "effective_rank": effective_rank(statistics.covariance(), covariance=True)
    }
    for task in statistics.tasks:
        moments = statistics.compute(task.name)
        k = moments.classes.numel()
        out[f"{task.name}/nc1"] = nc1(moments.within, moments.between, k)
        out[f"{task.name}/nc2_means"] = nc2(moments.centred_means)
        if task.name in heads:
            head = heads[task.name].double()[moments.classes.to(heads[task.name].device)]
            head = head.to(moments.means.device)
            out[f"{task.name}/nc2_head"] = nc2(head - head.mean(0))
            out[f"{task.name}/nc3"] = nc3(head - head.mean(0), moments.centred_means)
    tracked = {t.name for t in statistics.tasks}
    chosen = {name: w.double() for name, w in heads.items() if name in tracked}
    if len(chosen) >= 2:
        coherence = cross_task_coherence(chosen)
        out["coherence_mean"], out["coherence_max"] = coherence.mean, coherence.max
    return out
