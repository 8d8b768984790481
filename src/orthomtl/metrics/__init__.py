"""Metrics: a functional core (``functional``) and streaming accumulators that reduce across ranks.
"""

from orthomtl.metrics.composition import CompositionScore, compose, composition_similarity
from orthomtl.metrics.functional import accuracy, circular_mae, delta_m, mae, mean_std
from orthomtl.metrics.latent import (
    AxisScore,
    pairwise_distance_spearman,
    score_on_axes,
    score_on_pca_axes,
    v_score,
)
from orthomtl.metrics.tasks import TaskMetrics

__all__ = [
    "AxisScore",
    "CompositionScore",
    "TaskMetrics",
    "accuracy",
    "circular_mae",
    "compose",
    "composition_similarity",
    "delta_m",
    "mae",
    "mean_std",
    "pairwise_distance_spearman",
    "score_on_axes",
    "score_on_pca_axes",
    "v_score",
]
