"""``input``: declares the size of the network's input volume.

Field map (ConvNetJS -> Keras):
    out_sx / sx / width     width   -> keras.Input shape[1]  (default 1)
    out_sy / sy / height    height  -> keras.Input shape[0]  (default 1)
    out_depth / depth       depth   -> keras.Input shape[2]  (required)

``makeLayers`` in the GitHub source reads all three names of each size and
the last one present wins; npm 0.3.0 reads only ``out_*`` (or ``in_*``).
Snapshots always carry ``out_sx``, ``out_sy`` and ``out_depth``. A 1x1xD input
becomes ``keras.Input((D,))``; any other size ``keras.Input((sy, sx, depth))``.
"""

from __future__ import annotations

from convnetjs_keras.converters.base import LayerConverter, LayerSpec, Shape, register


@register
class InputConverter(LayerConverter):
    keras_layers = "keras.Input((sy, sx, depth)), or (depth,) for 1x1xD"
    options_read = "out_sx/sx/width, out_sy/sy/height, out_depth/depth"
    quirks = ""
    layer_type = "input"
    json_fields = ("out_depth", "out_sx", "out_sy", "layer_type")

    def parse(self, layer, ctx, in_shape):
        sx = ctx.integer(layer, "out_sx")
        sy = ctx.integer(layer, "out_sy")
        depth = ctx.integer(layer, "out_depth")
        if None in (sx, sy, depth):
            return None
        return LayerSpec("input", None, Shape(sx, sy, depth))

    def from_definition(self, definition, in_shape, rng, ctx):
        sizes = {}
        for axis, names, default in (
            ("sx", ("out_sx", "in_sx", "sx", "width"), 1),
            ("sy", ("out_sy", "in_sy", "sy", "height"), 1),
            ("depth", ("out_depth", "in_depth", "depth"), None),
        ):
            present = [name for name in names if name in definition]
            if not present:
                if default is None:
                    ctx.problem("is missing; an input layer needs its depth.", field="out_depth",
                                hint="Add out_depth (e.g. 1 for grayscale, 3 for RGB).")
                    return None
                sizes[axis] = default
                continue
            sizes[axis] = ctx.integer(definition, present[-1])
        if None in sizes.values():
            return None
        return LayerSpec("input", None, Shape(sizes["sx"], sizes["sy"], sizes["depth"]))

    def to_keras(self, spec, builder):
        pass  # keras.Input is created by the model builder.

    def describe(self, spec):
        return f"{spec.out_shape.sx}x{spec.out_shape.sy}x{spec.out_shape.depth}"
