"""``dropout``.

Field map: drop_prob = 0.5 -> ``ConvNetJSDropout(drop_prob)``.

ConvNetJS multiplies by ``drop_prob`` at prediction (not by
``1 - drop_prob``) and does not rescale in training; ``ConvNetJSDropout``
does the same, so ``drop_prob: 0`` outputs zeros at prediction.
"""

from __future__ import annotations

from convnetjs_keras.converters.base import LayerConverter, LayerSpec, check_out_shape, register


@register
class DropoutConverter(LayerConverter):
    keras_layers = "ConvNetJSDropout"
    options_read = "drop_prob (default 0.5)"
    quirks = "prediction multiplies by drop_prob"
    layer_type = "dropout"
    json_fields = ("out_depth", "out_sx", "out_sy", "layer_type", "drop_prob")

    def _spec(self, drop_prob, in_shape, ctx):
        if not 0.0 <= drop_prob <= 1.0:
            ctx.problem(f"is {drop_prob}, expected a probability between 0 and 1.", field="drop_prob")
            return None
        return LayerSpec("dropout", in_shape, in_shape, dict(drop_prob=drop_prob))

    def parse(self, layer, ctx, in_shape):
        drop_prob = ctx.number(layer, "drop_prob")
        if drop_prob is None or in_shape is None or not check_out_shape(layer, ctx, in_shape):
            return None
        return self._spec(drop_prob, in_shape, ctx)

    def from_definition(self, definition, in_shape, rng, ctx):
        drop_prob = ctx.number(definition, "drop_prob", default=0.5)
        return None if drop_prob is None else self._spec(drop_prob, in_shape, ctx)

    def to_keras(self, spec, builder):
        from convnetjs_keras.layers import ConvNetJSDropout

        builder.add(ConvNetJSDropout(spec.options["drop_prob"], name=builder.name(spec), dtype=builder.dtype))
