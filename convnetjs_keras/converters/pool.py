"""``pool``: max pooling.

Field map (ConvNetJS -> Keras):
    required  sx                        -> pool width
    optional  sy = sx                   -> pool height
              stride = 2 (not sx)       -> ``strides``
              pad = 0                   -> pad of ``ConvNetJSMaxPool``
    computed  out_sx = floor((in_sx + 2 * pad - sx) / stride + 1), likewise
              out_sy; out_depth = in_depth

Without padding this is ``keras.layers.MaxPooling2D(padding='valid')``.
With padding ConvNetJS ignores the cells outside the input instead of
treating them as zeros, which ``ConvNetJSMaxPool`` reproduces.
"""

from __future__ import annotations

from convnetjs_keras.converters.base import LayerConverter, LayerSpec, Shape, check_out_shape, register


@register
class PoolConverter(LayerConverter):
    keras_layers = "MaxPooling2D, or ConvNetJSMaxPool when padded"
    options_read = "sx, sy, stride (default 2), pad"
    quirks = "padding cells are ignored, not zeros"
    layer_type = "pool"
    json_fields = ("sx", "sy", "stride", "in_depth", "out_depth", "out_sx", "out_sy", "layer_type", "pad")

    @staticmethod
    def output_shape(in_shape, sx, sy, stride, pad):
        return Shape((in_shape.sx + 2 * pad - sx) // stride + 1,
                     (in_shape.sy + 2 * pad - sy) // stride + 1, in_shape.depth)

    def _read(self, layer, ctx, in_shape, from_json):
        sx = ctx.integer(layer, "sx")
        if from_json:
            sy = ctx.integer(layer, "sy")
            stride = ctx.integer(layer, "stride")
        else:
            sy = ctx.integer(layer, "sy", default=sx) if sx is not None else None
            stride = ctx.integer(layer, "stride", default=2)
        pad = ctx.integer(layer, "pad", default=0, minimum=0)
        if None in (sx, sy, stride, pad) or in_shape is None:
            return None
        out_shape = self.output_shape(in_shape, sx, sy, stride, pad)
        if out_shape.sx < 1 or out_shape.sy < 1:
            ctx.problem(f"a {sx}x{sy} window with pad {pad} does not fit the {in_shape} input.", field="sx")
            return None
        return LayerSpec("pool", in_shape, out_shape, dict(sx=sx, sy=sy, stride=stride, pad=pad))

    def parse(self, layer, ctx, in_shape):
        spec = self._read(layer, ctx, in_shape, from_json=True)
        if spec is None:
            return None
        in_depth = ctx.integer(layer, "in_depth")
        if in_depth is not None and in_depth != in_shape.depth:
            ctx.problem(f"is {in_depth}, but the previous layer outputs depth {in_shape.depth}.", field="in_depth")
            return None
        if not check_out_shape(layer, ctx, spec.out_shape):
            return None
        return spec

    def from_definition(self, definition, in_shape, rng, ctx):
        return self._read(definition, ctx, in_shape, from_json=False)

    def to_keras(self, spec, builder):
        import keras

        from convnetjs_keras.layers import ConvNetJSMaxPool

        builder.need_volume(spec)
        o = spec.options
        if o["pad"]:
            layer = ConvNetJSMaxPool((o["sy"], o["sx"]), o["stride"], o["pad"], name=builder.name(spec),
                                     dtype=builder.dtype)
        else:
            # NOTE: ConvNetJS never outputs less than -99999 from a pool;
            # MaxPooling2D does. Only activations below -99999 differ.
            layer = keras.layers.MaxPooling2D((o["sy"], o["sx"]), strides=o["stride"], padding="valid",
                                              name=builder.name(spec), dtype=builder.dtype)
        builder.add(layer)

    def describe(self, spec):
        o = spec.options
        size = f"{o['sx']}x{o['sy']}" if o["sx"] != o["sy"] else f"{o['sx']}"
        return f"size={size}, stride={o['stride']}, pad={o['pad']}"
