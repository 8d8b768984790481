"""Detaux (Skenderi et al., ICIAP 2025): disentangle around the principal task, discover
auxiliary tasks by clustering, train MTL on them.

Read it in this order; each step names the building block it composes.

1. ``Detaux`` (``_method``), stage 1. Pairs of images (``orthomtl.data.PairedDataset``: a share
   p of them differ in the principal label) go through the ``ProductSpaceAutoencoder``
   (``_autoencoder``): an encoder f (any ``orthomtl.nn`` encoder; ``product-space`` is the
   paper's), K projectors p_i applied as one batched product, and a decoder g of Σ_i s_i. The
   losses (``_losses``, paper eqs. 5, 7–10) are pure functions; ``PrincipalOracle`` (``_oracle``,
   eq. 3) says which subspace each pair differs in; ``DetauxObjective`` (``_objective``) weights
   them under the β warm-up.
2. Discovery (``_discover``), run by stage 1's ``next_stage``: embed every split
   (``_embedding``), rank the subspaces on validation pairs and cluster the k best on the
   training split (``orthomtl.discovery.AuxiliaryTaskDiscovery``), save the labels, the scores,
   the agreement with the principal task and the factors, and the plots (``_plots``) in
   ``<run_dir>/discovery``.
3. The MTL stage (``_mtl``): ``hps`` with any TorchJD weighting or aggregator on the principal
   and auxiliary tasks (``orthomtl.data.with_labels``), the principal loss weighted by
   ``principal_weight``.

Each stage can also start alone from the previous one's directory: ``discover_from_run``
(``_rediscover``; ``orthomtl discover RUN_DIR``) runs the discovery again with the trained
autoencoder, and the dataset ``detaux-labels`` (``_labels_dataset``) serves the run's data with
the auxiliary labels of a discovery directory to any method (``hps``, ``stl``, ...).
"""

from orthomtl.methods.detaux import _labels_dataset  # noqa: F401  (registers detaux-labels)
from orthomtl.methods.detaux._autoencoder import ProductSpaceAutoencoder, Projectors
from orthomtl.methods.detaux._losses import (
    balance_loss,
    code_lengths,
    consistency_loss,
    distance_loss,
    reconstruction_loss,
    sparsity_loss,
    subspace_distances,
    swap_codes,
)
from orthomtl.methods.detaux._method import Detaux
from orthomtl.methods.detaux._mtl import AuxiliaryHPS
from orthomtl.methods.detaux._objective import Betas, DetauxObjective, LossOptions, warmup
from orthomtl.methods.detaux._oracle import PrincipalOracle
from orthomtl.methods.detaux._rediscover import discover_from_run

__all__ = [
    "AuxiliaryHPS",
    "Betas",
    "Detaux",
    "DetauxObjective",
    "LossOptions",
    "PrincipalOracle",
    "ProductSpaceAutoencoder",
    "Projectors",
    "balance_loss",
    "code_lengths",
    "consistency_loss",
    "discover_from_run",
    "distance_loss",
    "reconstruction_loss",
    "sparsity_loss",
    "subspace_distances",
    "swap_codes",
    "warmup",
]
