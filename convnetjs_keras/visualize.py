"""Pictures of what a network computes, laid out like the ConvNetJS demo pages.

``render_report(model, image, out_dir)`` runs one input through a Keras model
and writes into ``out_dir``:

- ``input.png``: the network input (RGB for depth 3, else one grey tile per
  channel);
- ``activations_NN_<layer>.png``: for each layer, its output volume (the
  feature maps) with one grey tile per channel, titled with the ConvNetJS
  layer type, the Keras layer name and the shape ``sx x sy x depth``;
- ``filters_NN_<layer>.png``: for each Conv2D, its filters (RGB tiles for a
  first layer on a 3-channel input, else one grey tile per filter and input
  channel);
- ``predictions.png``: the top classes as a bar chart, or the regression
  outputs;
- ``index.html``: all of them, one row per layer as the demo page shows
  them: layer type and output shape, filter or pooling size, maximum and
  minimum activation, parameter count, feature maps and filters.

Grey levels follow the demo's ``draw_activations``: a value v becomes
``floor((v - min) / (max - min) * 255)``, with min and max taken over the
whole volume drawn, so tiles of one layer are comparable. Each filter is
scaled by its own min and max, as the demo draws each filter ``Vol``. The
demo also draws gradients of a training step. A report shows one forward
pass, so it has no gradients.

``VisualizeCallback`` renders such a report every N training batches.
"""

from __future__ import annotations

import dataclasses
import html
import io
import logging
import math
import os
import re
from pathlib import Path

import keras
import numpy as np

from convnetjs_keras.errors import DataError, KerasModelError, OutputPathError, Problem

logger = logging.getLogger(__name__)

DEFAULT_TOP = 5
DEFAULT_MAX_CHANNELS = 256
"""Channels (feature maps, or filters) drawn per layer; the image title states how many were left out."""

MAX_VECTOR_VALUES = 4096
"""Values drawn for a vector (1 x 1 x depth) layer, one small square each; ``max_channels`` does not apply."""

MAX_FILTER_TILES = 4096
"""Largest number of filter tiles (filters x input channels) drawn for one grey-scale conv layer."""

# Keras layers that only change how a volume is stored (Flatten before an fc,
# the zero padding of a conv) are not ConvNetJS layers, so they get no row.
_STRUCTURAL = frozenset({"InputLayer", "Flatten", "Reshape", "ZeroPadding2D", "Identity"})

# ConvNetJS layer type of each Keras class, for models built by this library
# and for hand-written Keras models.
_LAYER_TYPES = {
    "Conv2D": "conv",
    "Dense": "fc",
    "MaxPooling2D": "pool",
    "ConvNetJSMaxPool": "pool",
    "ReLU": "relu",
    "Softmax": "softmax",
    "ConvNetJSSVM": "svm",
    "ConvNetJSRegression": "regression",
    "ConvNetJSDropout": "dropout",
    "Dropout": "dropout",
    "ConvNetJSLocalResponseNorm": "lrn",
    "ConvNetJSMaxout": "maxout",
    "ConvNetJSQuadTransform": "quadtransform",
}

