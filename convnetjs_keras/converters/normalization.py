"""``lrn``: local response normalisation across channels.

Field map: k, n, alpha, beta (all required; ConvNetJS has no defaults) ->
``ConvNetJSLocalResponseNorm(k, n, alpha, beta)``. ConvNetJS divides alpha
by n: ``out_i = x_i / (k + alpha / n * sum_j x_j ** 2) ** beta``.
"""

from __future__ import annotations

from convnetjs_keras.converters.base import LayerConverter, LayerSpec, check_out_shape, register


@register
class LocalResponseNormConverter(LayerConverter):
    keras_layers = "ConvNetJSLocalResponseNorm"
    options_read = "k, n, alpha, beta"
    quirks = "alpha is divided by n"
    layer_type = "lrn"
    json_fields = ("k", "n", "alpha", "beta", "out_sx", "out_sy", "out_depth", "layer_type")

    def _spec(self, layer, ctx, in_shape):
        k = ctx.number(layer, "k")
        n = ctx.integer(layer, "n")
        alpha = ctx.number(layer, "alpha")
        beta = ctx.number(layer, "beta")
        if None in (k, n, alpha, beta) or in_shape is None:
            return None
        return LayerSpec("lrn", in_shape, in_shape, dict(k=k, n=n, alpha=alpha, beta=beta))

    def parse(self, layer, ctx, in_shape):
        spec = self._spec(layer, ctx, in_shape)
        if spec is None or not check_out_shape(layer, ctx, in_shape):
            return None
        return spec

    def from_definition(self, definition, in_shape, rng, ctx):
        return self._spec(definition, ctx, in_shape)

    def to_keras(self, spec, builder):
        from convnetjs_keras.layers import ConvNetJSLocalResponseNorm

        o = spec.options
        builder.add(ConvNetJSLocalResponseNorm(o["k"], o["n"], o["alpha"], o["beta"], name=builder.name(spec),
                                               dtype=builder.dtype))
