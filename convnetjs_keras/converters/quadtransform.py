"""``quadtransform`` (npm 0.3.0 only): the inputs followed by all products.

``makeLayers`` inserts it in front of any layer defined with ``tensor: true``.
Output depth is ``in_depth + in_depth ** 2``; see ``ConvNetJSQuadTransform``.
The GitHub source of ConvNetJS no longer has this layer, so snapshots that
contain it load only in npm 0.3.0.
"""

from __future__ import annotations

from convnetjs_keras.converters.base import LayerConverter, LayerSpec, Shape, check_out_shape, register


@register
class QuadTransformConverter(LayerConverter):
    keras_layers = "ConvNetJSQuadTransform"
    options_read = "added by tensor: true"
    quirks = "npm 0.3.0 only"
    layer_type = "quadtransform"
    json_fields = ("out_depth", "out_sx", "out_sy", "layer_type")

    @staticmethod
    def _out(in_shape):
        return Shape(in_shape.sx, in_shape.sy, in_shape.depth + in_shape.depth ** 2)

    def parse(self, layer, ctx, in_shape):
        if in_shape is None or not check_out_shape(layer, ctx, self._out(in_shape)):
            return None
        return LayerSpec("quadtransform", in_shape, self._out(in_shape))

    def from_definition(self, definition, in_shape, rng, ctx):
        return LayerSpec("quadtransform", in_shape, self._out(in_shape))

    def to_keras(self, spec, builder):
        from convnetjs_keras.layers import ConvNetJSQuadTransform

        builder.add(ConvNetJSQuadTransform(name=builder.name(spec), dtype=builder.dtype))
