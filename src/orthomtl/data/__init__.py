"""Datasets: the embedded default, a procedural renderer, and loaders for files the user points at.

Importing this package registers every built-in dataset in ``orthomtl.registry.DATASETS``.
"""

from orthomtl.data import dsprites, image_npz, mnist, rotated_digits, shapes, shapes3d  # noqa: F401
from orthomtl.data.base import ArrayDataset, Batch, DatasetInfo, TaskData, TaskDataset

__all__ = ["ArrayDataset", "Batch", "DatasetInfo", "TaskData", "TaskDataset"]
