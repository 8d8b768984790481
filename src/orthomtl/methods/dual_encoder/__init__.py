"""The dual encoder for heterogeneous tabular tasks (arXiv 2505.24281), and its baselines.

The paper's full text is not public here: what follows is our reconstruction (our notes, section
"Dual encoder"), with our choices stated where they are made.

Read it in this order:

1. ``DualEncoderMTL`` (``_model``): ŷ = α_rᵀS_r(x) + β_rᵀC(x) + b_r for G configurations side by
   side, the encoders as batched stacks of small MLPs (``orthomtl.nn.StackedMLP``), the inputs
   standardised on the training split.
2. The coefficient step (``_proximal``): proximal gradient steps toward the centres (group soft
   thresholding) and gradient steps on the centres; the same solver fits ridge and ARMUL.
3. ``TabularMTL`` (``_method``): one engine epoch is one round (Adam on the encoders with the
   per-task mean loss and the orthogonality penalty ``orthomtl.losses.orthogonality_penalty``,
   then the coefficient step), early stopping per task (``_snapshots``), selection and the
   gain of sharing with ``fallback: stl`` (``_selection``).
4. The registered methods (``_variants``): ``dual-encoder`` and the baselines ``shared-only``,
   ``specific-only``, ``single-task-mlp``, ``pooled-mlp``, ``armul``, ``single-task-ridge``,
   ``pooled-ridge``.
5. Transfer (``_transfer``): ``dual-encoder-transfer`` fits a new task on a finished run's frozen
   shared encoder, against the same task fitted alone.
"""

from orthomtl.methods.dual_encoder._method import TabularMTL
from orthomtl.methods.dual_encoder._model import Configuration, DualEncoderMTL, configuration_grid
from orthomtl.methods.dual_encoder._network import DualEncoderNetwork
from orthomtl.methods.dual_encoder._proximal import (
    Coefficients,
    Penalties,
    TaskLinearProblem,
    group_soft_threshold,
    penalty_value,
    prox_toward_centre,
    proximal_steps,
)
from orthomtl.methods.dual_encoder._selection import SharingGain, select, sharing_gain
from orthomtl.methods.dual_encoder._snapshots import TaskSnapshots
from orthomtl.methods.dual_encoder._transfer import DualEncoderTransfer, load_source
from orthomtl.methods.dual_encoder._variants import (
    ARMUL,
    DualEncoder,
    PooledMLP,
    PooledRidge,
    SharedOnly,
    SingleTaskMLP,
    SingleTaskRidge,
    SpecificOnly,
)

__all__ = [
    "ARMUL",
    "Coefficients",
    "Configuration",
    "DualEncoder",
    "DualEncoderMTL",
    "DualEncoderNetwork",
    "DualEncoderTransfer",
    "Penalties",
    "PooledMLP",
    "PooledRidge",
    "SharedOnly",
    "SharingGain",
    "SingleTaskMLP",
    "SingleTaskRidge",
    "SpecificOnly",
    "TabularMTL",
    "TaskLinearProblem",
    "TaskSnapshots",
    "configuration_grid",
    "group_soft_threshold",
    "load_source",
    "penalty_value",
    "prox_toward_centre",
    "proximal_steps",
    "select",
    "sharing_gain",
]
