"""Task heads: map a latent (B, in_dim) to a task's raw output (B, out_dim).

Each is registered in :data:`orthomtl.registry.HEADS` under the name given in its docstring.
For a task, ``out_dim`` is :attr:`orthomtl.tasks.Task.output_dim`.
"""

from torch import Tensor, nn

from orthomtl.nn._base import check_input
from orthomtl.nn._encoders import make_mlp
from orthomtl.registry import HEADS


@HEADS.register("linear")
class LinearHead(nn.Module):
    """``linear``: a single linear layer.

    Args:
        in_dim: width of the input latents.
        out_dim: width of the output.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.in_dim = int(in_dim)
        self.out_dim = int(out_dim)
        self.net = make_mlp(self.in_dim, (), self.out_dim)

    @property
    def linear(self) -> nn.Linear:
        """The layer itself: its ``weight`` (out_dim, in_dim) and ``bias`` are the head's (W, b)."""
        return next(m for m in self.net.modules() if isinstance(m, nn.Linear))

    def forward(self, z: Tensor) -> Tensor:
        """Map (B, in_dim) to (B, out_dim)."""
        check_input(z, (self.in_dim,), type(self).__name__)
        return self.net(z)


@HEADS.register("mlp")
class MLPHead(nn.Module):
    """``mlp``: ``Linear -> ReLU -> Dropout -> Linear``.

    Args:
        in_dim: width of the input latents.
        out_dim: width of the output.
        hidden: width of the hidden layer.
        dropout: dropout probability after the hidden activation.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 128, dropout: float = 0.0) -> None:
        super().__init__()
        self.in_dim = int(in_dim)
        self.out_dim = int(out_dim)
        self.net = make_mlp(self.in_dim, (hidden,), self.out_dim, "relu", dropout)

    def forward(self, z: Tensor) -> Tensor:
        """Map (B, in_dim) to (B, out_dim)."""
        check_input(z, (self.in_dim,), type(self).__name__)
        return self.net(z)
