"""Build encoders, decoders and heads by registry name, checking their options."""

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from orthomtl.nn._base import Decoder, Encoder
from orthomtl.registry import DECODERS, ENCODERS, HEADS, Registry

_OPTION_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _build(
    registry: Registry[type],
    base: type[nn.Module],
    name: str,
    args: tuple[Any, ...],
    options: Mapping[str, Any] | None,
) -> Any:
    """Look up ``name``, check ``options`` against its constructor and build it with ``args``.

    Raises:
        KeyError: if ``name`` is not registered (the message lists the registered names).
        TypeError: if an option is unknown or a required one is missing (the message lists the
            allowed options), or the registered class is not a subclass of ``base``.
    """
    cls = registry.get(name)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(
            f"The {registry.kind} registered as {name!r} is {cls!r}, not a subclass of "
            f"{base.__name__}."
        )
    options = dict(options or {})
    params = list(inspect.signature(cls).parameters.values())[len(args) :]
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    allowed = [p.name for p in params if p.kind in _OPTION_KINDS]
    described = ", ".join(
        p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
        for p in params
        if p.kind in _OPTION_KINDS
    )
    unknown = sorted(set(options) - set(allowed))
    if unknown and not accepts_any:
        raise TypeError(
            f"Unknown option(s) {unknown} for {registry.kind} {name!r} ({cls.__name__}). "
            f"Allowed options: {described or 'none'}."
        )
    required = [p.name for p in params if p.kind in _OPTION_KINDS and p.default is p.empty]
    missing = [option for option in required if option not in options]
    if missing:
        raise TypeError(
            f"Missing required option(s) {missing} for {registry.kind} {name!r} ({cls.__name__}). "
            f"Allowed options: {described}."
        )
    return cls(*args, **options)


def build_encoder(
    name: str,
    input_shape: Sequence[int],
    latent_dim: int,
    options: Mapping[str, Any] | None = None,
    *,
    final_bias: bool = True,
) -> Encoder:
    """Build the encoder registered as ``name``.

    Args:
        name: registry name, e.g. ``mlp``, ``convnet`` or ``resnet18``.
        input_shape: shape of one input, without the batch dimension.
        latent_dim: width of the latent.
        options: the encoder's keyword options, e.g. ``{"hidden": [128]}`` for ``mlp``.
        final_bias: ``False`` removes the bias of the layer that produces the latent
            (``Encoder.remove_final_bias``). Domain Expansion does: its losses see only differences
            of the centred coefficients (f − μ)V, the mean μ absorbs that bias, and its gradient is
            then 0 up to float noise, which Adam would turn into steps of the learning rate's size.

    Raises:
        KeyError: if no encoder is registered as ``name``.
        TypeError: if an option is unknown or missing; the message lists the allowed options.
        ValueError: if the encoder rejects the shapes or an option's value.
        NotImplementedError: with ``final_bias=False``, if the encoder does not override
            ``Encoder.output_layer``.
    """
    encoder = _build(ENCODERS, Encoder, name, (tuple(input_shape), latent_dim), options)
    if not final_bias:
        encoder.remove_final_bias()
    return encoder


def build_decoder(
    name: str,
    latent_dim: int,
    output_shape: Sequence[int],
    options: Mapping[str, Any] | None = None,
) -> Decoder:
    """Build the decoder registered as ``name``.

    Args:
        name: registry name, e.g. ``mlp`` or ``convnet``.
        latent_dim: width of the latent.
        output_shape: shape of one output, without the batch dimension.
        options: the decoder's keyword options.

    Raises:
        KeyError: if no decoder is registered as ``name``.
        TypeError: if an option is unknown or missing; the message lists the allowed options.
        ValueError: if the decoder rejects the shapes or an option's value.
    """
    return _build(DECODERS, Decoder, name, (latent_dim, tuple(output_shape)), options)


def build_head(
    name: str, in_dim: int, out_dim: int, options: Mapping[str, Any] | None = None
) -> nn.Module:
    """Build the task head registered as ``name``.

    Args:
        name: registry name, ``linear`` or ``mlp``.
        in_dim: width of the latent.
        out_dim: width of the output, e.g. ``task.output_dim``.
        options: the head's keyword options, e.g. ``{"hidden": 256}`` for ``mlp``.

    Raises:
        KeyError: if no head is registered as ``name``.
        TypeError: if an option is unknown or missing; the message lists the allowed options.
        ValueError: if the head rejects an option's value.
    """
    return _build(HEADS, nn.Module, name, (in_dim, out_dim), options)
