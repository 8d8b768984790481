"""The engine: one training loop on Lightning Fabric that every method reuses.

Reading order:

- ``Method`` and ``Stage`` (``_method``): the contract a method fulfils;
- ``Engine`` (``_loop``): epochs, validation, early stopping, checkpoints, logs, exact resume,
  and the ``Callback`` hooks it calls; its data loaders are in ``_loaders``;
- ``train_stages`` (``_stages``): a method's training followed by the stages it asks for;
- ``TrainedModel`` (``_trained``): a finished run's model for inference;
- what a checkpoint holds (``_state``: ``Progress`` and the full training state); helpers:
  checkpoint files (``_checkpoint``), run directories and ``results.json``
  (``_rundir``), the CSV and TensorBoard logs (``_logger``), optimisers and schedules
  (``_optim``), and multi-process helpers (``_distributed``).
"""

from orthomtl.engine._checkpoint import CheckpointError, check_readable, read_checkpoint
from orthomtl.engine._distributed import gather_global_batch
from orthomtl.engine._loop import Callback, Engine, check_callbacks
from orthomtl.engine._method import (
    LinearReadouts,
    Method,
    ReduceSum,
    SharedTaskLosses,
    SplitBatches,
    Stage,
    TrainSubset,
)
from orthomtl.engine._optim import LearningRateFactor, build_optimizer, build_scheduler
from orthomtl.engine._rundir import (
    load_arrays,
    new_run_dir,
    read_config,
    read_results,
    save_arrays,
    save_config,
    write_results,
    write_text_atomic,
)
from orthomtl.engine._stages import StagesResult, train_stages
from orthomtl.engine._state import Progress
from orthomtl.engine._trained import TrainedModel

__all__ = [
    "Callback",
    "CheckpointError",
    "Engine",
    "LearningRateFactor",
    "LinearReadouts",
    "Method",
    "Progress",
    "ReduceSum",
    "SharedTaskLosses",
    "SplitBatches",
    "Stage",
    "StagesResult",
    "TrainSubset",
    "TrainedModel",
    "build_optimizer",
    "build_scheduler",
    "check_callbacks",
    "check_readable",
    "gather_global_batch",
    "load_arrays",
    "new_run_dir",
    "read_checkpoint",
    "read_config",
    "read_results",
    "save_arrays",
    "save_config",
    "train_stages",
    "write_results",
    "write_text_atomic",
]
