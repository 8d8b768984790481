"""Datasets: the embedded default, a procedural renderer, and loaders for files the user points at.

Importing this package registers every built-in dataset in ``orthomtl.registry.DATASETS``. The
data contract (``TaskData`` of three ``TaskDataset`` splits yielding ``Batch``es) is in
``_base``; every random augmentation is a pure function of ``(seed, epoch, index)`` (``_augment``).
Wrappers serve a split as Detaux pairs (``_pairs``) or with added label tasks (``_labelled``).
Multi-source tables, one per task (``_multi_source``): ``tabular``, ``malsar``, ``hetero-sim``.
"""

from orthomtl.data import (  # noqa: F401  (registration side effects)
    _dsprites,
    _hetero_sim,
    _image_npz,
    _malsar,
    _mnist,
    _rotated_digits,
    _shapes,
    _shapes3d,
    _tabular,
)
from orthomtl.data._augment import SaltAndPepper, random_uniform, salt_and_pepper
from orthomtl.data._base import (
    ArrayDataset,
    Batch,
    BatchTransform,
    DatasetInfo,
    TaskData,
    TaskDataset,
    select_tasks,
    split_indices,
)
from orthomtl.data._distort import StrokeDistortion
from orthomtl.data._dsprites import load_dsprites
from orthomtl.data._hetero_design import HeteroDesign, SimulatedTasks, simulate_tasks
from orthomtl.data._hetero_sim import load_hetero_sim
from orthomtl.data._image_npz import load_image_npz
from orthomtl.data._labelled import WithLabels, with_labels
from orthomtl.data._malsar import load_malsar
from orthomtl.data._mnist import load_mnist
from orthomtl.data._multi_source import multi_source_data
from orthomtl.data._pairs import PairedDataset, draw_partners
from orthomtl.data._rotated_digits import load_rotated_digits
from orthomtl.data._rotation import RandomRotation, rotate
from orthomtl.data._sampler import GlobalBatchSampler
from orthomtl.data._shapes import ShapesDataset, load_shapes
from orthomtl.data._shapes3d import load_shapes3d
from orthomtl.data._shapes_render import intensity_maps, render
from orthomtl.data._tabular import load_tabular
from orthomtl.data._views import two_views

__all__ = [
    "ArrayDataset",
    "Batch",
    "BatchTransform",
    "DatasetInfo",
    "GlobalBatchSampler",
    "HeteroDesign",
    "PairedDataset",
    "RandomRotation",
    "SaltAndPepper",
    "ShapesDataset",
    "SimulatedTasks",
    "StrokeDistortion",
    "TaskData",
    "TaskDataset",
    "WithLabels",
    "draw_partners",
    "intensity_maps",
    "load_dsprites",
    "load_hetero_sim",
    "load_image_npz",
    "load_malsar",
    "load_mnist",
    "load_rotated_digits",
    "load_shapes",
    "load_shapes3d",
    "load_tabular",
    "multi_source_data",
    "random_uniform",
    "render",
    "rotate",
    "salt_and_pepper",
    "select_tasks",
    "simulate_tasks",
    "split_indices",
    "two_views",
    "with_labels",
]
