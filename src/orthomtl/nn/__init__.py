"""Networks: encoders, decoders and task heads, and factories that build them by registry name.

    >>> from orthomtl.nn import build_encoder, build_head
    >>> encoder = build_encoder("convnet", (1, 28, 28), 64, {"channels": [16, 32, 32]})
    >>> head = build_head("linear", 64, 10)

Importing this package registers the built-in classes. A class registered by the user (see
:mod:`orthomtl.registry`) is built the same way; its keyword arguments become the allowed options.
"""

from orthomtl.nn._base import Decoder, Encoder, check_input
from orthomtl.nn._compile import compile_if_possible
from orthomtl.nn._decoders import ConvDecoder, MLPDecoder
from orthomtl.nn._encoders import (
    ACTIVATIONS,
    MIN_IMAGE_SIZE,
    BasicBlock,
    ConvNet,
    MLPEncoder,
    ResNet18,
    check_image_shape,
    make_mlp,
)
from orthomtl.nn._factory import build_decoder, build_encoder, build_head
from orthomtl.nn._heads import LinearHead, MLPHead
from orthomtl.nn._product_space import ProductSpaceDecoder, ProductSpaceEncoder
from orthomtl.nn._stacked import RowGroups, StackedLayers, StackedMLP, apply_stacked

__all__ = [
    "ACTIVATIONS",
    "MIN_IMAGE_SIZE",
    "BasicBlock",
    "ConvDecoder",
    "ConvNet",
    "Decoder",
    "Encoder",
    "LinearHead",
    "MLPDecoder",
    "MLPEncoder",
    "MLPHead",
    "ProductSpaceDecoder",
    "ProductSpaceEncoder",
    "ResNet18",
    "RowGroups",
    "StackedLayers",
    "StackedMLP",
    "apply_stacked",
    "build_decoder",
    "build_encoder",
    "build_head",
    "check_image_shape",
    "check_input",
    "compile_if_possible",
    "make_mlp",
]
