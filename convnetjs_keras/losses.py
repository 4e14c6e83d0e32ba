"""The training losses of ConvNetJS's output layers, as Keras losses.

Each loss returns, per example, the value ConvNetJS's ``backward(y)`` returns
as ``cost_loss``, and Keras averages it over the batch. Its gradient with
respect to the model output is the one ConvNetJS writes into ``in_act.dw``:

=============  =========================================  ==========================
ConvNetJS      loss per example (``cost_loss``)           gradient on the layer input
=============  =========================================  ==========================
``softmax``    ``-log(p[y])``, ``p`` the probabilities    ``p - onehot(y)``
``svm``        ``sum_i max(0, x[i] - x[y] + 1)``          ``+1`` on each violating
               over all classes, so it includes the 1     ``i != y``, minus their
               that the true class always adds            count on ``y``
``regression`` ``0.5 * sum_i (x[i] - y[i]) ** 2``         ``x - y``
=============  =========================================  ==========================

The labels are class indices, shaped (batch,) or (batch, 1), for softmax and
svm, and target vectors shaped like the output for regression.

ConvNetJS 0.3.0 (npm) reports ``2 * sum_i (x[i] - y[i]) ** 2`` as the
regression ``cost_loss``, four times the value above, but its gradient is
``x - y`` like the GitHub source's. ``ConvNetJSRegressionLoss`` always
returns the GitHub value, whose gradient is that gradient.
"""

from __future__ import annotations

import keras
from keras import ops

from convnetjs_keras.layers import PACKAGE


def _class_indices(y_true, y_pred):
    """Return integer labels shaped (batch,) from labels shaped (batch,) or (batch, 1)."""
    rank = len(y_true.shape)
    if rank == 2 and y_true.shape[-1] != 1:
        raise ValueError(
            "ConvNetJS softmax and svm losses expect class indices shaped (batch,) or (batch, 1). "
            f"Received: y_true.shape={tuple(y_true.shape)} for y_pred.shape={tuple(y_pred.shape)}. "
            "Pass the label of each example (for one-hot rows, their argmax)."
        )
    if rank not in (1, 2):
        raise ValueError(f"labels must have rank 1 or 2. Received: y_true.shape={tuple(y_true.shape)}")
    return ops.cast(ops.reshape(y_true, (-1,)), "int32")


def _score_of_label(y_true, y_pred):
    """Return ``y_pred[b, y_true[b]]`` for each example ``b``, shaped (batch,)."""
    labels = _class_indices(y_true, y_pred)
    # (batch,) -> (batch, 1) -> gather along classes -> (batch,)
    return ops.take_along_axis(y_pred, ops.expand_dims(labels, -1), axis=-1)[:, 0]


class _ConvNetJSLoss(keras.losses.Loss):
    """Shared constructor and config: Keras' ``Loss`` does not save its dtype."""

    default_name = "convnetjs_loss"

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name or self.default_name, reduction=reduction, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        config["dtype"] = self.dtype
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvNetJSSoftmaxLoss(_ConvNetJSLoss):
    """Negative log likelihood of the true class, read from probabilities.

    Per example: ``-log(p[y])`` where ``p`` is the model's softmax output and
    ``y`` the class index. This is ConvNetJS's ``SoftmaxLayer.backward``. The
    probabilities are not clipped. Keras' built-in crossentropy computes from
    the logits when it can find them (TensorFlow backend, probabilities
    straight from a softmax). Otherwise it clips the probabilities to
    ``[1e-7, 1 - 1e-7]``, which happens on JAX and PyTorch and after a dtype
    cast such as a float32 loss on a float64 model. Clipping zeroes the
    gradient of every example whose ``p[y]`` is above ``1 - 1e-7``, where
    ConvNetJS still applies ``p - onehot(y)``.

    NOTE: a probability that underflows to exactly 0 gives an infinite loss
    (as in ConvNetJS) and NaN gradients (ConvNetJS still applies -1 to that
    logit). In float64 that takes a logit gap above about 745.

    Args:
        name: loss name, default `"convnetjs_softmax_loss"`.
        reduction: Keras reduction, default `"sum_over_batch_size"` (the
            batch mean, which ConvNetJS's trainer computes).
        dtype: dtype of the computation; use the model's output dtype
            (``make_loss`` does). Default `None` means ``keras.config.floatx()``.
    """

    default_name = "convnetjs_softmax_loss"

    def call(self, y_true, y_pred):
        return -ops.log(_score_of_label(y_true, y_pred))


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvNetJSHingeLoss(_ConvNetJSLoss):
    """Multiclass hinge loss of ConvNetJS's ``svm`` layer, margin 1.

    Per example: ``sum_i max(0, x[i] - x[y] + 1)`` over all classes ``i``,
    including ``i == y``, which always adds 1. That is the value ConvNetJS
    reports. The constant does not change the gradient, which is 1 for each
    class ``i != y`` with ``x[i] - x[y] + 1 > 0`` and minus their count for
    ``y``. A margin of exactly 0 contributes no gradient, because ConvNetJS
    tests ``> 0`` and ``ops.relu``'s gradient at 0 is 0.

    Args: as ``ConvNetJSSoftmaxLoss``; default name `"convnetjs_hinge_loss"`.
    """

    default_name = "convnetjs_hinge_loss"

    def call(self, y_true, y_pred):
        true_score = ops.expand_dims(_score_of_label(y_true, y_pred), -1)
        # relu, not maximum(z, 0): TensorFlow passes maximum's gradient at a tie.
        margins = ops.relu(y_pred - true_score + 1.0)
        return ops.sum(margins, axis=-1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvNetJSRegressionLoss(_ConvNetJSLoss):
    """Half the squared error, summed over the outputs, as ConvNetJS's ``regression``.

    Per example: ``0.5 * sum_i (x[i] - y[i]) ** 2``, so the gradient is
    ``x - y``. Targets equal to NaN are skipped: they add neither loss nor
    gradient. A row with one finite target ``v`` at index ``d`` trains
    only that output, which is what ConvNetJS does for the label
    ``{dim: d, val: v}``.

    ConvNetJS 0.3.0 (npm) reports ``2 * sum_i (x[i] - y[i]) ** 2``, four
    times this value, with the same gradient; the GitHub source reports
    this value.

    Args: as ``ConvNetJSSoftmaxLoss``; default name `"convnetjs_regression_loss"`.
    """

    default_name = "convnetjs_regression_loss"

    def call(self, y_true, y_pred):
        if len(y_true.shape) == len(y_pred.shape) - 1:
            # One target per example for a model with one output: (batch,) -> (batch, 1).
            y_true = ops.expand_dims(y_true, -1)
        skipped = ops.isnan(y_true)
        # where() before squaring keeps NaN out of the value and the gradient.
        difference = ops.where(skipped, ops.zeros_like(y_pred), y_pred - y_true)
        return 0.5 * ops.sum(ops.square(difference), axis=-1)


LOSSES = {cls.__name__: cls for cls in (ConvNetJSSoftmaxLoss, ConvNetJSHingeLoss, ConvNetJSRegressionLoss)}
