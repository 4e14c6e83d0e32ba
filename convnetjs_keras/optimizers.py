"""ConvNetJS's ``adam``, which no Keras optimizer reproduces.

The other ConvNetJS methods map to Keras' own optimizers; see
``convnetjs_keras.training.make_optimizer`` for the table. Importing this
module registers ``ConvNetJSAdam`` and the losses of
``convnetjs_keras.losses`` as serializable Keras objects.
"""

from __future__ import annotations

import keras
from keras import ops

from convnetjs_keras import losses  # noqa: F401  (registers the losses for .keras loading)
from convnetjs_keras.layers import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvNetJSAdam(keras.optimizers.Optimizer):
    """Adam as ConvNetJS's ``Trainer`` computes it (GitHub source, not npm 0.3.0).

    For each weight, with ``g`` the batch gradient and ``k`` the number of
    examples seen so far::

        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g ** 2
        m_hat = m * (1 - beta_1 ** k)
        v_hat = v * (1 - beta_2 ** k)
        w = w - learning_rate * m_hat / (sqrt(v_hat) + epsilon)

    Standard Adam (``keras.optimizers.Adam``) divides by ``1 - beta ** t``
    and counts updates ``t``. ConvNetJS multiplies, and its counter
    ``trainer.k`` grows by one per example, so after the ``n``-th update
    with batch size ``B``, ``k = n * B``. The effect: early steps are
    larger than Adam's. For a constant gradient the step is
    ``learning_rate * (1 - beta_1 ** k) ** 2 / (1 - beta_2 ** k)``, which
    with the default betas is 10 times Adam's step at ``k = 1``, 43 times
    at ``k = 12``, 1.6 times at ``k = 1000`` and within 1% of it from
    ``k = 5000`` on.

    ConvNetJS's defaults: ``learning_rate=0.01``, ``beta1=0.9``,
    ``beta2=0.999``, ``eps=1e-8``. npm ``convnetjs`` 0.3.0 has no adam and
    trains with SGD when asked for it.

    Args:
        learning_rate: step size, default `0.01`.
        beta_1: decay of the first moment, ConvNetJS's ``beta1``, default `0.9`.
        beta_2: decay of the second moment, ConvNetJS's ``beta2``, default `0.999`.
        epsilon: added to ``sqrt(v_hat)``, ConvNetJS's ``eps``, default `1e-8`.
        batch_size: ConvNetJS's trainer ``batch_size``: examples per update,
            so ``k = updates * batch_size``. Default `1`.
        **kwargs: the arguments of ``keras.optimizers.Optimizer`` (``name``,
            ``gradient_accumulation_steps``, ...).
    """

    def __init__(self, learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-8, batch_size=1,
                 name="convnetjs_adam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
        for arg, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{arg} must be between 0 and 1. Received: {arg}={value!r}")
        if float(epsilon) < 0.0:
            raise ValueError(f"epsilon must be non-negative. Received: epsilon={epsilon!r}")
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.batch_size = int(batch_size)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums = [self.add_variable_from_reference(v, name="momentum") for v in var_list]
        self._velocities = [self.add_variable_from_reference(v, name="velocity") for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype

        def constant(value):
            # convert_to_tensor(value, dtype) keeps a Python float exact in
            # float64; ops.cast() and mixed-type ops would round it to floatx.
            return ops.convert_to_tensor(value, dtype)

        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        # `iterations` counts updates before this one; ConvNetJS's k counts
        # examples, including this update's batch.
        examples_seen = ops.cast((self.iterations + 1) * self.batch_size, dtype)

        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        self.assign(m, m * constant(self.beta_1) + constant(1.0 - self.beta_1) * gradient)
        self.assign(v, v * constant(self.beta_2) + constant(1.0 - self.beta_2) * ops.square(gradient))

        # ConvNetJS quirk: the bias correction multiplies by (1 - beta ** k).
        m_hat = m * (constant(1.0) - ops.power(constant(self.beta_1), examples_seen))
        v_hat = v * (constant(1.0) - ops.power(constant(self.beta_2), examples_seen))
        self.assign_sub(variable, lr * m_hat / (ops.sqrt(v_hat) + constant(self.epsilon)))

    def get_config(self):
        config = super().get_config()
        config.update(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon, batch_size=self.batch_size)
        return config


OPTIMIZERS = {"ConvNetJSAdam": ConvNetJSAdam}
