"""Auxiliary-task discovery (Detaux, Skenderi et al., ICIAP 2025, section 4.2): cluster the most
disentangled subspace of product-space codes into the labels of a new auxiliary task.

Reading order: choosing the subspace (``_subspaces``: dead subspaces, the distance and
orthogonality rules, ``rank_subspaces``) → clustering it (``_clustering``: HDBSCAN, KMeans or
MeanShift on a subsample, nearest-neighbour labelling of the rest) → the scikit-learn estimator
``AuxiliaryTaskDiscovery`` (``_estimator``) → how the labels agree with the principal labels and
known factors (``_agreement``).
"""

from orthomtl.discovery._agreement import contingency, factor_agreement, label_agreement
from orthomtl.discovery._estimator import AuxiliaryTaskDiscovery, DiscoveryFailed
from orthomtl.discovery._subspaces import rank_subspaces

__all__ = [
    "AuxiliaryTaskDiscovery",
    "DiscoveryFailed",
    "contingency",
    "factor_agreement",
    "label_agreement",
    "rank_subspaces",
]
