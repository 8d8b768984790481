"""Methods register themselves in ``orthomtl.registry.METHODS`` when imported."""

from orthomtl.methods.base import Method
from orthomtl.methods.domain_expansion import DomainExpansion
from orthomtl.methods.hps import HPS
from orthomtl.methods.stl import STL

__all__ = ["HPS", "STL", "DomainExpansion", "Method"]
