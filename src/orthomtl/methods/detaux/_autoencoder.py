"""Detaux's product-space autoencoder (paper eq. 1): x → f → {p_i} → s_i → Σ_i s_i → g → x̃.

The K projectors are two-layer MLPs R^d → R^d (Linear, ReLU, Linear). They are held as stacked
weights (K, d, d) and applied to the whole batch in one batched product, not as K modules in a
Python loop; each is initialised as ``nn.Linear`` would be.
"""

import math

import torch
from torch import Tensor, nn

from orthomtl.methods.detaux._losses import swap_codes
from orthomtl.nn import Decoder, Encoder


class Projectors(nn.Module):
    """K two-layer MLPs p_i: R^d → R^d applied together: (B, d) → (B, K, d)."""

    def __init__(self, subspaces: int, dim: int) -> None:
        super().__init__()
        if subspaces < 2:
            raise ValueError(f"Detaux needs at least 2 subspaces, got {subspaces}.")
        if dim < 1:
            raise ValueError(f"The subspace dimension must be >= 1, got {dim}.")
        self.subspaces, self.dim = subspaces, dim
        self.weight1 = nn.Parameter(torch.empty(subspaces, dim, dim))
        self.bias1 = nn.Parameter(torch.empty(subspaces, dim))
        self.weight2 = nn.Parameter(torch.empty(subspaces, dim, dim))
        self.bias2 = nn.Parameter(torch.empty(subspaces, dim))
        bound = 1 / math.sqrt(dim)  # nn.Linear's default: U(±1/√fan_in) for weight and bias
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def forward(self, z: Tensor) -> Tensor:
        """s_i = W2_i relu(W1_i z + b1_i) + b2_i for every subspace i: (B, d) → (B, K, d)."""
        hidden = torch.relu(torch.einsum("bd,ked->bke", z, self.weight1) + self.bias1)
        return torch.einsum("bkd,ked->bke", hidden, self.weight2) + self.bias2


class ProductSpaceAutoencoder(nn.Module):
    """Encoder f, K projectors p_i and decoder g of Σ_i s_i (Detaux, eq. 1).

    Args:
        encoder: any ``orthomtl.nn.Encoder`` whose latent width is the subspace dimension d.
        decoder: a ``Decoder`` from R^d back to the encoder's input shape.
        subspaces: K, the number of subspaces (10 in the paper).

    ``forward(x, swaps)`` does a whole training step's network work in one call, so that DDP
    sees one forward per step.
    """

    def __init__(self, encoder: Encoder, decoder: Decoder, subspaces: int) -> None:
        super().__init__()
        dim = encoder.latent_dim
        if decoder.latent_dim != dim:
            raise ValueError(
                f"The decoder reads latents of width {decoder.latent_dim}, but the encoder gives "
                f"{dim}; both must be the subspace dimension."
            )
        if tuple(decoder.output_shape) != tuple(encoder.input_shape):
            raise ValueError(
                f"The decoder outputs {decoder.output_shape}, the encoder reads "
                f"{encoder.input_shape}; they must match."
            )
        self.encoder, self.decoder = encoder, decoder
        self.projectors = Projectors(subspaces, dim)

    @property
    def subspaces(self) -> int:
        return self.projectors.subspaces

    def codes(self, x: Tensor) -> Tensor:
        """The subspace codes s_i(x) = p_i(f(x)): (B, K, d)."""
        return self.projectors(self.encoder(x))

    def decode(self, codes: Tensor) -> Tensor:
        """g(Σ_i s_i): images from codes (B, K, d)."""
        return self.decoder(codes.sum(dim=1))

    def forward(
        self, x: Tensor, swaps: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Codes (2B, K, d) and reconstruction of the pair batch ``x`` (the B first images, then
        their B partners). With ``swaps`` = (pair, subspace) indices (n,), also the consistency
        loss's re-encoded codes (n, K, d) of the decoded swapped latents and their targets
        (``swap_codes``, eq. 9)."""
        codes = self.codes(x)
        reconstruction = self.decode(codes)
        if swaps is None:
            return codes, reconstruction, None, None
        half = codes.shape[0] // 2
        latent, target = swap_codes(codes[:half], codes[half:], *swaps)
        return codes, reconstruction, self.codes(self.decoder(latent)), target
