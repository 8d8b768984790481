"""Orthogonal pooling (Domain Expansion, arXiv 2601.20069): one aligned eigen-axis of the latent
covariance per task.

Reading order: ``PoolingOptions`` (``_options``) → the streamed float64 statistics
(``_statistics``) → ``OrthogonalPooling`` (``_orthogonal``: projection, refresh, alignment) → the
eigen solvers and the Hungarian alignment (``_eigen``) → which axes a task owns (``_task_axes``).
"""

from orthomtl.pooling._eigen import NearEqualEigenvaluesWarning
from orthomtl.pooling._options import PoolingOptions, RefreshMode, Solver
from orthomtl.pooling._orthogonal import OrthogonalPooling, statistics_buffer_names
from orthomtl.pooling._statistics import (
    GRAM_MAX_ROWS,
    PENDING_ROWS,
    DegenerateStatisticsError,
    StreamingStatistics,
    gram_rows,
    row_capacity,
)
from orthomtl.pooling._task_axes import TaskAxes, axes_count, check_layout, task_axes

__all__ = [
    "GRAM_MAX_ROWS",
    "PENDING_ROWS",
    "DegenerateStatisticsError",
    "NearEqualEigenvaluesWarning",
    "OrthogonalPooling",
    "PoolingOptions",
    "RefreshMode",
    "Solver",
    "StreamingStatistics",
    "TaskAxes",
    "axes_count",
    "check_layout",
    "gram_rows",
    "row_capacity",
    "statistics_buffer_names",
    "task_axes",
]
