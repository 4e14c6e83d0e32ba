"""Keras layers for the ConvNetJS layers that Keras has no exact match for.

Each layer uses ``keras.ops`` only, so it runs on the TensorFlow, JAX and
PyTorch backends, and is registered serializable so that ``.keras`` files
containing it load with ``safe_mode=True``.
"""

from __future__ import annotations

import keras
from keras import ops

PACKAGE = "convnetjs_keras"

# ConvNetJS's PoolLayer starts each window's maximum at this value, so an
# output never goes below it and a window lying wholly in the padding
# yields it (convnet_layers_pool.js, npm 0.3.0 and the GitHub source).
POOL_FLOOR = -99999.0


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    return value


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvNetJSMaxPool(keras.layers.Layer):
    """Max pooling that ignores padded cells, as ConvNetJS's ``pool`` does.

    ConvNetJS skips window cells that fall outside the input instead of
    treating them as zeros, and starts each maximum at -99999. This layer pads
    with -99999 and pools the padded input with a 'valid' window, which gives
    the same numbers for every activation above -99999. Output size per axis:
    ``floor((in + 2 * pad - size) / stride) + 1``.

    Args:
        pool_size: ``(sy, sx)``, the window height and width.
        strides: step of the window, the same along both axes.
        pad: cells added on every side, default `0`.
    """

    def __init__(self, pool_size, strides=2, pad=0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(pool_size, int):
            pool_size = (pool_size, pool_size)
        self.pool_size = tuple(_positive_int("pool_size", int(v)) for v in pool_size)
        self.strides = _positive_int("strides", int(strides))
        if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
            raise ValueError(f"pad must be a non-negative integer. Received: pad={pad!r}")
        self.pad = pad

    def call(self, inputs):
        x = inputs
        if self.pad:
            p = self.pad
            x = ops.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], constant_values=POOL_FLOOR)
        return ops.max_pool(x, pool_size=self.pool_size, strides=self.strides, padding="valid",
                            data_format="channels_last")

    def compute_output_shape(self, input_shape):
        batch, height, width, depth = input_shape

        def out(size, window):
            if size is None:
                return None
            return (size + 2 * self.pad - window) // self.strides + 1

        return (batch, out(height, self.pool_size[0]), out(width, self.pool_size[1]), depth)

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=list(self.pool_size), strides=self.strides, pad=self.pad)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvNetJSDropout(keras.layers.Layer):
    """Dropout as ConvNetJS computes it.

    Training: each value is set to 0 with probability ``drop_prob`` and the
    others pass unscaled. Prediction: every value is multiplied by
    ``drop_prob``. (Keras' ``Dropout`` scales the kept values by
    ``1 / (1 - rate)`` in training and is the identity at prediction; the two
    agree only in expectation, and only when ``drop_prob`` is 0.5.) So
    ``drop_prob=0`` outputs zeros at prediction, exactly as ConvNetJS does.

    Args:
        drop_prob: probability of dropping a value, default `0.5`.
        seed: seed of the dropout mask, default `None`.
    """

    def __init__(self, drop_prob=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        drop_prob = float(drop_prob)
        if not 0.0 <= drop_prob <= 1.0:
            raise ValueError(f"drop_prob must be between 0 and 1. Received: drop_prob={drop_prob}")
        self.drop_prob = drop_prob
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if training:
            noise = keras.random.uniform(ops.shape(inputs), seed=self.seed_generator, dtype=inputs.dtype)
            keep = ops.cast(ops.greater_equal(noise, self.drop_prob), inputs.dtype)
            return inputs * keep
        # convert_to_tensor with the input's dtype keeps drop_prob's float64
        # value; ops.cast would round it through float32 first.
        return inputs * ops.convert_to_tensor(self.drop_prob, dtype=inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(drop_prob=self.drop_prob, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvNetJSLocalResponseNorm(keras.layers.Layer):
    """Local response normalisation across channels, as ConvNetJS's ``lrn``.

    For channel ``i``: ``out_i = x_i / (k + alpha / n * S_i) ** beta`` where
    ``S_i`` sums ``x_j ** 2`` over ``j`` from ``i - n // 2`` to ``i + n // 2``
    inside the channel range. ConvNetJS divides ``alpha`` by ``n``; other
    libraries (Caffe, ``tf.nn.local_response_normalization``) do not, or use
    another window.

    Args:
        k, n, alpha, beta: as in the ConvNetJS layer; ``n`` should be odd
            (ConvNetJS warns otherwise and then uses ``2 * (n // 2) + 1``
            channels).
    """

    def __init__(self, k=2.0, n=5, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        self.k = float(k)
        self.n = _positive_int("n", int(n))
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs):
        half = self.n // 2
        squares = ops.square(inputs)
        rank = len(inputs.shape)
        pad_width = [[0, 0]] * (rank - 1) + [[half, half]]
        padded = ops.pad(squares, pad_width)
        depth = inputs.shape[-1]
        window_sum = padded[..., 0:depth]
        for offset in range(1, 2 * half + 1):
            window_sum = window_sum + padded[..., offset:offset + depth]
        denominator = window_sum * (self.alpha / self.n) + self.k
        return inputs / ops.power(denominator, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(k=self.k, n=self.n, alpha=self.alpha, beta=self.beta)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvNetJSMaxout(keras.layers.Layer):
    """Maxout over groups of consecutive channels, as ConvNetJS's ``maxout``.

    Output channel ``i`` is the maximum of input channels
    ``i * group_size`` .. ``i * group_size + group_size - 1``. The output has
    ``floor(depth / group_size)`` channels, so a remainder is dropped.

    Args:
        group_size: channels per group, default `2`.
    """

    def __init__(self, group_size=2, **kwargs):
        super().__init__(**kwargs)
        self.group_size = _positive_int("group_size", int(group_size))

    def call(self, inputs):
        depth = inputs.shape[-1]
        groups = depth // self.group_size
        used = inputs[..., : groups * self.group_size]
        # (..., groups * group_size) -> (..., groups, group_size)
        shape = tuple(-1 if d is None else d for d in inputs.shape[1:-1])
        grouped = ops.reshape(used, (-1,) + shape + (groups, self.group_size))
        return ops.max(grouped, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] // self.group_size,)

    def get_config(self):
        config = super().get_config()
        config.update(group_size=self.group_size)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvNetJSQuadTransform(keras.layers.Layer):
    """ConvNetJS 0.3.0's ``quadtransform``: the inputs, then all products.

    For depth ``D`` at each position, the output has ``D + D * D`` channels:
    ``x_0 .. x_{D-1}``, then ``x_i * x_j`` for ``i`` in ``0..D-1`` and ``j``
    in ``0..D-1`` (row-major, so each off-diagonal product appears twice).
    ``makeLayers`` inserts it before a layer defined with ``tensor: true``.
    """

    def call(self, inputs):
        depth = inputs.shape[-1]
        outer = ops.expand_dims(inputs, -1) * ops.expand_dims(inputs, -2)
        # (..., D, D) -> (..., D * D), row-major
        shape = tuple(-1 if d is None else d for d in inputs.shape[1:-1])
        products = ops.reshape(outer, (-1,) + shape + (depth * depth,))
        return ops.concatenate([inputs, products], axis=-1)

    def compute_output_shape(self, input_shape):
        depth = input_shape[-1]
        return tuple(input_shape[:-1]) + (depth + depth * depth,)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvNetJSSVM(keras.layers.Layer):
    """Marks the output as ConvNetJS ``svm`` scores; the identity.

    ConvNetJS's ``svm`` layer outputs its inputs unchanged and trains with a
    multiclass hinge loss (see ``convnetjs_keras.losses``).
    """

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvNetJSRegression(keras.layers.Layer):
    """Marks the output as ConvNetJS ``regression`` targets; the identity.

    ConvNetJS's ``regression`` layer outputs its inputs unchanged and trains
    with ``0.5 * sum((output - target) ** 2)`` per example.
    """

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


CUSTOM_OBJECTS = {
    cls.__name__: cls
    for cls in (
        ConvNetJSMaxPool,
        ConvNetJSDropout,
        ConvNetJSLocalResponseNorm,
        ConvNetJSMaxout,
        ConvNetJSQuadTransform,
        ConvNetJSSVM,
        ConvNetJSRegression,
    )
}
