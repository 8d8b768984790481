"""Loss functions. Task losses mask missing labels (NaN for regression and angles, -1 for classes).
"""

from orthomtl.losses.contrastive import RankNContrastLoss, SupConL2Loss
from orthomtl.losses.task import angle_loss, masked_cross_entropy, masked_l1

__all__ = [
    "RankNContrastLoss",
    "SupConL2Loss",
    "angle_loss",
    "masked_cross_entropy",
    "masked_l1",
]
