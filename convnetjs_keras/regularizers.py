"""ConvNetJS's per-layer weight decay as a Keras regularizer.

ConvNetJS adds the decay to each weight's gradient once per update, then
divides by the batch size (``Trainer.train`` in convnet_trainers.js)::

    g = (l2_decay * l2_decay_mul * w + l1_decay * l1_decay_mul * sign(w)
         + sum of the batch's gradients) / batch_size

with ``sign(w) = 1 if w > 0 else -1`` (so -1 at exactly 0). Keras averages the
loss over the batch and adds regularization losses once per step, so the
penalty ``(l2 * mul2 / 2 * sum(w ** 2) + l1 * mul1 * sum(|w|)) / batch_size``
gives that gradient exactly when Keras' batch size equals the trainer's.
"""

from __future__ import annotations

import keras
from keras import ops

from convnetjs_keras.layers import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvNetJSDecay(keras.regularizers.Regularizer):
    """Weight decay of one ConvNetJS layer's filters.

    ``l1_decay_mul`` and ``l2_decay_mul`` are the layer's multipliers and are
    kept in the model even while the decay rates are 0; ``compile_like_convnetjs``
    sets ``l1_decay``, ``l2_decay`` and ``batch_size`` from trainer options.
    Biases never decay in ConvNetJS, so this is only ever a kernel regularizer.
    """

    def __init__(self, l1_decay_mul=0.0, l2_decay_mul=1.0, l1_decay=0.0, l2_decay=0.0, batch_size=1):
        self.l1_decay_mul = float(l1_decay_mul)
        self.l2_decay_mul = float(l2_decay_mul)
        self.l1_decay = float(l1_decay)
        self.l2_decay = float(l2_decay)
        self.batch_size = int(batch_size)

    def __call__(self, x):
        # Keras passes the kernel Variable; JAX 0.10's jnp.where rejects it
        # unconverted ("Triggering __jax_array__() during abstractification").
        x = ops.convert_to_tensor(x)
        l1 = self.l1_decay * self.l1_decay_mul
        l2 = self.l2_decay * self.l2_decay_mul
        penalty = ops.zeros((), dtype=x.dtype)
        if l2:
            penalty = penalty + (l2 / 2.0) * ops.sum(ops.square(x))
        if l1:
            # where(w > 0, w, -w) is |w| with gradient -1 at w == 0, as ConvNetJS.
            penalty = penalty + l1 * ops.sum(ops.where(x > 0, x, -x))
        # Keras sums the regularization losses with the compiled loss, which it
        # keeps in floatx, and fails on a float64 penalty under a float32
        # floatx. The cast rounds only the reported value: the gradient
        # reaching the kernel is still computed in the kernel's dtype.
        return ops.cast(penalty / self.batch_size, keras.config.floatx())

    def get_config(self):
        return {
            "l1_decay_mul": self.l1_decay_mul,
            "l2_decay_mul": self.l2_decay_mul,
            "l1_decay": self.l1_decay,
            "l2_decay": self.l2_decay,
            "batch_size": self.batch_size,
        }
