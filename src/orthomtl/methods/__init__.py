"""Methods: one package per method, each registered in ``orthomtl.registry.METHODS`` on import.

- ``hps``: hard parameter sharing with TorchJD loss weightings and aggregators, and single-task
  learning, the baselines every method is compared with;
- ``domain_expansion``: Domain Expansion's orthogonal axes, readouts and concept algebra;
- ``detaux``: Detaux's product-space autoencoder, auxiliary-task discovery and MTL stage;
- ``dual_encoder``: the dual encoder for heterogeneous tabular tasks and its baselines (ridge,
  pooled, shared-only, specific-only, single-task MLPs, ARMUL).

The contract a method fulfils is ``orthomtl.engine.Method``.
"""

from orthomtl.methods.detaux import Detaux
from orthomtl.methods.domain_expansion import ConceptAlgebra, DomainExpansion
from orthomtl.methods.dual_encoder import DualEncoder
from orthomtl.methods.hps import HPS, STL

__all__ = ["HPS", "STL", "ConceptAlgebra", "Detaux", "DomainExpansion", "DualEncoder"]
