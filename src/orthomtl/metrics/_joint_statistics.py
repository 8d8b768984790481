"""Streaming feature means per joint label (k_1 … k_T) of several class tasks.

Single-source data labels every row for every task, so each row has a joint label; the
multi-task neural-collapse theory (NOTES, "Neural collapse in MTL") says the feature mean of a
joint label points along Σ_t w^t_{k_t}, which ``feature_sum_alignment`` measures from these
means. Rows missing any of the tasks' labels (multi-source data) do not count. The counts and sums
live on the fixed index space of all Π_t K_t joint labels, so ``reduce`` across processes gives
the single-process statistics exactly.
"""

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from orthomtl.tasks import Task

MAX_JOINT_LABELS = 4096
"""The largest Π_t K_t tracked (the sums are Π_t K_t × D)."""


class JointLabelStatistics:
    """Counts and feature sums per joint label of ``tasks`` (class tasks, at least two).

    Args:
        tasks: the class tasks, in the order of the joint label's components.
        dim: the feature width D.
    """

    def __init__(self, tasks: Sequence[Task], dim: int) -> None:
        if len(tasks) < 2 or any(t.kind != "classification" for t in tasks):
            raise ValueError("JointLabelStatistics needs two class tasks or more.")
        self.tasks = list(tasks)
        self.sizes = [t.num_classes or 0 for t in self.tasks]
        total = math.prod(self.sizes)
        if total > MAX_JOINT_LABELS:
            raise ValueError(
                f"JointLabelStatistics: {total} joint labels exceed {MAX_JOINT_LABELS}; "
                "track fewer tasks."
            )
        self.dim = dim
        self.counts = torch.zeros(total, dtype=torch.float64)
        self.sums = torch.zeros(total, dim, dtype=torch.float64)

    @staticmethod
    def supports(tasks: Sequence[Task]) -> bool:
        """Whether these tasks can be tracked (two class tasks or more, few enough labels)."""
        classes = [t for t in tasks if t.kind == "classification"]
        return len(classes) >= 2 and math.prod(t.num_classes or 0 for t in classes) <= (
            MAX_JOINT_LABELS
        )

    def update(self, features: Tensor, targets: Mapping[str, Tensor]) -> None:
        """Add a batch of features (B, D) and its labels (B,) per task (-1: missing)."""
        h = features.detach().double()
        labels = torch.stack([targets[t.name].to(h.device).long() for t in self.tasks], dim=1)
        keep = (labels >= 0).all(1)
        index = torch.zeros(int(keep.sum()), dtype=torch.long, device=h.device)
        for column, size in zip(labels[keep].T, self.sizes, strict=True):
            index = index * size + column
        self.counts = self.counts.to(h.device).index_add(
            0, index, torch.ones_like(index, dtype=torch.float64)
        )
        self.sums = self.sums.to(h.device).index_add(0, index, h[keep])

    def reduce(self, all_reduce_sum: Callable[[Tensor], Tensor]) -> None:
        """Sum the statistics over processes."""
        self.counts = all_reduce_sum(self.counts).double()
        self.sums = all_reduce_sum(self.sums).double()

    def means(self) -> tuple[Tensor, Tensor]:
        """The joint labels present, (J, T) class indices, and their feature means (J, D)."""
        present = torch.nonzero(self.counts > 0).flatten()
        labels = []
        rest = present.clone()
        for size in reversed(self.sizes):
            labels.append(rest % size)
            rest = rest // size
        joint = torch.stack(labels[::-1], dim=1)
        return joint, self.sums[present] / self.counts[present, None]
