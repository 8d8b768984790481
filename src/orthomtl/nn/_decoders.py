"""Built-in decoders for autoencoders, matching the encoders of the same registry name.

Each is registered in :data:`orthomtl.registry.DECODERS` under the name given in its docstring.
Decoders return raw, unbounded values (no sigmoid): pair them with a loss on raw outputs, such as
MSE against the inputs, or apply ``torch.sigmoid`` yourself for pixels in [0, 1].
"""

from collections.abc import Sequence
from itertools import pairwise

from torch import Tensor, nn

from orthomtl.nn._base import Decoder
from orthomtl.nn._encoders import _check_widths, _halved, check_image_shape, make_mlp
from orthomtl.registry import DECODERS


@DECODERS.register("mlp")
class MLPDecoder(Decoder):
    """``mlp``: an MLP from the latent to ``prod(output_shape)`` values, reshaped to output_shape.

    Args:
        latent_dim: width of the input latents.
        output_shape: shape of one output, without the batch dimension.
        hidden: widths of the hidden layers.
        activation: one of :data:`orthomtl.nn.ACTIVATIONS`.
        dropout: dropout probability after each hidden activation.
    """

    def __init__(
        self,
        latent_dim: int,
        output_shape: Sequence[int],
        hidden: Sequence[int] = (256, 256),
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__(latent_dim, output_shape)
        out_dim = 1
        for size in self.output_shape:
            out_dim *= size
        self.net = make_mlp(self.latent_dim, hidden, out_dim, activation, dropout)

    def decode(self, z: Tensor) -> Tensor:
        """Map (B, latent_dim) to raw outputs of shape (B, *output_shape)."""
        return self.net(z).reshape(-1, *self.output_shape)


@DECODERS.register("convnet")
class ConvDecoder(Decoder):
    """``convnet``: a linear layer to a small feature map, then stride-2 transposed convolutions.

    The mirror of :class:`~orthomtl.nn.ConvNet`: with ``n = len(channels)`` the linear
    layer produces ``channels[0]`` maps of size ceil(H / 2^n) x ceil(W / 2^n); each transposed
    convolution doubles the size, the last one producing the C output channels; a centre crop
    then gives exactly (C, H, W) (28 px: 4 -> 8 -> 16 -> 32, cropped to 28). Outputs are raw (no
    sigmoid).

    Args:
        latent_dim: width of the input latents.
        output_shape: (C, H, W), H and W at least :data:`orthomtl.nn.MIN_IMAGE_SIZE`.
        channels: input channels of each transposed convolution; one doubling per entry.
        batch_norm: whether to put batch norm after each hidden transposed convolution.
    """

    def __init__(
        self,
        latent_dim: int,
        output_shape: Sequence[int],
        channels: Sequence[int] = (64, 64, 32),
        batch_norm: bool = True,
    ) -> None:
        super().__init__(latent_dim, output_shape)
        out_channels, height, width = check_image_shape(
            self.output_shape, type(self).__name__, "output_shape"
        )
        channels = _check_widths(channels, "channels")
        start = (channels[0], _halved(height, len(channels)), _halved(width, len(channels)))
        self.fc = nn.Sequential(
            nn.Linear(self.latent_dim, start[0] * start[1] * start[2]),
            nn.ReLU(inplace=True),
            nn.Unflatten(1, start),
        )
        layers: list[nn.Module] = []
        for c_in, c_out in pairwise(channels):
            layers.append(
                nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=not batch_norm)
            )
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU(inplace=True))
        layers.append(nn.ConvTranspose2d(channels[-1], out_channels, 4, stride=2, padding=1))
        self.upsample = nn.Sequential(*layers)
        scale = 2 ** len(channels)
        self._top = (start[1] * scale - height) // 2
        self._left = (start[2] * scale - width) // 2

    def decode(self, z: Tensor) -> Tensor:
        """Map (B, latent_dim) to raw images of shape (B, C, H, W)."""
        out = self.upsample(self.fc(z))
        _, height, width = self.output_shape
        return out[:, :, self._top : self._top + height, self._left : self._left + width]
