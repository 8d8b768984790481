"""The principal-task oracle of Detaux (paper eq. 3, section 4.1).

For a pair (x₁, x₂) the oracle names the subspace in which the pair differs. When the pair's
principal labels differ, that is the principal subspace α; otherwise it is the subspace i ≠ α
where the pair is farthest apart, by δ_i divided by the batch's average code length in subspace
i. The argmax is a softmax at a low temperature, so the choice λ is soft.
"""

import torch
from torch import Tensor, nn


class PrincipalOracle(nn.Module):
    """λ (B, K): which subspace each pair differs in (eq. 3), as a soft one-hot.

    Args:
        subspaces: K.
        principal_subspace: α, the subspace of the principal task (the paper's first).
        temperature: the softmax temperature that stands in for the argmax (1e-3).
    """

    def __init__(self, subspaces: int, principal_subspace: int = 0, temperature: float = 1e-3):
        super().__init__()
        if not 0 <= principal_subspace < subspaces:
            raise ValueError(
                f"method.principal_subspace must be in 0..{subspaces - 1} (there are "
                f"{subspaces} subspaces), got {principal_subspace}."
            )
        if not temperature > 0:
            raise ValueError(f"method.oracle_temperature must be > 0, got {temperature}.")
        self.subspaces, self.principal, self.temperature = (
            subspaces,
            principal_subspace,
            temperature,
        )

    def forward(
        self,
        distances: Tensor,
        lengths: Tensor,
        differs: Tensor,
        temperature: float | None = None,
    ) -> Tensor:
        """The oracle's choice for each pair.

        Args:
            distances: δ (B, K).
            lengths: the average code length per subspace (K,), ``code_lengths``.
            differs: (B,) bool, whether the pair's principal labels differ.
            temperature: overrides the oracle's (the balance loss uses a softer one).

        Returns:
            (B, K), each row summing to 1: one-hot on α where ``differs``; elsewhere a softmax of
            the normalised distances over the subspaces other than α. Differentiable in
            ``distances`` and ``lengths``; detach the inputs for the hard choice of L_dist.
        """
        scores = distances / lengths.clamp_min(torch.finfo(distances.dtype).tiny)
        scores = scores.index_fill(
            1, torch.tensor([self.principal], device=scores.device), -torch.inf
        )
        soft = torch.softmax(scores / (temperature or self.temperature), dim=1)
        principal = torch.zeros_like(soft)
        principal[:, self.principal] = 1
        return torch.where(differs.unsqueeze(1), principal, soft)
