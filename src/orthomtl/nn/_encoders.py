"""Built-in encoders: an MLP for any input shape, a small conv net and a CIFAR-style ResNet-18.

Each is registered in :data:`orthomtl.registry.ENCODERS` under the name given in its docstring.
The image encoders check at construction that the input is (C, H, W) and at least
:data:`MIN_IMAGE_SIZE` pixels on each side; they are designed for 28 to 64 px inputs.
"""

from collections.abc import Sequence
from itertools import pairwise

from torch import Tensor, nn

from orthomtl.nn._base import Encoder
from orthomtl.registry import ENCODERS

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}
"""Activation names accepted by the ``activation`` option of the MLP encoder and decoder."""

MIN_IMAGE_SIZE = 8
"""Smallest height and width, in pixels, that the image encoders accept."""

# Spatial size (per side) of the conv net's feature map before its linear layer.
_CONVNET_POOLED_SIZE = 4


def make_mlp(
    in_dim: int,
    hidden: Sequence[int],
    out_dim: int,
    activation: str = "relu",
    dropout: float = 0.0,
) -> nn.Sequential:
    """Build ``Linear -> activation -> Dropout`` for each hidden width, then a final ``Linear``.

    Args:
        in_dim: width of the input features.
        hidden: widths of the hidden layers; empty for a single linear layer.
        out_dim: width of the output.
        activation: one of :data:`ACTIVATIONS`.
        dropout: dropout probability after each hidden activation, in [0, 1).

    Raises:
        ValueError: if a width is not positive, the activation is unknown or dropout is out of
            range.
    """
    widths = [int(in_dim), *(int(h) for h in hidden), int(out_dim)]
    if min(widths) < 1:
        raise ValueError(
            f"MLP widths must all be >= 1, got in={in_dim}, hidden={list(hidden)}, "
            f"out={out_dim}; fix the `hidden` option or the sizes."
        )
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {activation!r}; set the `activation` option to one of "
            f"{sorted(ACTIVATIONS)}."
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"The `dropout` option must be in [0, 1), got {dropout}.")
    layers: list[nn.Module] = []
    for width_in, width_out in pairwise(widths[:-1]):
        layers += [nn.Linear(width_in, width_out), ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(widths[-2], widths[-1]))
    return nn.Sequential(*layers)


def check_image_shape(
    shape: Sequence[int], owner: str, option: str = "input_shape"
) -> tuple[int, int, int]:
    """Return ``shape`` as (C, H, W), or raise ``ValueError`` saying what the image models need.

    Args:
        shape: the shape given to an image encoder or decoder.
        owner: class name, used in the error message.
        option: the argument's name, used in the error message.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"{owner} needs an image shape (C, H, W), got {option}={shape}. For flat or tabular "
            f"data use 'mlp' instead, or reshape the data to (channels, height, width)."
        )
    if min(shape[1:]) < MIN_IMAGE_SIZE:
        raise ValueError(
            f"{owner} supports images of at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} px (designed "
            f"for 28-64 px), got {option}={shape}. Resize the images or use 'mlp' instead."
        )
    return shape[0], shape[1], shape[2]


def _halved(size: int, times: int) -> int:
    """Side length after ``times`` stride-2 3x3 convolutions with padding 1 (ceil division)."""
    for _ in range(times):
        size = (size + 1) // 2
    return size


def _check_widths(widths: Sequence[int], option: str) -> tuple[int, ...]:
    """Return ``widths`` as a non-empty tuple of positive ints, or raise naming ``option``."""
    widths = tuple(int(c) for c in widths)
    if not widths or min(widths) < 1:
        raise ValueError(
            f"The `{option}` option must be a non-empty list of positive ints, got {list(widths)}."
        )
    return widths


@ENCODERS.register("mlp")
class MLPEncoder(Encoder):
    """``mlp``: flattens inputs of any shape (images or tabular (F,) features) and applies an MLP.

    Args:
        input_shape: shape of one input, without the batch dimension.
        latent_dim: width of the output.
        hidden: widths of the hidden layers.
        activation: one of :data:`ACTIVATIONS`.
        dropout: dropout probability after each hidden activation.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        latent_dim: int,
        hidden: Sequence[int] = (256, 256),
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__(input_shape, latent_dim)
        in_dim = 1
        for size in self.input_shape:
            in_dim *= size
        self.net = make_mlp(in_dim, hidden, self.latent_dim, activation, dropout)

    def encode(self, x: Tensor) -> Tensor:
        """Map (B, *input_shape) to (B, latent_dim)."""
        return self.net(x.flatten(1))

    def output_layer(self) -> nn.Module:
        """The MLP's last ``nn.Linear``."""
        return self.net[-1]


