"""Hard parameter sharing and the baselines every other method is compared with.

- ``HPS`` (``_hps``): one shared encoder, a head per task, the task losses combined by a TorchJD
  loss weighting (``_weighting``) or the per-task gradients by a TorchJD aggregator
  (``_aggregation``);
- ``STL`` (``_stl``): single-task learning, an encoder and a head per task.
"""

from orthomtl.methods.hps._aggregation import AggregatorName, aggregate_backward, build_aggregator
from orthomtl.methods.hps._hps import HPS, SharedEncoderNetwork
from orthomtl.methods.hps._stl import STL, SingleTaskNetworks
from orthomtl.methods.hps._weighting import (
    LossWeighting,
    build_scalarizer,
    load_weighting_state,
    weighting_state,
)

__all__ = [
    "HPS",
    "STL",
    "AggregatorName",
    "LossWeighting",
    "SharedEncoderNetwork",
    "SingleTaskNetworks",
    "aggregate_backward",
    "build_aggregator",
    "build_scalarizer",
    "load_weighting_state",
    "weighting_state",
]
