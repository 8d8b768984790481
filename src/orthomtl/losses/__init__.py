"""Loss functions. Task losses skip missing labels (NaN for regression and angles, -1 for classes).

- ``_task``: the default loss of each task kind (``task_loss``) and the masked losses behind it;
- ``_contrastive``: Rank-N-Contrast (Zha et al., 2023) and SupCon with an L2 distance (Domain
  Expansion's per-axis losses);
- ``_orthogonality``: the dual encoder's penalty Σ_r ‖S̄_rᵀC̄_r‖_F² between task-specific and
  shared latents.
"""

from orthomtl.losses._contrastive import RankNContrastLoss, SupConL2Loss
from orthomtl.losses._orthogonality import orthogonality_penalty, task_cross_covariance
from orthomtl.losses._task import (
    RegressionLoss,
    angle_loss,
    masked_circular_l1,
    masked_cross_entropy,
    masked_l1,
    masked_mse,
    task_loss,
)

__all__ = [
    "RankNContrastLoss",
    "RegressionLoss",
    "SupConL2Loss",
    "angle_loss",
    "masked_circular_l1",
    "masked_cross_entropy",
    "masked_l1",
    "masked_mse",
    "orthogonality_penalty",
    "task_cross_covariance",
    "task_loss",
]
