"""Tests for the built-in encoders, decoders, heads and their factories."""

import uuid
from collections.abc import Callable, Iterator, Sequence

import pytest
import torch
from torch import Tensor, nn

from orthomtl.nn import (
    ConvDecoder,
    ConvNet,
    Encoder,
    LinearHead,
    MLPDecoder,
    MLPEncoder,
    MLPHead,
    ResNet18,
    build_decoder,
    build_encoder,
    build_head,
)
from orthomtl.registry import DECODERS, ENCODERS, HEADS

IMAGE_SHAPES = [(1, 28, 28), (3, 64, 64)]
LATENT = 16


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def isolated_encoders(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let a test register encoders, undone afterwards (the Registry has no public removal)."""
    monkeypatch.setattr(ENCODERS, "_entries", dict(ENCODERS._entries))
    yield


def test_builtins_are_registered() -> None:
    assert {"mlp", "convnet", "resnet18"} <= set(ENCODERS.names())
    assert {"mlp", "convnet"} <= set(DECODERS.names())
    assert {"linear", "mlp"} <= set(HEADS.names())
    assert ENCODERS.get("resnet18") is ResNet18
    assert DECODERS.get("convnet") is ConvDecoder


@pytest.mark.parametrize("name", ["mlp", "convnet", "resnet18"])
@pytest.mark.parametrize("shape", IMAGE_SHAPES)
def test_encoder_output_shape(name: str, shape: tuple[int, ...]) -> None:
    encoder = build_encoder(name, shape, LATENT)
    assert isinstance(encoder, Encoder)
    assert encoder(torch.randn(2, *shape)).shape == (2, LATENT)


def test_mlp_encoder_on_tabular_input() -> None:
    encoder = MLPEncoder((12,), LATENT, hidden=(32,), activation="gelu", dropout=0.1)
    assert encoder(torch.randn(5, 12)).shape == (5, LATENT)


@pytest.mark.parametrize("name", ["mlp", "convnet"])
@pytest.mark.parametrize("shape", [*IMAGE_SHAPES, (3, 32, 32), (3, 33, 47), (1, 8, 8)])
def test_decoder_output_shape_matches_exactly(name: str, shape: tuple[int, ...]) -> None:
    decoder = build_decoder(name, LATENT, shape)
    assert decoder(torch.randn(3, LATENT)).shape == (3, *shape)


def test_mlp_decoder_on_tabular_output() -> None:
    assert MLPDecoder(LATENT, (7,), hidden=())(torch.randn(4, LATENT)).shape == (4, 7)


@pytest.mark.parametrize("head", [LinearHead(LATENT, 5), MLPHead(LATENT, 5, hidden=8, dropout=0.2)])
def test_head_output_shape(head: nn.Module) -> None:
    assert head(torch.randn(4, LATENT)).shape == (4, 5)


def test_wrong_input_shape_names_expected_shape() -> None:
    encoder = ConvNet((1, 28, 28), LATENT)
    with pytest.raises(ValueError, match=r"\(batch, 1, 28, 28\)"):
        encoder(torch.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match=r"\(batch, 12\)"):
        MLPEncoder((12,), LATENT)(torch.randn(2, 13))
    with pytest.raises(ValueError, match=rf"\(batch, {LATENT}\)"):
        LinearHead(LATENT, 2)(torch.randn(2, LATENT + 1))


@pytest.mark.parametrize("cls", [ConvNet, ResNet18])
def test_image_encoder_rejects_non_image_shape(cls: type[Encoder]) -> None:
    with pytest.raises(ValueError, match=r"\(C, H, W\).*input_shape=\(784,\).*'mlp'"):
        cls((784,), LATENT)
    with pytest.raises(ValueError, match=r"at least 8x8 px.*input_shape=\(1, 4, 28\)"):
        cls((1, 4, 28), LATENT)


def test_conv_decoder_rejects_non_image_shape() -> None:
    with pytest.raises(ValueError, match=r"output_shape=\(784,\)"):
        ConvDecoder(LATENT, (784,))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"activation": "swish"}, r"`activation`.*'relu'"),
        ({"dropout": 1.0}, r"`dropout`"),
        ({"hidden": [0]}, r"`hidden`"),
    ],
)
def test_bad_option_values_raise(options: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_encoder("mlp", (12,), LATENT, options)


def test_bad_channels_raise() -> None:
    with pytest.raises(ValueError, match=r"`channels`"):
        ConvNet((1, 28, 28), LATENT, channels=())


def test_factory_passes_options() -> None:
    options = {"channels": [8, 16], "batch_norm": False}
    encoder = build_encoder("convnet", (1, 28, 28), LATENT, options)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in encoder.modules())
    assert encoder.features[0].out_channels == 8
    head = build_head("mlp", LATENT, 3, {"hidden": 7})
    assert head.net[0].out_features == 7
    assert build_decoder("mlp", LATENT, (5,), {"hidden": [9]}).net[0].out_features == 9


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda name, opts: build_encoder(name, (1, 28, 28), LATENT, opts), "convnet"),
        (lambda name, opts: build_decoder(name, LATENT, (1, 28, 28), opts), "convnet"),
        (lambda name, opts: build_head(name, LATENT, 2, opts), "mlp"),
    ],
)
def test_unknown_option_lists_allowed(build: Callable[[str, dict], nn.Module], name: str) -> None:
    with pytest.raises(TypeError, match=r"Unknown option\(s\) \['chanels'\].*Allowed options: "):
        build(name, {"chanels": [8]})


def test_unknown_option_message_lists_every_allowed_option() -> None:
    with pytest.raises(TypeError) as info:
        build_encoder("mlp", (12,), LATENT, {"hiden": [3]})
    for option in ("hidden", "activation", "dropout"):
        assert option in str(info.value)


def test_unknown_name_lists_available() -> None:
    with pytest.raises(KeyError, match="resnet18"):
        build_encoder("resnet1", (3, 32, 32), LATENT)


@pytest.mark.usefixtures("isolated_encoders")
def test_user_registered_encoder_is_built_by_name() -> None:
    name = f"test-custom-{uuid.uuid4().hex}"

    @ENCODERS.register(name)
    class Custom(Encoder):
        def __init__(self, input_shape: Sequence[int], latent_dim: int, scale: float) -> None:
            super().__init__(input_shape, latent_dim)
            self.scale = scale
            self.fc = nn.Linear(self.input_shape[0], self.latent_dim)

        def encode(self, x: Tensor) -> Tensor:
            return self.scale * self.fc(x)

    encoder = build_encoder(name, (4,), 3, {"scale": 2.0})
    assert isinstance(encoder, Custom) and encoder.scale == 2.0
    assert encoder(torch.randn(2, 4)).shape == (2, 3)
    with pytest.raises(TypeError, match=r"Missing required option\(s\) \['scale'\]"):
        build_encoder(name, (4,), 3)


@pytest.mark.parametrize(
    ("name", "options"), [("mlp", None), ("convnet", None), ("resnet18", {"width": 8})]
)
def test_encoder_without_final_bias(name: str, options: dict | None) -> None:
    """``final_bias=False`` removes the bias added to the latent, and nothing else: the other
    layers and all initial weights are those of the encoder built with it."""
    shape = (3, 16, 16)
    torch.manual_seed(0)
    full = build_encoder(name, shape, LATENT, options)
    torch.manual_seed(0)
    linear = build_encoder(name, shape, LATENT, options, final_bias=False)
    kept, removed = linear.state_dict(), set(full.state_dict()) - set(linear.state_dict())
    assert len(removed) == 1 and removed.pop().endswith("bias")
    assert all(torch.equal(value, full.state_dict()[key]) for key, value in kept.items())
    x = torch.randn(4, *shape)
    assert torch.allclose(linear(x), full(x) - full.output_layer().bias, atol=1e-6)


@pytest.mark.usefixtures("isolated_encoders")
def test_user_encoder_without_final_bias_needs_its_output_layer() -> None:
    class Custom(Encoder):
        def __init__(self, input_shape: Sequence[int], latent_dim: int) -> None:
            super().__init__(input_shape, latent_dim)
            self.fc = nn.Linear(self.input_shape[0], self.latent_dim)

        def encode(self, x: Tensor) -> Tensor:
            return self.fc(x)

    class Named(Custom):
        def output_layer(self) -> nn.Module:
            return self.fc

    name = f"test-custom-{uuid.uuid4().hex}"
    ENCODERS.register(name)(Custom)
    with pytest.raises(NotImplementedError, match=r"Override Custom\.output_layer\(\)"):
        build_encoder(name, (4,), 3, final_bias=False)
    ENCODERS.register(f"{name}-named")(Named)
    assert build_encoder(f"{name}-named", (4,), 3, final_bias=False).fc.bias is None


@pytest.mark.usefixtures("isolated_encoders")
def test_registered_non_encoder_is_rejected() -> None:
    name = f"test-not-an-encoder-{uuid.uuid4().hex}"
    ENCODERS.register(name)(nn.Linear)
    with pytest.raises(TypeError, match="not a subclass of Encoder"):
        build_encoder(name, (4,), 3)


def test_user_registration_is_undone() -> None:
    # Runs after the two tests above (file order): their registrations must be gone.
    assert not any(name.startswith("test-") for name in ENCODERS.names())


@pytest.mark.parametrize(
    "module",
    [
        MLPEncoder((1, 28, 28), LATENT),
        ConvNet((1, 28, 28), LATENT),
        ResNet18((3, 16, 16), LATENT, width=8),
        MLPDecoder(LATENT, (1, 28, 28)),
        ConvDecoder(LATENT, (1, 28, 28)),
        LinearHead(LATENT, 3),
        MLPHead(LATENT, 3),
    ],
    ids=lambda m: type(m).__name__,
)
def test_gradients_reach_every_parameter(module: nn.Module) -> None:
    in_shape = getattr(module, "input_shape", (LATENT,))
    module(torch.randn(4, *in_shape)).square().mean().backward()
    for name, param in module.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name


def test_resnet18_parameter_count() -> None:
    count = _params(ResNet18((3, 32, 32), latent_dim=10))
    assert 11.0e6 < count < 11.4e6  # torchvision's resnet18 with a 3x3 stem and 10 outputs: 11.17M
    assert _params(ResNet18((3, 32, 32), 10, width=32)) < count / 3


def test_convnet_is_small() -> None:
    assert _params(ConvNet((1, 28, 28), 64)) < 200_000