_PAGE_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; }
h2 { font-size: 1.15em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
.summary { color: #555; }
.prediction { display: flex; gap: 2em; align-items: flex-start; flex-wrap: wrap; }
.prediction img, .layer img { image-rendering: pixelated; }
table.top { border-collapse: collapse; }
table.top td, table.top th { padding: 0.15em 0.7em; text-align: left; }
.layer { display: flex; gap: 1.5em; border-bottom: 1px solid #eee; padding: 0.8em 0; }
.ltitle { width: 19em; flex: none; font-size: 0.9em; line-height: 1.5; }
.ltitle .type { font-weight: bold; font-size: 1.1em; }
.ltitle .keras { color: #666; }
.layer_act { font-size: 0.9em; color: #444; }
.layer_act img { display: block; margin: 0.2em 0 0.8em 0; max-width: 100%; }
"""


@dataclasses.dataclass
class LayerRow:
    """One row of a report: a layer's output for the rendered input.

    ``volume`` is the output as (sy, sx, depth), a vector output as
    (1, 1, depth). ``filters`` is a Conv2D kernel as (filters, sy, sx,
    in_depth); it is None for other layers.
    """

    position: int
    keras_name: str
    keras_class: str
    layer_type: str
    volume: np.ndarray
    details: list[str]
    filters: np.ndarray | None = None

    @property
    def shape_text(self) -> str:
        sy, sx, depth = self.volume.shape
        return f"{sx}x{sy}x{depth}"

    @property
    def file_stem(self) -> str:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.keras_name)
        return f"{self.position:02d}_{name}"


@dataclasses.dataclass
class Prediction:
    """One entry of the prediction panel: class index (or output index), its name and value."""

    index: int
    label: str
    value: float


@dataclasses.dataclass
class Report:
    """Files, layer rows and predictions of one report written by ``render_report``.

    ``images`` lists every PNG in the order ``index.html`` shows them.
    ``task`` is "classification" or "regression". ``predictions`` contains the
    top classes, best first, or every regression output in order, and
    ``value_name`` names their values: "probability" (softmax),
    "score" (svm) or "output" (regression).
    """

    out_dir: Path
    index_html: Path
    images: list[Path]
    rows: list[LayerRow]
    task: str
    value_name: str
    predictions: list[Prediction]


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------


def prepare_input(model, image) -> np.ndarray:
    """Return one example for ``model`` as an array shaped (1, *input shape) in the model's dtype.

    ``image`` is a path to an image file, a ``PIL.Image.Image`` (both are
    converted as the ConvNetJS demos do, see
    ``convnetjs_keras.data.preprocess_image``), or an array: one example
    shaped like the model input, a flat vector in ConvNetJS's Vol order, or
    a batch of one in any layout ``convnetjs_keras.inference.reshape_inputs``
    accepts.

    Raises:
        DataError: the image cannot be read, or the array does not fit the
            model input.
    """
    from convnetjs_keras.data import preprocess_image
    from convnetjs_keras.inference import _input_signature, reshape_inputs

    shape, dtype = _input_signature(model)
    if isinstance(image, (str, os.PathLike)) or _is_pil_image(image):
        return preprocess_image(image, shape, dtype=dtype)[np.newaxis]
    array = np.asarray(image)
    if array.shape == shape or (array.ndim == 1 and array.size == math.prod(shape)):
        array = array.reshape((1, *shape))
    batch = reshape_inputs(model, array)
    if batch.shape[0] != 1:
        raise DataError(Problem(f"received {batch.shape[0]} examples, expected one.",
                                hint="Pass a single example, e.g. x[0]."))
    if not np.isfinite(batch).all():
        raise DataError(Problem("the example contains NaN or infinity; expected finite numbers."))
    return batch


def _is_pil_image(value) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        return False
    return isinstance(value, Image.Image)


def convnetjs_layer_type(layer) -> str | None:
    """Return the ConvNetJS layer type that a Keras layer computes, or None for a structural layer.

    Flatten, Reshape, ZeroPadding2D and InputLayer return None: they only
    change how a volume is stored. A Conv2D or Dense with a built-in
    activation returns e.g. ``"conv + relu"``, because ConvNetJS would show
    two layers. Keras classes without a ConvNetJS counterpart return their
    class name in lower case.
    """
    class_name = type(layer).__name__
    if class_name in _STRUCTURAL:
        return None
    if class_name == "Activation":
        return _activation_name(layer)
    layer_type = _LAYER_TYPES.get(class_name, class_name.lower())
    if class_name in ("Conv2D", "Dense"):
        activation = _activation_name(layer)
        if activation != "linear":
            layer_type += f" + {activation}"
    return layer_type


def _activation_name(layer) -> str:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", str(activation))


def collect_rows(model, x: np.ndarray) -> list[LayerRow]:
    """Run ``x`` (a batch of one) through ``model`` and return one ``LayerRow`` per ConvNetJS layer.

    The first row is the input. Layers run with ``training=False``, so
    dropout scales as at prediction. A ``keras.Sequential`` is run layer by
    layer, any other model through a functional model with every layer's
    output.
    """
    layers = [layer for layer in model.layers if convnetjs_layer_type(layer) is not None]
    outputs = _layer_outputs(model, x)
    channels_first = any(getattr(layer, "data_format", None) == "channels_first" for layer in model.layers)

    rows = [LayerRow(0, "input", "InputLayer", "input", _as_volume(x[0], channels_first),
                     [f"input shape {tuple(x.shape[1:])}"])]
    for position, layer in enumerate(layers, start=1):
        volume = _as_volume(outputs[layer.name][0], channels_first)
        details, filters = _layer_details(layer, volume)
        rows.append(LayerRow(position, layer.name, type(layer).__name__, convnetjs_layer_type(layer), volume,
                             details, filters))
    return rows


def _layer_outputs(model, x: np.ndarray) -> dict[str, np.ndarray]:
    if isinstance(model, keras.Sequential):
        outputs = {}
        tensor = keras.ops.convert_to_tensor(x)
        for layer in model.layers:
            tensor = layer(tensor, training=False)
            outputs[layer.name] = keras.ops.convert_to_numpy(tensor)
        return outputs

    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    try:
        probe = keras.Model(model.inputs[0], [layer.output for layer in layers])
    except (AttributeError, ValueError) as error:
        raise KerasModelError(Problem(f"the outputs of the layers of model {model.name!r} cannot be read: {error}",
                                      hint="Visualize a keras.Sequential or a functional model whose layers are "
                                           "each called once.")) from None
    values = probe(keras.ops.convert_to_tensor(x), training=False)
    return {layer.name: keras.ops.convert_to_numpy(value) for layer, value in zip(layers, values)}


def _as_volume(value: np.ndarray, channels_first: bool) -> np.ndarray:
    """Return one example's output as (sy, sx, depth) in float64."""
    value = np.asarray(value, dtype=np.float64)
    if value.ndim == 3:
        return np.moveaxis(value, 0, -1) if channels_first else value  # (depth, sy, sx) -> (sy, sx, depth)
    return value.reshape(1, 1, -1)  # a vector, or any other rank, as a 1 x 1 x size volume


def _layer_details(layer, volume: np.ndarray) -> tuple[list[str], np.ndarray | None]:
    """Return the demo's text lines for a layer, and a Conv2D's filters as (filters, sy, sx, in_depth)."""
    class_name = type(layer).__name__
    details = []
    filters = None
    if class_name == "Conv2D":
        kernel = np.asarray(layer.get_weights()[0], dtype=np.float64)  # (sy, sx, in_depth, filters)
        filters = np.transpose(kernel, (3, 0, 1, 2))  # -> (filters, sy, sx, in_depth)
        count, sy, sx, in_depth = filters.shape
        details.append(f"filter size {sx}x{sy}x{in_depth}, stride {_pair_text(layer.strides)}")
    elif class_name in ("MaxPooling2D", "ConvNetJSMaxPool"):
        sy, sx = layer.pool_size
        details.append(f"pooling size {sx}x{sy}, stride {_pair_text(layer.strides)}")
    elif class_name == "ConvNetJSDropout":
        details.append(f"drop_prob {layer.drop_prob:g}")
    elif class_name == "Dropout":
        details.append(f"rate {layer.rate:g}")

    details.append(f"max activation: {_number_text(volume.max())}, min: {_number_text(volume.min())}")
    if class_name == "Conv2D":
        count, sy, sx, in_depth = filters.shape
        biases = count if layer.use_bias else 0
        details.append(f"parameters: {count}x{sx}x{sy}x{in_depth}+{biases} = {count * sx * sy * in_depth + biases:,}")
    elif class_name == "Dense":
        inputs, count = layer.kernel.shape
        biases = count if layer.use_bias else 0
        details.append(f"parameters: {count}x{inputs}+{biases} = {count * inputs + biases:,}")
    return details, filters


def _pair_text(value) -> str:
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    return str(values[0]) if len(set(values)) == 1 else "x".join(str(v) for v in reversed(values))


def _number_text(value: float) -> str:
    return f"{float(value):.5g}"


# ---------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------

# Colour of the gaps between tiles: a light blue-grey, so that it differs from every grey level.
_GAP_COLOR = (205, 215, 230)


def grey_levels(values: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Return ``floor((values - low) / (high - low) * 255)`` as uint8, as the demo's ``draw_activations``.

    ``low`` and ``high`` default to the minimum and maximum of ``values``.
    When they are equal every level is 0, which is what the demo's canvas
    shows for a division by zero.
    """
    values = np.asarray(values, dtype=np.float64)
    low = float(values.min()) if low is None else low
    high = float(values.max()) if high is None else high
    if not high > low:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.clip(np.floor((values - low) / (high - low) * 255.0), 0, 255).astype(np.uint8)


def _scale_for(height: int, width: int) -> int:
    """Integer zoom that draws a tile at most 96 pixels wide, between 1 and 10 (the demo uses 2 and 10)."""
    return int(min(10, max(1, 96 // max(height, width))))


def tile_mosaic(tiles: np.ndarray, columns: int, scale: int, gap: int = 1, row_gap: int | None = None) -> np.ndarray:
    """Return uint8 tiles (n, h, w) or (n, h, w, 3) laid out in a grid as an RGB image (H, W, 3).

    Each tile is zoomed ``scale`` times (nearest neighbour). Tiles are
    separated by ``gap`` pixels of light blue-grey, and rows by ``row_gap``
    pixels (default: ``gap``).
    """
    row_gap = gap if row_gap is None else row_gap
    if tiles.ndim == 3:
        tiles = np.repeat(tiles[..., np.newaxis], 3, axis=3)  # grey -> RGB
    count, height, width, _ = tiles.shape
    tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    height, width = height * scale, width * scale
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    mosaic = np.empty((rows * (height + row_gap) + row_gap, columns * (width + gap) + gap, 3), dtype=np.uint8)
    mosaic[:] = _GAP_COLOR
    for index in range(count):
        top = row_gap + (index // columns) * (height + row_gap)
        left = gap + (index % columns) * (width + gap)
        mosaic[top:top + height, left:left + width] = tiles[index]
    return mosaic


def volume_mosaic(volume: np.ndarray, *, color: bool = False, max_channels: int = DEFAULT_MAX_CHANNELS):
    """Return ``(mosaic, channels drawn)`` for a (sy, sx, depth) volume.

    With ``color`` and depth 3 the volume is one RGB tile. Otherwise each
    channel is a grey tile. Grey levels use the min and max of the whole
    volume, as the demo draws a layer. At most ``max_channels`` channels
    are drawn, or ``MAX_VECTOR_VALUES`` for a 1 x 1 x depth volume.
    """
    sy, sx, depth = volume.shape
    levels = grey_levels(volume)
    scale = _scale_for(sy, sx)
    if color and depth == 3:
        return tile_mosaic(levels[np.newaxis], 1, scale), depth
    shown = min(depth, MAX_VECTOR_VALUES if sy == 1 and sx == 1 else max_channels)
    tiles = np.moveaxis(levels[:, :, :shown], -1, 0)  # (sy, sx, depth) -> (depth, sy, sx)
    columns = min(shown, 40) if sy == 1 and sx == 1 else math.ceil(math.sqrt(shown * sy / sx))
    return tile_mosaic(tiles, columns, scale), shown


def filter_mosaic(filters: np.ndarray, *, color: bool, max_channels: int = DEFAULT_MAX_CHANNELS):
    """Return ``(mosaic, filters drawn)`` for filters shaped (count, sy, sx, in_depth).

    Each filter is scaled by its own min and max. With ``color`` (and
    in_depth 3) a filter is one RGB tile. Otherwise each filter is a row of
    grey tiles, one per input channel (a single row of tiles when in_depth
    is 1).
    """
    count, sy, sx, in_depth = filters.shape
    if color and in_depth == 3:
        shown = min(count, max_channels)
        tiles = np.stack([grey_levels(kernel) for kernel in filters[:shown]])
        scale = int(min(8, max(1, round(30 / max(sy, sx)))))
        return tile_mosaic(tiles, math.ceil(math.sqrt(shown)), scale), shown
    shown = max(1, min(count, max_channels, MAX_FILTER_TILES // in_depth))
    channels = min(in_depth, MAX_FILTER_TILES)
    tiles = []
    for kernel in filters[:shown]:
        levels = grey_levels(kernel)
        tiles.extend(levels[:, :, channel] for channel in range(channels))
    if channels == 1:
        scale = int(min(8, max(1, round(30 / max(sy, sx)))))
        return tile_mosaic(np.stack(tiles), math.ceil(math.sqrt(shown)), scale), shown
    scale = int(min(8, max(1, round(16 / max(sy, sx)))))
    # One row per filter, with wider gaps between the rows than between a filter's channels.
    return tile_mosaic(np.stack(tiles), channels, scale, row_gap=3), shown


def _figure_png(mosaic: np.ndarray, title: str, dpi: int = 100) -> bytes:
    """Return PNG bytes of ``mosaic`` drawn pixel for pixel under a one-line title."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height, width, _ = mosaic.shape
    title_px = 26
    figure_width = max(width, 7 * len(title) + 16)
    figure = Figure(figsize=(figure_width / dpi, (height + title_px) / dpi), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_axes([(figure_width - width) / 2 / figure_width, 0, width / figure_width,
                            height / (height + title_px)])
    axes.imshow(mosaic, interpolation="nearest")
    axes.set_axis_off()
    figure.text(0.5, 1 - 4 / (height + title_px), title, ha="center", va="top", fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _predictions_png(task: str, predictions: list[Prediction], value_name: str, dpi: int = 100) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = predictions if task == "classification" else predictions[:64]
    figure = Figure(figsize=(5.5, 0.6 + 0.3 * max(len(shown), 2)), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    names = [entry.label for entry in shown]
    values = [entry.value for entry in shown]
    positions = np.arange(len(shown))
    colors = ["#55bb55" if position == 0 and task == "classification" else "#bb5555" for position in positions]
    if task == "regression":
        colors = ["#5577bb"] * len(shown)
    axes.barh(positions, values, color=colors)
    axes.set_yticks(positions, names)
    axes.invert_yaxis()
    for position, value in zip(positions, values):
        axes.annotate(f" {value:.4g}", (value, position), va="center", fontsize=8,
                      ha="left" if value >= 0 else "right")
    if task == "classification" and value_name == "probability":
        axes.set_xlim(0, 1.15)
    else:
        axes.margins(x=0.2)
    axes.set_xlabel(value_name)
    if task == "classification":
        title = f"top {len(shown)} classes"
    else:
        title = "regression outputs" + (f" (first {len(shown)} of {len(predictions)})"
                                        if len(shown) < len(predictions) else "")
    axes.set_title(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# ---------------------------------------------------------------------------
# Predictions
# ---------------------------------------------------------------------------


def rank_outputs(model, outputs: np.ndarray, labels=None, top: int = DEFAULT_TOP) -> tuple[str, str, list[Prediction]]:
    """Return ``(task, value name, predictions)`` for one example's outputs.

    A classification network (softmax or svm output) gives its ``top``
    classes, best first; ties keep the lower class index first. A
    regression network gives every output in order. ``value name`` is
    "probability" for softmax, "score" for svm and "output" for regression.
    """
    from convnetjs_keras.data import model_task

    task, _count = model_task(model)
    outputs = np.asarray(outputs, dtype=np.float64).reshape(-1)
    if task == "classification":
        value_name = "score" if type(model.layers[-1]).__name__ == "ConvNetJSSVM" else "probability"
        order = np.argsort(-outputs, kind="stable")[:max(1, min(top, outputs.size))]
        return task, value_name, [Prediction(int(i), _label(labels, int(i)), float(outputs[i])) for i in order]
    return task, "output", [Prediction(i, f"output {i}", float(value)) for i, value in enumerate(outputs)]


def _label(labels, index: int) -> str:
    return labels[index] if labels is not None and index < len(labels) else str(index)


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------


def render_report(model, image, out_dir, *, labels=None, top: int = DEFAULT_TOP, title: str | None = None,
                  input_name: str | None = None, overwrite: bool = True,
                  max_channels: int = DEFAULT_MAX_CHANNELS) -> Report:
    """Run one input through ``model`` and write its visualisation into ``out_dir``.

    Writes ``input.png``, ``predictions.png``, one ``activations_NN_<layer>.png``
    per ConvNetJS layer, one ``filters_NN_<layer>.png`` per Conv2D, and
    ``index.html`` showing them together (see the module docstring). ``NN``
    is the row number, 00 for the input. Each file is written atomically,
    and ``index.html`` last, so the page never refers to a missing image.
    Files of an earlier report that this one does not write are left alone.

    Args:
        model: a single-input Keras model, e.g. from ``from_snapshot``.
        image: an image path, a ``PIL.Image.Image`` or an array (see
            ``prepare_input``).
        out_dir: folder for the files; created (with its parents) if missing.
        labels: class names, one per output class (default: class indices).
        top: number of classes in the prediction panel, default 5.
        title: heading of the page (default: "Network visualization").
        input_name: how the page names the input (default: the file name
            when ``image`` is a path, else "array input").
        overwrite: replace existing files (default `True`); with `False`,
            an existing file raises before anything is written.
        max_channels: largest number of channels (feature maps, filters)
            drawn per layer, default 256; the image title states when a
            layer has more.

    Returns:
        A ``Report`` with the paths written, the layer rows and the predictions.

    Raises:
        DataError: the input cannot be read or does not fit the model.
        KerasModelError: the model's layer outputs cannot be read.
        OutputPathError: ``out_dir`` is a file, cannot be written, or contains
            a report and ``overwrite`` is `False`.
    """
    x = prepare_input(model, image)
    if input_name is None:
        input_name = Path(image).name if isinstance(image, (str, os.PathLike)) else "array input"
    return _render(model, x, Path(out_dir), labels=labels, top=top, title=title, input_name=input_name,
                   overwrite=overwrite, max_channels=max_channels)


def _render(model, x, out_dir: Path, *, labels, top, title, input_name, overwrite, max_channels,
            index_link: str | None = None) -> Report:
    from convnetjs_keras.files import atomic_write_bytes
    from convnetjs_keras.inference import predict

    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"top must be a positive integer. Received: top={top!r}")
    if isinstance(max_channels, bool) or not isinstance(max_channels, int) or max_channels < 1:
        raise ValueError(f"max_channels must be a positive integer. Received: max_channels={max_channels!r}")
    rows = collect_rows(model, x)
    # The panel shows what convnetjs_keras.inference.predict returns, the function the `predict` command uses.
    outputs = predict(model, x)[0]
    task, value_name, predictions = rank_outputs(model, outputs, labels, top)
    if labels is not None and task == "classification" and len(labels) != outputs.size:
        raise ValueError(f"labels must have one name per class, {outputs.size} names. "
                         f"Received: {len(labels)} labels")

    images: dict[str, bytes] = {}
    input_mosaic, _ = volume_mosaic(rows[0].volume, color=True, max_channels=max_channels)
    images["input.png"] = _figure_png(input_mosaic, f"input {rows[0].shape_text}")
    images["predictions.png"] = _predictions_png(task, predictions, value_name)
    # As in the demo, only the first conv layer's filters are drawn in colour, when they see an RGB input.
    first_conv = next((row.position for row in rows if row.filters is not None), None)
    for row in rows:
        mosaic, shown = volume_mosaic(row.volume, color=row.position == 0, max_channels=max_channels)
        images[f"activations_{row.file_stem}.png"] = _figure_png(mosaic, _image_title(row, shown))
        if row.filters is not None:
            color = row.filters.shape[3] == 3 and row.position == first_conv
            mosaic, shown = filter_mosaic(row.filters, color=color, max_channels=max_channels)
            images[f"filters_{row.file_stem}.png"] = _figure_png(mosaic, _filter_title(row, shown, color))

    page = _page_html(model, rows, images, task, value_name, predictions, title=title, input_name=input_name,
                      index_link=index_link)
    paths = _prepare_out_dir(out_dir, [*images, "index.html"], overwrite)
    for name, data in images.items():
        atomic_write_bytes(out_dir / name, data)
    atomic_write_bytes(out_dir / "index.html", page.encode("utf-8"))
    logger.debug("wrote %s with %d images", out_dir / "index.html", len(images))
    return Report(out_dir, paths[-1], paths[:-1], rows, task, value_name, predictions)


def _image_title(row: LayerRow, shown: int) -> str:
    depth = row.volume.shape[2]
    text = f"{row.layer_type} ({row.keras_name}) {row.shape_text}"
    if shown < depth:
        text += f", first {shown} of {depth} channels"
    return text


def _filter_title(row: LayerRow, shown: int, color: bool) -> str:
    count, sy, sx, in_depth = row.filters.shape
    text = f"filters of {row.layer_type} ({row.keras_name}): {count} x {sx}x{sy}x{in_depth}"
    if shown < count:
        text += f", first {shown} shown"
    if in_depth > 1 and not color:
        text += ", one row per filter"
    return text


def _prepare_out_dir(out_dir: Path, names: list[str], overwrite: bool) -> list[Path]:
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputPathError(Problem("exists and is not a folder.", source=str(out_dir),
                                      hint="Choose a folder path for the report."))
    paths = [out_dir / name for name in names]
    if not overwrite:
        taken = [path for path in paths if path.exists()]
        if taken:
            raise OutputPathError(Problem(f"already contains a report ({taken[0].name} and {len(taken) - 1} more "
                                          "files).", source=str(out_dir),
                                          hint="Pass --force to replace it, or choose another folder."))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputPathError(Problem(f"could not be created: {error.strerror or error}.", source=str(out_dir),
                                      hint="Check the path and the permissions of its parent folder.")) from None
    return paths


def _page_html(model, rows, images, task, value_name, predictions, *, title, input_name, index_link) -> str:
    from convnetjs_keras.version import __version__

    escape = html.escape
    title = title or "Network visualization"
    parameters = model.count_params()
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{_PAGE_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="summary">Model {escape(model.name)}: {len(rows) - 1} layers, {parameters:,} parameters. '
        f"Input: {escape(input_name)}, {escape(rows[0].shape_text)}. "
        f"Written by convnetjs-keras {escape(__version__)}.</p>",
    ]
    if index_link:
        lines.append(f'<p class="summary"><a href="{escape(index_link)}">All reports of this training run</a></p>')

    lines += ['<h2>Prediction</h2>', '<div class="prediction">',
              f'<div>Input:<br><img src="input.png" alt="network input {escape(rows[0].shape_text)}"></div>',
              '<table class="top">']
    if task == "classification":
        lines.append(f"<tr><th>rank</th><th>class</th><th>{escape(value_name)}</th></tr>")
        for rank, entry in enumerate(predictions, start=1):
            name = entry.label if entry.label == str(entry.index) else f"{entry.label} ({entry.index})"
            lines.append(f"<tr><td>{rank}</td><td>{escape(name)}</td><td>{entry.value:.5g}</td></tr>")
    else:
        lines.append("<tr><th>output</th><th>value</th></tr>")
        for entry in predictions[:64]:
            lines.append(f"<tr><td>{entry.index}</td><td>{entry.value:.5g}</td></tr>")
        if len(predictions) > 64:
            lines.append(f"<tr><td colspan=2>... {len(predictions) - 64} more</td></tr>")
    lines += ["</table>", '<img src="predictions.png" alt="prediction bar chart">', "</div>",
              "<h2>Layers</h2>"]

    for row in rows:
        layer_class = re.sub(r"[^a-z0-9]+", "-", row.layer_type.lower())
        lines.append(f'<div class="layer lt-{layer_class}">')
        lines.append('<div class="ltitle">')
        lines.append(f'<div class="type">{escape(row.layer_type)} ({escape(row.shape_text)})</div>')
        if row.position > 0:
            lines.append(f'<div class="keras">Keras layer {escape(row.keras_name)} ({escape(row.keras_class)})</div>')
        lines += [f"{escape(detail)}<br>" for detail in row.details if not detail.startswith("input shape")]
        if row.position == 0:
            lines.append(f"max activation: {_number_text(row.volume.max())}, "
                         f"min: {_number_text(row.volume.min())}<br>")
        lines.append("</div>")
        lines.append('<div class="layer_act">')
        activations = f"activations_{row.file_stem}.png"
        lines.append(f'Activations:<img src="{escape(activations)}" alt="activations of {escape(row.keras_name)}">')
        filters = f"filters_{row.file_stem}.png"
        if filters in images:
            lines.append(f'Weights:<img src="{escape(filters)}" alt="filters of {escape(row.keras_name)}">')
        lines.append("</div>")
        lines.append("</div>")
    lines += ["</body>", "</html>", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Training callback
# ---------------------------------------------------------------------------


class VisualizeCallback(keras.callbacks.Callback):
    """Renders a report (see ``render_report``) every ``every_n_batches`` training batches.

    Each report goes into its own numbered subfolder,
    ``out_dir/batch_000100/`` after 100 batches, so earlier reports stay for
    comparison; ``out_dir/index.html`` links to all of them and is rewritten
    after each one. The count is of training batches since the callback was
    created, across epochs and ``fit`` calls. Keras calls batch callbacks
    once per ``steps_per_execution`` steps, so with that option a report is
    drawn at the first call at or after each multiple of N, and numbered with
    the actual count. The ConvNetJS demos redraw their network view every 100
    examples.

    Args:
        sample: the input to draw: an image path, a ``PIL.Image.Image`` or an
            array, as ``render_report`` takes.
        out_dir: folder for the subfolders; created if missing.
        every_n_batches: batches between two reports, default 100.
        labels, top, max_channels: as for ``render_report``.
    """

    def __init__(self, sample, out_dir, every_n_batches: int = 100, *, labels=None, top: int = DEFAULT_TOP,
                 max_channels: int = DEFAULT_MAX_CHANNELS):
        super().__init__()
        if isinstance(every_n_batches, bool) or not isinstance(every_n_batches, int) or every_n_batches < 1:
            raise ValueError(f"every_n_batches must be a positive integer. Received: "
                             f"every_n_batches={every_n_batches!r}")
        self.sample = sample
        self.out_dir = Path(out_dir)
        self.every_n_batches = every_n_batches
        self.labels = labels
        self.top = top
        self.max_channels = max_channels
        self.batches_seen = 0
        self.rendered: list[Path] = []
        self._epoch_start = 0
        self._next_render = every_n_batches
        self._x = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self.batches_seen

    def on_train_batch_end(self, batch, logs=None):
        # `batch` is the index within the epoch of the last step of this call. With steps_per_execution,
        # Keras 3.15 reports a full execution for the last, partial one, so it is clamped to the epoch length.
        done_in_epoch = batch + 1
        steps = (self.params or {}).get("steps")
        if steps:
            done_in_epoch = min(done_in_epoch, steps)
        self.batches_seen = self._epoch_start + done_in_epoch
        if self.batches_seen < self._next_render:
            return
        self._next_render = (self.batches_seen // self.every_n_batches + 1) * self.every_n_batches
        self.render(self.batches_seen)

    def on_train_end(self, logs=None):
        # The next fit call continues the count where this one stopped.
        self._epoch_start = self.batches_seen

    def render(self, batches: int) -> Report:
        """Render the report for the model's current weights into ``out_dir/batch_NNNNNN``."""
        if self._x is None:
            self._x = prepare_input(self.model, self.sample)
        name = self.sample if isinstance(self.sample, (str, os.PathLike)) else None
        folder = self.out_dir / f"batch_{batches:06d}"
        report = _render(self.model, self._x, folder, labels=self.labels, top=self.top,
                         title=f"Network after {batches:,} training batches",
                         input_name=Path(name).name if name else "array input", overwrite=True,
                         max_channels=self.max_channels, index_link="../index.html")
        self.rendered.append(folder)
        self._write_index()
        logger.info("visualized the network after %d batches: %s", batches, report.index_html)
        return report

    def _write_index(self) -> None:
        from convnetjs_keras.files import atomic_write_bytes

        items = "\n".join(f'<li><a href="{html.escape(folder.name)}/index.html">{html.escape(folder.name)}</a></li>'
                          for folder in self.rendered)
        page = (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                f"<title>Network during training</title>\n</head>\n<body>\n<h1>Network during training</h1>\n"
                f"<p>One report every {self.every_n_batches} training batches.</p>\n<ul>\n{items}\n</ul>\n"
                f"</body>\n</html>\n")
        atomic_write_bytes(self.out_dir / "index.html", page.encode("utf-8"))
