"""The ``product-space`` encoder and decoder: shapes, and the faster image convolutions compute
the same values and gradients as PyTorch's own layers."""

import pytest
import torch
from torch import nn

from orthomtl.nn import build_decoder, build_encoder
from orthomtl.nn._product_space import ImageConv2d, ImageConvTranspose2d, conv_transpose_k4s2


@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 28), (1, 64), (3, 64)])
def test_encoder_and_decoder_shapes(channels: int, size: int) -> None:
    encoder = build_encoder("product-space", (channels, size, size), 10)
    decoder = build_decoder("product-space", 10, (channels, size, size))
    z = encoder(torch.rand(2, channels, size, size))
    assert z.shape == (2, 10)
    assert decoder(z).shape == (2, channels, size, size)


def test_other_sizes_are_refused_with_the_alternative() -> None:
    with pytest.raises(ValueError, match="convnet"):
        build_encoder("product-space", (3, 32, 32), 10)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize(("c_in", "c_out", "size"), [(32, 3, 8), (64, 1, 7), (5, 4, 4)])
def test_image_conv_transpose_matches_torch(
    memory_format: torch.memory_format, c_in: int, c_out: int, size: int
) -> None:
    torch.manual_seed(0)
    ours = ImageConvTranspose2d(c_in, c_out)
    stock = nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)
    stock.load_state_dict(ours.state_dict())
    x = torch.randn(3, c_in, size, size).contiguous(memory_format=memory_format)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = ours(x1), stock(x2)
    assert y1.shape == y2.shape == (3, c_out, 2 * size, 2 * size)
    assert torch.allclose(y1, y2, atol=1e-5)
    grad = torch.randn_like(y2)
    y1.backward(grad)
    y2.backward(grad)
    assert torch.allclose(x1.grad, x2.grad, atol=1e-4)
    assert torch.allclose(ours.weight.grad, stock.weight.grad, atol=1e-4)
    assert torch.allclose(ours.bias.grad, stock.bias.grad, atol=1e-4)
    assert torch.allclose(
        conv_transpose_k4s2(x, ours.weight), y2 - stock.bias.view(1, -1, 1, 1), atol=1e-5
    )


@pytest.mark.parametrize(("c_in", "size"), [(3, 64), (1, 28), (3, 7)])
def test_image_conv_matches_torch_and_its_input_gradient(c_in: int, size: int) -> None:
    torch.manual_seed(1)
    ours = ImageConv2d(c_in, 8)
    stock = nn.Conv2d(c_in, 8, 4, stride=2, padding=1)
    stock.load_state_dict(ours.state_dict())
    x1 = torch.randn(2, c_in, size, size, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    y1, y2 = ours(x1), stock(x2)
    assert torch.allclose(y1, y2, atol=1e-5)
    grad = torch.randn_like(y2)
    y1.backward(grad)
    y2.backward(grad)
    assert torch.allclose(x1.grad, x2.grad, atol=1e-4)
    assert torch.allclose(ours.weight.grad, stock.weight.grad, atol=1e-4)
    assert torch.allclose(ours.bias.grad, stock.bias.grad, atol=1e-4)
