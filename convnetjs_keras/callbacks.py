"""Keras callbacks and metrics that report training as the ConvNetJS demos do.

The demo pages show, while a network trains: the classification loss (the
``cost_loss`` that ``trainer.train`` returns, without weight decay), the L2
weight decay loss, training accuracy, validation accuracy, the number of
examples seen and the time per example. ``TrainingPanel`` logs these numbers
once per epoch (and optionally every N examples) and keeps them as rows for
``history.csv`` and ``training.png``.

Keras' own ``loss`` includes the decay penalty divided by the batch size, so
the panel's loss comes from the ``CostLoss`` metric instead.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time

import keras
import numpy as np
from keras import ops

from convnetjs_keras.files import atomic_write_bytes
from convnetjs_keras.layers import PACKAGE
from convnetjs_keras.training import decay_loss

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "examples_seen", "loss", "l2_decay_loss", "l1_decay_loss", "accuracy",
                   "val_loss", "val_accuracy", "ms_per_example")
"""Columns of ``history.csv``. A cell is empty where the value does not apply
(accuracy of a regression network, validation columns without validation data
or in a row written in the middle of an epoch)."""


@keras.saving.register_keras_serializable(package=PACKAGE)
class CostLoss(keras.metrics.Mean):
    """Mean of a loss over examples, without the model's regularization losses.

    This is ConvNetJS's ``cost_loss``: the value the output layer's
    ``backward(y)`` returns, which the demos show as the classification loss.

    Args:
        loss: a ``keras.losses.Loss`` whose ``call`` returns one value per
            example (all ConvNetJS losses in ``convnetjs_keras.losses`` do),
            or its serialized config.
        name: metric name, default `"cost_loss"`.
    """

    def __init__(self, loss, name="cost_loss", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if isinstance(loss, dict):
            loss = keras.losses.deserialize(loss)
        if not isinstance(loss, keras.losses.Loss):
            raise TypeError(f"loss must be a keras.losses.Loss. Received: loss={loss!r}")
        self.loss = loss

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        # Loss.__call__ casts labels to the loss dtype too; class-index losses cast them back to int.
        y_true = ops.cast(y_true, y_pred.dtype)
        return super().update_state(self.loss.call(y_true, y_pred), sample_weight=sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "loss": keras.losses.serialize(self.loss)}


class TrainingPanel(keras.callbacks.Callback):
    """Logs the ConvNetJS demo panel's numbers at the end of each epoch.

    Each report is one log line and one row of ``rows`` (see
    ``HISTORY_COLUMNS``). Training loss and accuracy in a row are means over
    the examples trained since the previous row, which is how the ConvNetJS
    demos average a window of recent examples. Validation numbers are Keras'
    evaluation at the end of the epoch. ``ms_per_example`` is the wall time of
    the training steps since the previous row divided by their examples. It
    excludes validation, and the first row includes Keras' tracing of the
    training step.

    Args:
        train_examples: the number of training examples in one epoch.
        batch_size: examples per training step.
        epochs: the total number of epochs, shown as "epoch 3/10".
        report_every: also report after about this many examples within an
            epoch (at the first training step that reaches it); None reports
            only at epoch ends. Use ``panel_callback`` to get the variant that
            watches every batch only when needed.
    """

    def __init__(self, train_examples: int, batch_size: int, epochs: int, report_every: int | None = None):
        super().__init__()
        self.train_examples = int(train_examples)
        self.batch_size = int(batch_size)
        self.epochs = int(epochs)
        self.report_every = report_every
        self.rows: list[dict] = []
        self.examples_seen = 0

    # Keras calls these hooks; none of them runs per batch.

    def on_train_begin(self, logs=None):
        self.rows = []
        self.examples_seen = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        self._epoch_examples = 0  # examples of this epoch covered by earlier rows
        self._epoch_sums = {}  # cumulative sums (mean * examples) at the previous row
        self._interval_start = time.perf_counter()
        self._training_end = None
        self._next_report = self.report_every

    def on_test_begin(self, logs=None):
        # Keras validates at the end of an epoch; stop the training clock there.
        if self._training_end is None:
            self._training_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        end = self._training_end if self._training_end is not None else time.perf_counter()
        self._report(logs or {}, self.train_examples, end, epoch_end=True)

    # Reporting

    def _report(self, logs: dict, epoch_examples: int, now: float, *, epoch_end: bool) -> None:
        new_examples = epoch_examples - self._epoch_examples
        if new_examples <= 0:
            return
        row = dict.fromkeys(HISTORY_COLUMNS)
        row["epoch"] = self._epoch
        self.examples_seen += new_examples
        row["examples_seen"] = self.examples_seen
        row["loss"] = self._interval_mean(logs, "cost_loss", "loss", epoch_examples, new_examples)
        row["accuracy"] = self._interval_mean(logs, "accuracy", None, epoch_examples, new_examples)
        decay = decay_loss(self.model)
        row["l2_decay_loss"] = decay["l2_decay_loss"]
        row["l1_decay_loss"] = decay["l1_decay_loss"]
        if epoch_end:
            row["val_loss"] = _number(logs.get("val_cost_loss", logs.get("val_loss")))
            row["val_accuracy"] = _number(logs.get("val_accuracy"))
        row["ms_per_example"] = 1000.0 * (now - self._interval_start) / new_examples
        self.rows.append(row)
        logger.info("%s", self.format_row(row))

        self._epoch_examples = epoch_examples
        self._interval_start = time.perf_counter()

    def _interval_mean(self, logs, key, fallback, epoch_examples, new_examples):
        value = _number(logs.get(key, logs.get(fallback) if fallback else None))
        if value is None:
            return None
        # Keras logs the mean since the epoch began; differences of sums give the interval's mean.
        total = value * epoch_examples
        previous = self._epoch_sums.get(key, 0.0)
        self._epoch_sums[key] = total
        return (total - previous) / new_examples

    def format_row(self, row: dict) -> str:
        """Return one panel line for a history row."""
        parts = [f"epoch {row['epoch']}/{self.epochs}", f"examples seen {row['examples_seen']:,}"]
        if row["loss"] is not None:
            parts.append(f"loss {row['loss']:.4f}")
        parts.append(f"L2 decay loss {row['l2_decay_loss']:.4f}")
        if row["l1_decay_loss"]:
            parts.append(f"L1 decay loss {row['l1_decay_loss']:.4f}")
        if row["accuracy"] is not None:
            parts.append(f"training accuracy {row['accuracy']:.2%}")
        if row["val_loss"] is not None:
            parts.append(f"validation loss {row['val_loss']:.4f}")
        if row["val_accuracy"] is not None:
            parts.append(f"validation accuracy {row['val_accuracy']:.2%}")
        parts.append(f"{row['ms_per_example']:.3f} ms per example")
        return ", ".join(parts)


class _BatchReportingPanel(TrainingPanel):
    """``TrainingPanel`` that also reports within an epoch; watching batches
    makes Keras convert the logs to numbers after every execution."""

    def on_train_batch_end(self, batch, logs=None):
        if self._next_report is None:
            return
        # With steps_per_execution > 1, Keras calls this once per execution with the last step's index.
        done = min((batch + 1) * self.batch_size, self.train_examples)
        if done >= self._next_report and done < self.train_examples:
            self._report(logs or {}, done, time.perf_counter(), epoch_end=False)
            while self._next_report <= done:
                self._next_report += self.report_every


def panel_callback(train_examples: int, batch_size: int, epochs: int,
                   report_every: int | None = None) -> TrainingPanel:
    """Return a ``TrainingPanel``; one with a per-batch hook only when ``report_every`` is set."""
    if report_every:
        return _BatchReportingPanel(train_examples, batch_size, epochs, report_every)
    return TrainingPanel(train_examples, batch_size, epochs)


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(np.asarray(value))
    return value


def history_csv_bytes(rows: list[dict]) -> bytes:
    """Return ``rows`` as CSV with the header ``HISTORY_COLUMNS``; None becomes an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for row in rows:
        writer.writerow(["" if row.get(column) is None else _format_cell(row[column]) for column in HISTORY_COLUMNS])
    return buffer.getvalue().encode("utf-8")


def _format_cell(value) -> str:
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def write_history_csv(rows: list[dict], path, *, overwrite: bool = True) -> None:
    """Write ``history_csv_bytes(rows)`` to ``path`` atomically."""
    atomic_write_bytes(path, history_csv_bytes(rows), overwrite=overwrite)
