"""The encoder and decoder of Detaux's product-space autoencoder (Skenderi et al., ICIAP 2025).

The 64 px layout is the authors' (four 4x4 stride-2 convolutions to a 64×4×4 map, two linear
layers to the bottleneck; the decoder mirrors it). Our 28 px variant, for digits, keeps the
same 1024-wide flattened map with three convolutions, the last one 3x3
(28 → 14 → 7 → 4); its decoder mirrors it (4 → 7 → 14 → 28). Both are registered as
``product-space`` in :data:`orthomtl.registry.ENCODERS` and ``DECODERS`` and pick the variant
from the image size.

Speed (same sums, another order): on CPU, oneDNN's transposed 4x4 stride-2 convolution is slow when
it outputs few channels, as the decoder's last layer does (the image's C) and as the encoder's
first convolution does in its input gradient, needed when decoded images are re-encoded (Detaux's
consistency loss). Both compute that product as one 2x2 convolution with 4·C outputs, one per
output pixel phase, interleaved afterwards (``conv_transpose_k4s2``). The ReLUs work in place.
"""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from orthomtl.nn._base import Decoder, Encoder
from orthomtl.nn._encoders import check_image_shape
from orthomtl.registry import DECODERS, ENCODERS

SIZES = (28, 64)
"""Image sizes (square) the ``product-space`` encoder and decoder are laid out for."""

# (in, out, kernel) of each stride-2, padding-1 convolution, after the image channels.
_CONVS = {
    64: ((32, 4), (32, 4), (64, 4), (64, 4)),
    28: ((32, 4), (32, 4), (64, 3)),
}
_MAP = (64, 4, 4)
"""The feature map both variants flatten: 1024 values."""


_TAPS = torch.tensor([3, 1, 2, 0])
"""Kernel row (column) of output phase a and tap u, at position 2a + u: 3 − a − 2u."""


def conv_transpose_k4s2(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.conv_transpose2d(x, weight, bias, stride=2, padding=1)`` for 4x4 kernels, as one 2x2
    convolution of x (padded by 1) with 4·C_out outputs.

    Output pixel (2m + a, 2l + b) sums x[m + a + u − 1, l + b + v − 1] · weight[:, :, 3 − a − 2u,
    3 − b − 2v] over the taps u, v ∈ {0, 1}: phase (a, b) is a 2x2 convolution, read at offset
    (a, b) of the padded convolution's (H + 1)x(W + 1) output. The result is channels-last.

    Args:
        x: (N, C_in, H, W).
        weight: (C_in, C_out, 4, 4), as ``nn.ConvTranspose2d`` holds it.
        bias: (C_out,) or None.

    Returns:
        (N, C_out, 2H, 2W).
    """
    c_in, c_out = weight.shape[:2]
    taps = _TAPS.to(weight.device)
    phases = weight[:, :, taps][:, :, :, taps].view(c_in, c_out, 2, 2, 2, 2)
    kernel = phases.permute(2, 4, 1, 0, 3, 5).reshape(4 * c_out, c_in, 2, 2)
    kernel = kernel.contiguous(memory_format=torch.channels_last)
    y = F.conv2d(x, kernel, None if bias is None else bias.repeat(4), padding=1)
    n, _, h, w = y.shape
    y = y.permute(0, 2, 3, 1).view(n, h, w, 2, 2, c_out)  # (n, m, l, a, b, c)
    rows = [
        torch.stack([y[:, a : a + h - 1, b : b + w - 1, a, b] for b in (0, 1)], dim=3)
        for a in (0, 1)
    ]
    return torch.stack(rows, dim=2).view(n, 2 * (h - 1), 2 * (w - 1), c_out).permute(0, 3, 1, 2)


def _convolution_backward(
    grad: Tensor, x: Tensor, weight: Tensor, transposed: bool, mask: list[bool]
) -> tuple[Any, ...]:
    channels = weight.shape[1] if transposed else weight.shape[0]
    return torch.ops.aten.convolution_backward(
        grad, x, weight, [channels], [2, 2], [1, 1], [1, 1], transposed, [0, 0], 1, mask
    )


class _ImageConvFunction(torch.autograd.Function):
    """Conv2d(k4 s2 p1) whose input gradient is ``conv_transpose_k4s2`` of the output's."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        return F.conv2d(x, weight, bias, stride=2, padding=1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        needs = list(ctx.needs_input_grad)
        grad_x = None
        if needs[0]:
            if x.shape[-2:] == (2 * grad.shape[-2], 2 * grad.shape[-1]):
                grad_x = conv_transpose_k4s2(grad, weight)
            else:  # an odd input size: the transposed convolution needs output padding
                grad_x = _convolution_backward(grad, x, weight, False, [True, False, False])[0]
        _, grad_w, grad_b = _convolution_backward(grad, x, weight, False, [False, *needs[1:]])
        return grad_x, grad_w, grad_b


class _ImageConvTransposeFunction(torch.autograd.Function):
    """ConvTranspose2d(k4 s2 p1) computed by ``conv_transpose_k4s2``; oneDNN's gradients."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        ctx.save_for_backward(x, weight)
        return conv_transpose_k4s2(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        if x.is_contiguous(memory_format=torch.channels_last):  # as the output was
            grad = grad.contiguous(memory_format=torch.channels_last)
        return _convolution_backward(grad, x, weight, True, list(ctx.needs_input_grad))


class ImageConv2d(nn.Conv2d):
    """``nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)`` reading images of few channels; the
    same module (parameters, maths), with its input gradient computed as the module docstring
    says."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 4, stride=2, padding=1)

    def forward(self, input: Tensor) -> Tensor:
        return _ImageConvFunction.apply(input, self.weight, self.bias)


class ImageConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)`` writing images of few
    channels, computed by ``conv_transpose_k4s2``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 4, stride=2, padding=1)

    def forward(self, input: Tensor, output_size: list[int] | None = None) -> Tensor:
        if output_size is not None:
            return super().forward(input, output_size)
        return _ImageConvTransposeFunction.apply(input, self.weight, self.bias)


def _layout(shape: Sequence[int], owner: str) -> tuple[int, int]:
    channels, height, width = check_image_shape(shape, owner)
    if height != width or height not in SIZES:
        raise ValueError(
            f"{owner} is laid out for square images of {' or '.join(map(str, SIZES))} px, got "
            f"{height}x{width}. Resize the images, or use model.encoder: convnet (and "
            "model.decoder: convnet), which take any size."
        )
    return channels, height


@ENCODERS.register("product-space")
class ProductSpaceEncoder(Encoder):
    """``product-space``: Detaux's convolutional encoder for 28 or 64 px images.

    Conv(C→32, k4 s2 p1), ReLU, Conv(32→32, k4), ReLU, Conv(32→64, k4), ReLU, [64 px:
    Conv(64→64, k4), ReLU; 28 px: the third kernel is 3], Flatten (1024), Linear(1024→256), ReLU,
    Linear(256→latent_dim).

    Args:
        input_shape: (C, 28, 28) or (C, 64, 64).
        latent_dim: width of the bottleneck (Detaux's d, 10 by default in the method).
        hidden: width of the hidden linear layer.
    """

    def __init__(self, input_shape: Sequence[int], latent_dim: int, hidden: int = 256) -> None:
        super().__init__(input_shape, latent_dim)
        channels, size = _layout(self.input_shape, type(self).__name__)
        layers: list[nn.Module] = []
        for i, (out, kernel) in enumerate(_CONVS[size]):
            if i == 0:  # 4x4, on the image
                layers.append(ImageConv2d(channels, out))
            else:
                layers.append(nn.Conv2d(channels, out, kernel, stride=2, padding=1))
            layers.append(nn.ReLU(inplace=True))
            channels = out
        self.features = nn.Sequential(*layers, nn.Flatten())
        width = _MAP[0] * _MAP[1] * _MAP[2]
        self.head = nn.Sequential(
            nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, self.latent_dim)
        )

    def encode(self, x: Tensor) -> Tensor:
        """Map (B, C, H, W) to (B, latent_dim)."""
        return self.head(self.features(x))

    def output_layer(self) -> nn.Module:
        """The final ``nn.Linear``."""
        return self.head[-1]


@DECODERS.register("product-space")
class ProductSpaceDecoder(Decoder):
    """``product-space``: the mirror of :class:`ProductSpaceEncoder`, outputs raw (no sigmoid).

    Linear(latent_dim→256), ReLU, Linear(256→256), ReLU, Linear(256→1024), ReLU, reshape
    (64, 4, 4), then transposed convolutions (k4 s2 p1) 64→64→32→32→C at 64 px, or 64→32 (k3)
    →32→C at 28 px, with ReLU between them.

    Args:
        latent_dim: width of the latent decoded (Detaux decodes Σ_i s_i ∈ R^d).
        output_shape: (C, 28, 28) or (C, 64, 64).
        hidden: width of the hidden linear layers.
    """

    def __init__(self, latent_dim: int, output_shape: Sequence[int], hidden: int = 256) -> None:
        super().__init__(latent_dim, output_shape)
        channels, size = _layout(self.output_shape, type(self).__name__)
        width = _MAP[0] * _MAP[1] * _MAP[2]
        self.fc = nn.Sequential(
            nn.Linear(self.latent_dim, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, width),
            nn.ReLU(inplace=True),
            nn.Unflatten(1, _MAP),
        )
        # the encoder's convolutions backwards: (out, kernel) becomes in → previous width
        widths = [channels, *(out for out, _ in _CONVS[size])]
        kernels = [kernel for _, kernel in _CONVS[size]]
        layers: list[nn.Module] = []
        for i in reversed(range(len(kernels))):
            if i == 0:  # 4x4, to the image
                layers.append(ImageConvTranspose2d(widths[1], widths[0]))
            else:
                layers.append(
                    nn.ConvTranspose2d(widths[i + 1], widths[i], kernels[i], 2, padding=1)
                )
                layers.append(nn.ReLU(inplace=True))
        self.upsample = nn.Sequential(*layers)

    def decode(self, z: Tensor) -> Tensor:
        """Map (B, latent_dim) to raw images of shape (B, C, H, W)."""
        return self.upsample(self.fc(z))
