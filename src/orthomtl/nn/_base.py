"""Base classes for encoders and decoders: they know their shapes and check their inputs."""

from collections.abc import Sequence

from torch import Tensor, nn


def check_input(x: Tensor, expected: Sequence[int], owner: str) -> None:
    """Raise ``ValueError`` unless ``x`` is a finite float batch of shape (B, *expected)."""
    expected = tuple(expected)
    if not isinstance(x, Tensor):
        raise TypeError(f"{owner} expects a torch.Tensor, got {type(x).__name__}.")
    if x.dim() != len(expected) + 1 or tuple(x.shape[1:]) != expected:
        raise ValueError(
            f"{owner} expects inputs of shape (batch, {', '.join(map(str, expected))}), got "
            f"{tuple(x.shape)}. Check the dataset's input shape or choose an encoder that fits it."
        )
    if not x.is_floating_point():
        raise ValueError(
            f"{owner} expects floating-point inputs, got {x.dtype}; convert with x.float()."
        )


class Encoder(nn.Module):
    """Maps inputs of shape (B, *input_shape) to latents of shape (B, latent_dim).

    Subclasses build their layers in ``__init__`` and implement ``encode``; ``forward`` checks the
    input shape first so that a mismatch fails with a message instead of deep inside a layer. A
    subclass that overrides ``output_layer`` can also be built without its final bias
    (``build_encoder(..., final_bias=False)``).
    """

    def __init__(self, input_shape: Sequence[int], latent_dim: int) -> None:
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {latent_dim}.")
        self.input_shape = tuple(int(s) for s in input_shape)
        self.latent_dim = int(latent_dim)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.input_shape, type(self).__name__)
        return self.encode(x)

    def encode(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def output_layer(self) -> nn.Module:
        """The layer whose output is the latent (the final ``nn.Linear`` of the built-in
        encoders); ``remove_final_bias`` drops its bias.

        Raises:
            NotImplementedError: unless the subclass overrides it.
        """
        name = type(self).__name__
        raise NotImplementedError(
            f"{name} does not say which of its layers produces the latent, so it cannot be built "
            f"without its final bias (build_encoder(..., final_bias=False), as Domain Expansion "
            f"builds its encoder). Override {name}.output_layer() to return that layer, e.g. its "
            "last nn.Linear."
        )

    def remove_final_bias(self) -> None:
        """Drop the bias of ``output_layer()``, so that the latent is a linear (not affine) map of
        the last hidden features.

        Raises:
            NotImplementedError: if the subclass does not override ``output_layer``.
            TypeError: if ``output_layer()`` has no ``bias`` attribute.
        """
        layer = self.output_layer()
        if not hasattr(layer, "bias"):
            raise TypeError(
                f"{type(self).__name__}.output_layer() returned a {type(layer).__name__}, which "
                "has no `bias`; return the layer that produces the latent, e.g. an nn.Linear."
            )
        layer.register_parameter("bias", None)


class Decoder(nn.Module):
    """Maps latents (B, latent_dim) back to inputs (B, *output_shape)."""

    def __init__(self, latent_dim: int, output_shape: Sequence[int]) -> None:
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.output_shape = tuple(int(s) for s in output_shape)

    def forward(self, z: Tensor) -> Tensor:
        check_input(z, (self.latent_dim,), type(self).__name__)
        return self.decode(z)

    def decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError
