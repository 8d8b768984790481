"""orthomtl: multi-task learning in structured latent spaces.

Importing the package registers the built-in datasets, encoders and methods.
"""

from orthomtl import data, methods, nn  # noqa: F401  (registration side effects)
from orthomtl.api import RunResult, load, resume, run
from orthomtl.config import Config, ConfigError, load_config
from orthomtl.data import Batch, TaskData
from orthomtl.engine import TrainedModel
from orthomtl.methods.domain_expansion import ConceptAlgebra
from orthomtl.registry import DATASETS, ENCODERS, METHODS
from orthomtl.tasks import Task

__version__ = "0.1.0"

__all__ = [
    "DATASETS",
    "ENCODERS",
    "METHODS",
    "Batch",
    "ConceptAlgebra",
    "Config",
    "ConfigError",
    "RunResult",
    "Task",
    "TaskData",
    "TrainedModel",
    "load",
    "load_config",
    "resume",
    "run",
]
