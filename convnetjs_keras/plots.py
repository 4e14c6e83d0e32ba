"""Training curves as a PNG, drawn with matplotlib's Agg backend.

The figure is built with ``matplotlib.figure.Figure`` directly, without
``pyplot``, so it needs no display and leaves no global figure state behind.
"""

from __future__ import annotations

from pathlib import Path

from convnetjs_keras.files import atomic_path


def _series(rows: list[dict], key: str) -> tuple[list[float], list[float]]:
    points = [(row["examples_seen"], row[key]) for row in rows if row.get(key) is not None]
    return [x for x, _ in points], [y for _, y in points]


def plot_training(rows: list[dict], path, *, title: str | None = None, dpi: int = 100) -> Path:
    """Draw loss and accuracy against examples seen and write them as a PNG.

    ``rows`` are history rows (``convnetjs_keras.callbacks.HISTORY_COLUMNS``).
    The left panel shows the training loss (``loss``, without weight decay),
    the loss plus the L2 and L1 decay losses, and the validation loss. The
    right panel shows training and validation accuracy, and is drawn only
    when some row has an accuracy. The file is written atomically. Returns ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    has_accuracy = any(row.get("accuracy") is not None or row.get("val_accuracy") is not None for row in rows)
    figure = Figure(figsize=(10 if has_accuracy else 5.5, 4), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2 if has_accuracy else 1, squeeze=False)[0]

    loss_axes = axes[0]
    x, y = _series(rows, "loss")
    loss_axes.plot(x, y, marker=".", label="training loss")
    total = [(row["examples_seen"], row["loss"] + (row.get("l2_decay_loss") or 0.0) + (row.get("l1_decay_loss") or 0.0))
             for row in rows if row.get("loss") is not None]
    if any((row.get("l2_decay_loss") or 0.0) or (row.get("l1_decay_loss") or 0.0) for row in rows):
        loss_axes.plot([p[0] for p in total], [p[1] for p in total], linestyle="--", label="training loss + decay")
    x, y = _series(rows, "val_loss")
    if x:
        loss_axes.plot(x, y, marker="o", label="validation loss")
    loss_axes.set_xlabel("examples seen")
    loss_axes.set_ylabel("loss")
    loss_axes.set_title("loss")
    loss_axes.grid(True, alpha=0.3)
    loss_axes.legend()

    if has_accuracy:
        accuracy_axes = axes[1]
        for key, label, marker in (("accuracy", "training accuracy", "."), ("val_accuracy", "validation accuracy", "o")):
            x, y = _series(rows, key)
            if x:
                accuracy_axes.plot(x, y, marker=marker, label=label)
        accuracy_axes.set_xlabel("examples seen")
        accuracy_axes.set_ylabel("accuracy")
        accuracy_axes.set_title("accuracy")
        accuracy_axes.grid(True, alpha=0.3)
        accuracy_axes.legend()

    if title:
        figure.suptitle(title)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return path
