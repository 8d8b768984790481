"""Detaux's five losses (paper appendix A, eqs. 5 and 7–10) as pure functions of tensors.

Codes are (B, K, d): B images, K subspaces, s_i ∈ R^d. A pair batch holds the B first images
and then their B partners. Every function is vectorised over the batch and the subspaces.
"""

from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional as F

Hinge = Literal["paper", "authors"]

AUTHORS_HINGE_WEIGHT = 10.0
"""The weight of the authors' code's hinge term on δ², ``hinge="authors"``."""


def reconstruction_loss(x: Tensor, reconstruction: Tensor) -> Tensor:
    """L_rec (eq. 5): the mean squared error between the images and g(Σ_i s_i(x)) (eq. 6)."""
    return F.mse_loss(reconstruction, x)


def sparsity_loss(codes: Tensor) -> Tensor:
    """L_spar (eq. 8): Σ_i ‖s_i ⊙ Σ_{j≠i} s_j‖₁, averaged over the batch.

    Args:
        codes: (B, K, d).
    """
    others = codes.sum(dim=1, keepdim=True) - codes
    return (codes * others).abs().sum(dim=(1, 2)).mean()


def subspace_distances(first: Tensor, second: Tensor) -> Tensor:
    """δ_i = ‖s_i(x₁) − s_i(x₂)‖₂ for every pair and subspace: (B, K, d) × 2 → (B, K)."""
    return torch.linalg.vector_norm(first - second, dim=-1)


def code_lengths(codes: Tensor) -> Tensor:
    """The average code length ‖s_i‖₂ per subspace over a batch (B, K, d) → (K,): the scale
    by which the oracle normalises distances (paper section 4.1)."""
    return torch.linalg.vector_norm(codes, dim=-1).mean(dim=0)


def distance_loss(
    distances: Tensor, choice: Tensor, margin: float, hinge: Hinge = "paper"
) -> Tensor:
    """L_dist (eq. 7): Σ_i (1 − λ_i) δ_i² + λ_i max(m − δ_i, 0)², averaged over the pairs.

    Args:
        distances: δ (B, K).
        choice: λ (B, K), the oracle's (soft) choice of the subspace in which each pair differs.
        margin: m, the distance the chosen subspace is pushed to.
        hinge: ``"authors"`` uses the authors' code's hinge instead,
            ``AUTHORS_HINGE_WEIGHT`` · max(m − δ_i², 0)².
    """
    pull = (1 - choice) * distances.square()
    if hinge == "paper":
        push = choice * (margin - distances).clamp_min(0).square()
    else:
        push = AUTHORS_HINGE_WEIGHT * choice * (margin - distances.square()).clamp_min(0).square()
    return (pull + push).sum(dim=1).mean()


def swap_codes(
    first: Tensor, second: Tensor, pair: Tensor, subspace: Tensor
) -> tuple[Tensor, Tensor]:
    """The swapped latents of eq. 9 and the codes they must give back.

    For each (pair b, subspace i): image 2's codes with subspace i taken from image 1,
    ``target[n] = s(x₂_b)`` with row i replaced by s_i(x₁_b), and the latent to decode,
    ``latent[n] = Σ_k target[n, k]``.

    Args:
        first, second: the codes (B, K, d) of the first and second images of the pairs.
        pair, subspace: (n,) indices of the pairs and subspaces swapped.

    Returns:
        latent (n, d) and target (n, K, d).
    """
    swap = F.one_hot(subspace, first.shape[1]).unsqueeze(-1).to(first.dtype)
    target = second[pair] * (1 - swap) + first[pair] * swap
    return target.sum(dim=1), target


def consistency_loss(recoded: Tensor, target: Tensor) -> Tensor:
    """L_cons (eq. 9): the mean squared error between p(f(g(z̃))) and the codes z̃ was made of.
    Eq. 9 writes only the swapped subspace's term; we ask every subspace's code to come back,
    the swapped one and the others, so that each projector ignores the other subspaces.

    Args:
        recoded: (n, K, d), the re-encoded codes of the decoded swapped latents.
        target: (n, K, d), from ``swap_codes``.
    """
    return F.mse_loss(recoded, target)


def balance_loss(assignment: Tensor) -> Tensor:
    """L_reg (eq. 10): Σ_j (mean_n A_nj − 1/K)², pushing the oracle's choices to spread evenly
    over the K subspaces.

    Args:
        assignment: A (N, K), a differentiable soft choice per pair (rows sum to 1); its
            gradient must not be cut, or the term does not train.
    """
    subspaces = assignment.shape[1]
    return (assignment.mean(dim=0) - 1 / subspaces).square().sum()
