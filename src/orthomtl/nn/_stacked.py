"""Many small MLPs of one shape, applied side by side as batched matrix products.

Tabular multi-task models have many small networks: one encoder per task, and, when several
hyper-parameter configurations train at once, one per configuration. Looping over them in Python
costs far more than their arithmetic, so ``StackedMLP`` holds ``n`` independent MLPs as stacked
weights (n, in, out) and applies each layer to all of them with one ``baddbmm``.

``RowGroups`` arranges the rows of a multi-source batch (each row belongs to one source) into a
zero-padded block (sources, m, features), so that source r's rows meet source r's network, and back.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import Tensor, nn

from orthomtl.nn._encoders import ACTIVATIONS

StackedLayers = list[tuple[Tensor, Tensor]]
"""Per layer, the weights (..., in, out) and biases (..., out) of stacked MLPs."""


def apply_stacked(layers: StackedLayers, x: Tensor, activation: nn.Module) -> Tensor:
    """Stacked MLPs on ``x`` (n, rows, in) → (n, rows, out): ``activation`` between layers.

    ``layers`` may be a module's own parameters or copies of them (a snapshot of earlier weights).
    """
    for i, (weight, bias) in enumerate(layers):
        x = torch.baddbmm(bias.unsqueeze(-2), x, weight)
        if i < len(layers) - 1:
            x = activation(x)
    return x


class StackedMLP(nn.Module):
    """``n`` independent MLPs ``in_dim → hidden… → out_dim``, initialised as ``nn.Linear`` is.

    Args:
        n: number of networks.
        in_dim: input width.
        hidden: hidden widths (empty: one linear layer).
        out_dim: output width.
        activation: one of ``orthomtl.nn.ACTIVATIONS``.
    """

    def __init__(
        self,
        n: int,
        in_dim: int,
        hidden: Sequence[int],
        out_dim: int,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        widths = [int(in_dim), *(int(h) for h in hidden), int(out_dim)]
        if n < 1 or min(widths) < 1:
            raise ValueError(
                f"StackedMLP needs n >= 1 and widths >= 1; got n={n}, widths={widths}."
            )
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"Unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}."
            )
        self.n, self.widths, self.activation_name = n, widths, activation
        self.activation = ACTIVATIONS[activation]()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for width_in, width_out in pairwise(widths):
            bound = 1 / math.sqrt(width_in)
            self.weights.append(nn.Parameter(torch.empty(n, width_in, width_out)))
            self.biases.append(nn.Parameter(torch.empty(n, width_out)))
            nn.init.uniform_(self.weights[-1], -bound, bound)
            nn.init.uniform_(self.biases[-1], -bound, bound)

    def layers(self) -> StackedLayers:
        return list(zip(self.weights, self.biases, strict=True))

    def forward(self, x: Tensor) -> Tensor:
        """(n, rows, in_dim) → (n, rows, out_dim); network i sees ``x[i]``."""
        return apply_stacked(self.layers(), x, self.activation)


@dataclass(frozen=True)
class RowGroups:
    """Where each row of a multi-source batch sits in a padded (sources, size, …) block.

    Build it with ``RowGroups.of(source, num_sources)``: row i goes to ``(source[i], slot[i])``,
    its rank among the rows of its source, and ``size`` is the largest source's row count.
    """

    source: Tensor
    slot: Tensor
    size: int
    num_sources: int

    @classmethod
    def of(cls, source: Tensor, num_sources: int) -> "RowGroups":
        source = source.long()
        counts = torch.bincount(source, minlength=num_sources)
        order = torch.argsort(source, stable=True)
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.empty_like(source)
        slot[order] = torch.arange(source.numel(), device=source.device) - starts[source[order]]
        size = int(counts.max()) if source.numel() else 0
        return cls(source, slot, size, num_sources)

    def pack(self, rows: Tensor) -> Tensor:
        """(…, N, F) → (…, sources, size, F), with zeros where a source has fewer rows."""
        block = rows.new_zeros(*rows.shape[:-2], self.num_sources, self.size, rows.shape[-1])
        block[..., self.source, self.slot, :] = rows
        return block

    def unpack(self, block: Tensor) -> Tensor:
        """(…, sources, size, F) → (…, N, F): each row's entry, in the batch's row order."""
        return block[..., self.source, self.slot, :]
