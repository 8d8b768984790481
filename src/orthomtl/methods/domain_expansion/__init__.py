"""Domain Expansion (arXiv 2601.20069): one orthogonal latent axis per task.

Read it in this order; each step names the building block it composes.

1. ``DomainExpansion`` (``_expansion``), stage 1. An encoder (``orthomtl.nn.build_encoder``,
   without the bias of its last layer, which μ absorbs) maps two views of each image
   (``orthomtl.data.two_views``) to latents f. ``OrthogonalPooling``
   (``orthomtl.pooling``) projects f on M eigen-axes of its covariance, refreshed from statistics
   streamed during training and aligned across refreshes by the Hungarian algorithm; which axes
   belong to which task is ``orthomtl.pooling.task_axes``. Each task's loss sees only its own
   coefficients: ``RankNContrastLoss`` for regression and angles, ``SupConL2Loss`` for classes
   (``orthomtl.losses``; ``_axis_losses``). Under DDP the contrastive batch is the global one
   (``orthomtl.engine.gather_global_batch``). Evaluation scores each task on its axes
   (``orthomtl.metrics.functional.score_on_axes``).
2. ``DomainExpansionReadouts`` (``_readouts``), stage 2, returned by stage 1's ``next_stage``:
   the encoder and basis frozen (``ReadoutNetwork``, ``_readout_network``), one linear readout
   per task on f (or on its own coefficients with ``readout_span``), initialised along its axes,
   trained at 0.1 × the encoder's learning rate and weight decay, exposed as
   ``linear_readouts()``; the class tasks' centres are kept. Evaluation adds accuracy, MAE and
   the composition similarity with its floor and ceiling
   (``orthomtl.metrics.functional.composition_similarity``).
3. ``ConceptAlgebra`` (``_algebra``): edit one concept along its axes, in label units through
   the readouts or in coefficients, decode, and compose two samples
   (``orthomtl.metrics.functional.compose``: per task on its axes, or the paper's stacked solve).
"""

from orthomtl.methods.domain_expansion._algebra import ConceptAlgebra
from orthomtl.methods.domain_expansion._expansion import DomainExpansion, PooledEncoder
from orthomtl.methods.domain_expansion._readout_network import ReadoutNetwork
from orthomtl.methods.domain_expansion._readouts import DomainExpansionReadouts

__all__ = [
    "ConceptAlgebra",
    "DomainExpansion",
    "DomainExpansionReadouts",
    "PooledEncoder",
    "ReadoutNetwork",
]
