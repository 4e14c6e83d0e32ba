"""One converter per ConvNetJS layer type, registered by ``layer_type``.

Importing this package imports every family module, so that each
``@register`` runs once.
"""

from convnetjs_keras.converters import (  # noqa: F401
    dotproducts,
    dropout,
    input,
    loss,
    nonlinearities,
    normalization,
    pool,
    quadtransform,
)
from convnetjs_keras.converters.base import CONVERTERS, LayerSpec, Shape, get_converter

__all__ = ["CONVERTERS", "LayerSpec", "Shape", "get_converter"]
