"""Model selection by validation, and knowing when sharing hurts a task.

Each configuration g and task r has its best validation loss (``TaskSnapshots.best_loss``). A
multi-task method picks one configuration for all tasks, the one with the lowest mean over
tasks (each task counts the same, whatever its size); a single-task method picks per task. The
single-task fits trained alongside give each task a reference: the gain of sharing is the
single-task fit's validation loss minus the selected model's, with a standard error from the
paired per-row differences, and ``fallback: stl`` serves a task by its single-task fit exactly
when that gain is not positive (our answer to the paper's open question 4).
"""

from dataclasses import dataclass

import torch
from torch import Tensor


def select(best_loss: Tensor, candidates: Tensor, per_task: bool) -> Tensor:
    """The configuration serving each task, (R,): argmin over ``candidates`` (G,) bool of the
    mean best loss over tasks (``per_task=False``) or of each task's best loss."""
    masked = torch.where(candidates[:, None], best_loss, torch.full_like(best_loss, torch.inf))
    if per_task:
        return masked.argmin(0)
    mean = masked.mean(1)
    return mean.argmin().expand(best_loss.shape[1]).clone()


@dataclass
class SharingGain:
    """Per task: the validation loss of its single-task fit minus the selected model's (positive:
    sharing helps), its standard error, and the validation rows it rests on."""

    gain: Tensor
    standard_error: Tensor
    rows: Tensor

    def to_dict(self) -> dict[str, list[float]]:
        return {
            "gain": self.gain.tolist(),
            "standard_error": self.standard_error.tolist(),
            "rows": self.rows.tolist(),
        }


def sharing_gain(sum_diff: Tensor, sum_sq: Tensor, count: Tensor) -> SharingGain:
    """From per-task sums of the paired row differences d = ℓ_single − ℓ_selected, their squares
    and the row counts (all (R,), summed over processes): the mean of d and its standard error
    sd(d)/√n (sample sd, ddof = 1; NaN below two rows)."""
    n = count.clamp(min=1)
    mean = sum_diff / n
    var = (sum_sq - n * mean.pow(2)) / (count - 1).clamp(min=1)
    se = (var.clamp(min=0) / n).sqrt()
    return SharingGain(mean, torch.where(count > 1, se, torch.full_like(se, torch.nan)), count)


def fallback_to_single_task(selected: Tensor, single: Tensor, gain: Tensor) -> Tensor:
    """The serving configuration per task: the single-task fit's where the gain is ≤ 0."""
    return torch.where(gain <= 0, single, selected)
