"""``softmax``, ``svm`` and ``regression``: the output (loss) layers.

Each takes the whole input volume as a vector (num_inputs = in_sx * in_sy *
in_depth) and outputs 1 x 1 x num_inputs. In ``layer_defs`` they carry
``num_classes`` (softmax, svm) or ``num_neurons`` (regression), which
``makeLayers`` turns into an fc layer placed in front of them.

    softmax     -> ``keras.layers.Softmax``  (exp(x - max) / sum)
    svm         -> ``ConvNetJSSVM``          (identity; hinge loss in training)
    regression  -> ``ConvNetJSRegression``   (identity; squared loss in training)
"""

from __future__ import annotations

from convnetjs_keras.converters.base import LayerConverter, LayerSpec, Shape, register


class _LossConverter(LayerConverter):
    json_fields = ("out_depth", "out_sx", "out_sy", "layer_type", "num_inputs")

    def parse(self, layer, ctx, in_shape):
        if in_shape is None:
            return None
        out_shape = Shape(1, 1, in_shape.size)
        ok = True
        for field, expected in (("num_inputs", in_shape.size), ("out_depth", in_shape.size),
                                ("out_sx", 1), ("out_sy", 1)):
            found = ctx.integer(layer, field)
            if found is None:
                ok = False
            elif found != expected:
                ctx.problem(f"is {found}, but the previous layer outputs {in_shape} = {in_shape.size} values, "
                            f"so {field} must be {expected}.", field=field,
                            hint="The file is inconsistent; was a size edited by hand?")
                ok = False
        return LayerSpec(self.layer_type, in_shape, out_shape) if ok else None

    def from_definition(self, definition, in_shape, rng, ctx):
        return LayerSpec(self.layer_type, in_shape, Shape(1, 1, in_shape.size))

    def describe(self, spec):
        return f"classes={spec.out_shape.depth}" if self.layer_type != "regression" else \
            f"outputs={spec.out_shape.depth}"


@register
class SoftmaxConverter(_LossConverter):
    keras_layers = "Softmax"
    options_read = "num_classes (adds an fc)"
    quirks = ""
    layer_type = "softmax"

    def to_keras(self, spec, builder):
        import keras

        builder.need_vector(spec)
        builder.add(keras.layers.Softmax(name=builder.name(spec), dtype=builder.dtype))


@register
class SVMConverter(_LossConverter):
    keras_layers = "ConvNetJSSVM (identity)"
    options_read = "num_classes (adds an fc)"
    quirks = "hinge loss summed over all classes"
    layer_type = "svm"

    def to_keras(self, spec, builder):
        from convnetjs_keras.layers import ConvNetJSSVM

        builder.need_vector(spec)
        builder.add(ConvNetJSSVM(name=builder.name(spec), dtype=builder.dtype))


@register
class RegressionConverter(_LossConverter):
    keras_layers = "ConvNetJSRegression (identity)"
    options_read = "num_neurons (adds an fc)"
    quirks = "loss 0.5 * sum of squares"
    layer_type = "regression"

    def to_keras(self, spec, builder):
        from convnetjs_keras.layers import ConvNetJSRegression

        builder.need_vector(spec)
        builder.add(ConvNetJSRegression(name=builder.name(spec), dtype=builder.dtype))


LOSS_LAYER_TYPES = ("softmax", "svm", "regression")