def _conv_bn_relu(c_in: int, c_out: int, stride: int, batch_norm: bool) -> list[nn.Module]:
    """A 3x3 convolution (padding 1), optional batch norm and ReLU."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not batch_norm)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.ReLU(inplace=True))
    return layers


@ENCODERS.register("convnet")
class ConvNet(Encoder):
    """``convnet``: stride-2 3x3 convolutions, a 4x4 average pool, then a linear layer.

    Each convolution halves the image (28 -> 14 -> 7 -> 4 with the default three). The feature map
    is average-pooled to at most 4x4, keeping coarse spatial layout (which digit is on the left,
    say), and flattened into a linear layer to ``latent_dim``.

    Args:
        input_shape: (C, H, W), H and W at least :data:`MIN_IMAGE_SIZE`.
        latent_dim: width of the output.
        channels: output channels of each convolution; one halving of the image per entry.
        batch_norm: whether to put batch norm after each convolution.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        latent_dim: int,
        channels: Sequence[int] = (32, 64, 64),
        batch_norm: bool = True,
    ) -> None:
        super().__init__(input_shape, latent_dim)
        in_channels, height, width = check_image_shape(self.input_shape, type(self).__name__)
        channels = _check_widths(channels, "channels")
        layers: list[nn.Module] = []
        for c_in, c_out in pairwise((in_channels, *channels)):
            layers += _conv_bn_relu(c_in, c_out, 2, batch_norm)
        pooled = (
            min(_CONVNET_POOLED_SIZE, _halved(height, len(channels))),
            min(_CONVNET_POOLED_SIZE, _halved(width, len(channels))),
        )
        layers += [nn.AdaptiveAvgPool2d(pooled), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels[-1] * pooled[0] * pooled[1], self.latent_dim)

    def encode(self, x: Tensor) -> Tensor:
        """Map (B, C, H, W) to (B, latent_dim)."""
        return self.fc(self.features(x))

    def output_layer(self) -> nn.Module:
        """The final ``nn.Linear``."""
        return self.fc


class BasicBlock(nn.Module):
    """The two-convolution residual block of ResNet-18/34, with a 1x1 projection shortcut when
    the stride or width changes.

    Args:
        c_in: input channels.
        c_out: output channels.
        stride: stride of the first convolution (and of the shortcut).
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block to (B, c_in, H, W), giving (B, c_out, H / stride, W / stride)."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


@ENCODERS.register("resnet18")
class ResNet18(Encoder):
    """``resnet18``: a ResNet-18 with a CIFAR-style stem for small images.

    The stem is a 3x3 stride-1 convolution without max pooling, so 32 px images reach the last
    stage at 4x4. Four stages of two :class:`BasicBlock` each have widths ``width`` x (1, 2, 4, 8)
    and strides (1, 2, 2, 2); then global average pooling and a linear layer to ``latent_dim``.
    At ``width=64`` with 3 input channels it has about 11.2M parameters.

    Args:
        input_shape: (C, H, W), H and W at least :data:`MIN_IMAGE_SIZE`.
        latent_dim: width of the output.
        width: channels of the stem and first stage.
    """

    def __init__(self, input_shape: Sequence[int], latent_dim: int, width: int = 64) -> None:
        super().__init__(input_shape, latent_dim)
        in_channels = check_image_shape(self.input_shape, type(self).__name__)[0]
        if width < 1:
            raise ValueError(f"The `width` option must be >= 1, got {width}.")
        self.stem = nn.Sequential(*_conv_bn_relu(in_channels, width, 1, batch_norm=True))
        blocks: list[nn.Module] = []
        c_in = width
        for stage, stride in enumerate((1, 2, 2, 2)):
            c_out = width * 2**stage
            blocks += [BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out)]
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(c_in, self.latent_dim)

    def encode(self, x: Tensor) -> Tensor:
        """Map (B, C, H, W) to (B, latent_dim)."""
        return self.fc(self.pool(self.blocks(self.stem(x))))

    def output_layer(self) -> nn.Module:
        """The final ``nn.Linear``."""
        return self.fc
