"""Domain Expansion's objective (arXiv 2601.20069): each task's loss on its own block of axes.

L = Σ_m w_m L_m(c_{A_m}), where A_m are the coefficient columns task m owns
(``orthomtl.pooling.task_axes``) and L_m is Rank-N-Contrast (``RankNContrastLoss``; L1 label
distance, circular for angles) for a regression or angle task and SupCon with an L2 distance
(``SupConL2Loss``) for a class task. A task's loss never sees another task's columns.
"""

from collections.abc import Mapping, Sequence

from torch import Tensor

from orthomtl.losses import RankNContrastLoss, SupConL2Loss
from orthomtl.pooling import TaskAxes
from orthomtl.tasks import Task


class AxisLosses:
    """The per-task losses on their axes, and their weighted sum.

    Args:
        tasks: the tasks, in the order of ``axes``.
        axes: per task its columns of the coefficients.
        rnc_weight, supcon_weight: w_m of regression/angle tasks and of class tasks.
        rnc_temperature, supcon_temperature: τ of Rank-N-Contrast and of SupCon-L2.
        supcon_base_temperature: SupCon-L2 scaled by τ/τ_b (``SupConL2Loss``); ``None``: unscaled.
    """

    def __init__(
        self,
        tasks: Sequence[Task],
        axes: TaskAxes,
        *,
        rnc_weight: float,
        supcon_weight: float,
        rnc_temperature: float,
        supcon_temperature: float,
        supcon_base_temperature: float | None = None,
    ) -> None:
        self.tasks, self.axes = list(tasks), axes
        self.losses = {
            t.name: SupConL2Loss(supcon_temperature, supcon_base_temperature)
            if t.kind == "classification"
            else RankNContrastLoss(rnc_temperature, "circular" if t.kind == "angle" else "l1")
            for t in self.tasks
        }
        self.weights = {
            t.name: supcon_weight if t.kind == "classification" else rnc_weight for t in self.tasks
        }

    def __call__(self, coefficients: Tensor, targets: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """L_m per task name, for coefficients (n, M) and labels (n,) per task."""
        out = {}
        for task, columns in zip(self.tasks, self.axes, strict=True):
            labels = targets[task.name]
            z = coefficients[:, list(columns)]
            out[task.name] = self.losses[task.name](
                z, labels if task.kind == "classification" else labels.to(z.dtype)
            )
        return out

    def total(self, losses: Mapping[str, Tensor]) -> Tensor:
        """Σ_m w_m L_m."""
        return sum(self.weights[name] * loss for name, loss in losses.items())
