"""Detaux's training objective (paper eq. 2/4) and its warm-up schedule.

L = L_rec + β1 (λ_dist L_dist + λ_spar L_spar) + β2 λ_cons L_cons + β3 λ_reg L_reg.

Schedule over E epochs (paper section 5; NOTES.md): the first quarter trains L_rec alone; after
it β1 = β3 = min(exp(25/E · (e − 0.4 E)), 1) and β2 = min(exp(25/E · (e − 0.5 E)), 1); L_cons is
computed only once β2 > 0.01. ``beta3="authors"`` uses the authors' code's β3 = 1 − β1 instead.
"""

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from orthomtl.data import random_uniform
from orthomtl.methods.detaux._losses import (
    Hinge,
    balance_loss,
    code_lengths,
    consistency_loss,
    distance_loss,
    reconstruction_loss,
    sparsity_loss,
    subspace_distances,
)
from orthomtl.methods.detaux._oracle import PrincipalOracle

Beta3 = Literal["paper", "authors"]
CONSISTENCY_THRESHOLD = 0.01
"""L_cons is switched on once β2 exceeds this."""
_SWAP_STREAM = 0x5EED_C0DE
"""Offset of the consistency swaps' random stream from the pairs' (both key on the anchor)."""


@dataclass(frozen=True)
class Betas:
    """The multipliers β1 (dist, spar), β2 (cons) and β3 (reg) of one epoch."""

    dist: float
    cons: float
    reg: float

    @property
    def consistency_on(self) -> bool:
        return self.cons > CONSISTENCY_THRESHOLD


FULL = Betas(1.0, 1.0, 1.0)
"""Every term at full weight: how validation scores the model, whatever the epoch."""


def warmup(epoch: int, epochs: int, beta3: Beta3 = "paper") -> Betas:
    """The β multipliers of ``epoch`` (0-based) of ``epochs``; see the module docstring."""
    if epoch < epochs / 4:
        return Betas(0.0, 0.0, 1.0 if beta3 == "authors" else 0.0)
    beta1 = min(math.exp(25 / epochs * (epoch - 0.4 * epochs)), 1.0)
    beta2 = min(math.exp(25 / epochs * (epoch - 0.5 * epochs)), 1.0)
    return Betas(beta1, beta2, 1 - beta1 if beta3 == "authors" else beta1)


@dataclass(frozen=True)
class LossOptions:
    """The loss weights λ and the losses' own settings (defaults: NOTES.md)."""

    dist_weight: float = 0.1
    spar_weight: float = 0.1
    cons_weight: float = 100.0
    reg_weight: float = 1e-4
    margin: float = 0.25
    hinge: Hinge = "paper"
    reg_temperature: float = 0.1
    """Temperature of the soft choice A in L_reg (eq. 10). The paper leaves it open; the oracle's
    1e-3 makes A one-hot and its gradient vanish, so L_reg would not train."""
    beta3: Beta3 = "paper"

    def __post_init__(self) -> None:
        for name in ("dist_weight", "spar_weight", "cons_weight", "reg_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"method.{name} must be >= 0, got {getattr(self, name)}.")
        if not self.margin > 0:
            raise ValueError(f"method.margin must be > 0, got {self.margin}.")
        if not self.reg_temperature > 0:
            raise ValueError(f"method.reg_temperature must be > 0, got {self.reg_temperature}.")
        if self.hinge not in ("paper", "authors"):
            raise ValueError(f"method.hinge must be 'paper' or 'authors', got {self.hinge!r}.")
        if self.beta3 not in ("paper", "authors"):
            raise ValueError(f"method.beta3 must be 'paper' or 'authors', got {self.beta3!r}.")


def swap_draws(
    anchors: np.ndarray, subspaces: int, *, seed: int, epoch: int, fixed: bool
) -> tuple[Tensor, Tensor]:
    """The consistency loss's 2B (pair, subspace) swaps out of the K·B, as NOTES.md says: two
    distinct random subspaces per pair, drawn from (seed, epoch, anchor index) so that a resumed
    or distributed run swaps the same ones.

    Returns:
        pair (2B,) and subspace (2B,) int64 tensors.
    """
    keys = np.concatenate([2 * anchors, 2 * anchors + 1]).astype(np.uint64)
    u = random_uniform(keys, seed=seed + _SWAP_STREAM, epoch=epoch, fixed=fixed)
    first, second = np.split(u, 2)
    one = np.floor(first * subspaces).astype(np.int64)
    other = (one + 1 + np.floor(second * (subspaces - 1)).astype(np.int64)) % subspaces
    pairs = np.arange(len(anchors), dtype=np.int64)
    return torch.from_numpy(np.concatenate([pairs, pairs])), torch.from_numpy(
        np.concatenate([one, other])
    )


class DetauxObjective:
    """The terms of L for one pair batch, and their weighted total.

    Args:
        options: the weights and settings.
        oracle: the principal-task oracle.
    """

    def __init__(self, options: LossOptions, oracle: PrincipalOracle) -> None:
        self.options, self.oracle = options, oracle

    def pair_terms(self, first: Tensor, second: Tensor, differs: Tensor) -> dict[str, Tensor]:
        """L_dist and L_reg of pairs whose codes are ``first`` and ``second`` (B, K, d).

        The code lengths that normalise the distances are the batch's, over both images.
        """
        distances = subspace_distances(first, second)
        lengths = code_lengths(torch.cat([first, second]))
        choice = self.oracle(distances.detach(), lengths.detach(), differs)
        soft = self.oracle(distances, lengths, differs, self.options.reg_temperature)
        return {
            "dist": distance_loss(distances, choice, self.options.margin, self.options.hinge),
            "reg": balance_loss(soft),
        }

    def terms(
        self,
        x: Tensor,
        reconstruction: Tensor,
        codes: Tensor,
        pair_terms: dict[str, Tensor],
        recoded: Tensor | None,
        target: Tensor | None,
    ) -> dict[str, Tensor]:
        """Every term: rec and spar over all 2B images, dist and reg (``pair_terms``), and cons
        when the swapped codes are given."""
        out = {
            "rec": reconstruction_loss(x, reconstruction),
            "spar": sparsity_loss(codes),
            **pair_terms,
        }
        if recoded is not None and target is not None:
            out["cons"] = consistency_loss(recoded, target)
        return out

    def total(self, terms: dict[str, Tensor], betas: Betas) -> Tensor:
        """L (eq. 2) under the multipliers ``betas``; a missing cons term counts as 0."""
        o = self.options
        total = terms["rec"] + betas.dist * (
            o.dist_weight * terms["dist"] + o.spar_weight * terms["spar"]
        )
        total = total + betas.reg * o.reg_weight * terms["reg"]
        if "cons" in terms:
            total = total + betas.cons * o.cons_weight * terms["cons"]
        return total
