"""Metrics as plain functions of tensors or arrays; the stateful classes in ``orthomtl.metrics``
accumulate their sums.

- ``_tasks``: accuracy, MAE, circular MAE, Δm, mean ± std over seeds, and the update/compute pair
  of the task metrics;
- ``_latent``: how well latent axes encode a task (pairwise-distance Spearman, V-score), on Domain
  Expansion's own axes;
- ``_pca_axes``: the same on a baseline's top PCA axes;
- ``_latent_model``: the validated model composition works on (μ, task axes, readouts, centres);
- ``_composition``: concept composition c_p ⊕ (c_q ⊖ c_p), per-task or stacked;
- ``_composition_score``: its similarity score on a test set, with floor and ceiling, and the
  class centres it moves class tasks to;
- ``_neural_collapse``: NC1–NC4 per task, cross-task head coherence, feature-sum alignment, the
  effective rank (RankMe) and gradient conflict;
- ``_checks``: the input checks they share.
"""

from orthomtl.metrics.functional._composition import (
    ClassTarget,
    Solve,
    check_composition_options,
    compose,
)
from orthomtl.metrics.functional._composition_score import (
    CompositionScore,
    class_centres,
    composition_similarity,
)
from orthomtl.metrics.functional._latent import (
    AxisScore,
    pairwise_distance_spearman,
    score_on_axes,
    v_score,
)
from orthomtl.metrics.functional._neural_collapse import (
    CrossTaskCoherence,
    GradientConflict,
    cross_task_coherence,
    effective_rank,
    feature_sum_alignment,
    gradient_conflict,
    nc1,
    nc2,
    nc3,
    nc4_counts,
)
from orthomtl.metrics.functional._pca_axes import MAX_SPLITS, score_on_pca_axes
from orthomtl.metrics.functional._tasks import (
    accuracy,
    circular_mae,
    delta_m,
    mae,
    mean_std,
    task_metrics,
    task_metrics_compute,
    task_metrics_update,
)

__all__ = [
    "MAX_SPLITS",
    "AxisScore",
    "ClassTarget",
    "CompositionScore",
    "CrossTaskCoherence",
    "GradientConflict",
    "Solve",
    "accuracy",
    "check_composition_options",
    "circular_mae",
    "class_centres",
    "compose",
    "composition_similarity",
    "cross_task_coherence",
    "delta_m",
    "effective_rank",
    "feature_sum_alignment",
    "gradient_conflict",
    "mae",
    "mean_std",
    "nc1",
    "nc2",
    "nc3",
    "nc4_counts",
    "pairwise_distance_spearman",
    "score_on_axes",
    "score_on_pca_axes",
    "task_metrics",
    "task_metrics_compute",
    "task_metrics_update",
    "v_score",
]
