"""``relu``, ``sigmoid``, ``tanh`` and ``maxout``: element-wise layers.

relu, sigmoid and tanh have no options and become ``keras.layers.Activation``.
ConvNetJS computes tanh as ``(exp(2x) - 1) / (exp(2x) + 1)``, which equals
tanh to rounding for |x| < 354 and is NaN above (exp overflows); Keras' tanh
saturates at +-1 there.

maxout:  group_size = 2 -> ``ConvNetJSMaxout(group_size)``;
         out_depth = floor(in_depth / group_size).
"""

from __future__ import annotations

from convnetjs_keras.converters.base import LayerConverter, LayerSpec, Shape, check_out_shape, register


class _ElementwiseConverter(LayerConverter):
    json_fields = ("out_depth", "out_sx", "out_sy", "layer_type")
    keras_activation: str

    def parse(self, layer, ctx, in_shape):
        if in_shape is None or not check_out_shape(layer, ctx, in_shape):
            return None
        return LayerSpec(self.layer_type, in_shape, in_shape)

    def from_definition(self, definition, in_shape, rng, ctx):
        return LayerSpec(self.layer_type, in_shape, in_shape)

    def to_keras(self, spec, builder):
        import keras

        builder.add(keras.layers.Activation(self.keras_activation, name=builder.name(spec), dtype=builder.dtype))


@register
class ReluConverter(_ElementwiseConverter):
    keras_layers = "Activation('relu')"
    options_read = ""
    quirks = ""
    layer_type = "relu"
    keras_activation = "relu"


@register
class SigmoidConverter(_ElementwiseConverter):
    keras_layers = "Activation('sigmoid')"
    options_read = ""
    quirks = ""
    layer_type = "sigmoid"
    keras_activation = "sigmoid"


@register
class TanhConverter(_ElementwiseConverter):
    keras_layers = "Activation('tanh')"
    options_read = ""
    quirks = "ConvNetJS gives NaN for x > 354"
    layer_type = "tanh"
    keras_activation = "tanh"


@register
class MaxoutConverter(LayerConverter):
    keras_layers = "ConvNetJSMaxout"
    options_read = "group_size (default 2)"
    quirks = "groups of consecutive channels; a remainder is dropped"
    layer_type = "maxout"
    json_fields = ("out_depth", "out_sx", "out_sy", "layer_type", "group_size")

    def _spec(self, group_size, in_shape, ctx):
        out_depth = in_shape.depth // group_size
        if out_depth < 1:
            ctx.problem(f"is {group_size}, larger than the input depth {in_shape.depth}.", field="group_size")
            return None
        return LayerSpec("maxout", in_shape, Shape(in_shape.sx, in_shape.sy, out_depth),
                         dict(group_size=group_size))

    def parse(self, layer, ctx, in_shape):
        group_size = ctx.integer(layer, "group_size")
        if group_size is None or in_shape is None:
            return None
        spec = self._spec(group_size, in_shape, ctx)
        if spec is None or not check_out_shape(layer, ctx, spec.out_shape):
            return None
        return spec

    def from_definition(self, definition, in_shape, rng, ctx):
        group_size = ctx.integer(definition, "group_size", default=2)
        if group_size is None:
            return None
        return self._spec(group_size, in_shape, ctx)

    def to_keras(self, spec, builder):
        from convnetjs_keras.layers import ConvNetJSMaxout

        builder.add(ConvNetJSMaxout(spec.options["group_size"], name=builder.name(spec), dtype=builder.dtype))

    def describe(self, spec):
        return f"group_size={spec.options['group_size']}"
