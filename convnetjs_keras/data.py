"""Training data for ConvNetJS networks, and ConvNetJS's data augmentation.

``load_dataset`` reads three formats into NumPy arrays shaped for a Keras
model built by this library (NHWC images, or flat vectors for 1x1xD inputs):

- ``.npz``: arrays ``x`` and ``y``;
- ``.csv``: one example a row, the features in ConvNetJS's Vol order
  (row-major y, x, depth) followed by the label or the regression targets;
- a folder with one subfolder of images per class, class names sorted.

``preprocess_image`` turns one image into network input the way the ConvNetJS
demos do (``convnetjs.img_to_vol``): ``pixel / 255 - 0.5``.

``Augmentation`` with ``augment_example`` (NumPy, one example) and
``augment_batch`` (TensorFlow, a batch inside ``tf.data``) reproduce
``convnetjs.augment(V, crop, dx, dy, fliplr)`` and the random shifts, flips and
crops that the ConvNetJS demos draw for it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import math
import os
from pathlib import Path

import numpy as np

from convnetjs_keras.errors import DataError, Problem

logger = logging.getLogger(__name__)

TASKS = ("classification", "regression")

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
"""File name suffixes read as images in an image folder (case-insensitive)."""

MAX_COLLECTED_PROBLEMS = 100
"""Number of problems after which reading a CSV file or an image folder stops and raises."""


# ---------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------


def example_shape(input_shape) -> tuple[int, ...]:
    """Return the Keras shape of one example: ``(sy, sx, depth)`` or ``(depth,)``.

    ``input_shape`` is a Keras per-example shape (``model.input_shape[1:]``),
    a full Keras input shape with a leading ``None`` batch dimension, or a
    ConvNetJS ``Shape(sx, sy, depth)``. A ConvNetJS 1x1xD shape gives ``(D,)``,
    as the models this library builds take D-vectors for such inputs.
    """
    if hasattr(input_shape, "sx") and hasattr(input_shape, "depth"):
        if input_shape.sx == 1 and input_shape.sy == 1:
            return (int(input_shape.depth),)
        return (int(input_shape.sy), int(input_shape.sx), int(input_shape.depth))
    shape = tuple(input_shape)
    if len(shape) in (2, 4) and shape[0] is None:
        shape = shape[1:]
    if len(shape) not in (1, 3) or any(not isinstance(size, (int, np.integer)) or size < 1 for size in shape):
        raise ValueError(f"input_shape must be (sy, sx, depth) or (depth,) with positive sizes. "
                         f"Received: input_shape={input_shape!r}")
    return tuple(int(size) for size in shape)


def model_task(model) -> tuple[str, int]:
    """Return ``(task, num_outputs)`` for a Keras model from its last layer.

    The task is ``"classification"`` when the model ends in a softmax (a
    ``Softmax`` layer, or an ``Activation`` or ``Dense`` with softmax
    activation) or in ConvNetJS's ``svm`` layer. It is ``"regression"``
    otherwise, which is the rule ``to_snapshot`` uses to choose the loss layer.
    ``num_outputs`` is the number of classes or of regression targets.
    """
    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", None)
    class_name = type(last).__name__
    classification = class_name in ("Softmax", "ConvNetJSSVM") or activation == "softmax"
    return ("classification" if classification else "regression"), int(model.output_shape[-1])


def _format_shape(shape) -> str:
    return "(" + ", ".join("N" if size is None else str(size) for size in shape) + ")"


def _fit_examples(x: np.ndarray, expected: tuple[int, ...], crop: int | None, source: str,
                  field: str = "x") -> np.ndarray:
    """Reshape an array of examples to ``(N, *expected)``, or raise DataError.

    Accepted layouts: ``(N, *expected)``; flat ``(N, sx * sy * depth)`` vectors
    in Vol order; ``(N, sy, sx)`` for depth 1; ``(N, 1, 1, D)`` for vector
    inputs. With ``crop``, the model input is ``crop x crop`` and the examples
    may be any ``(N, H, W, depth)`` with ``H, W >= crop`` (flat vectors must then
    be square images).
    """
    count = x.shape[0]
    if crop is None:
        size = math.prod(expected)
        if x.shape[1:] == expected:
            return x
        if x.ndim == 2 and x.shape[1] == size:
            return x.reshape((count, *expected))  # (N, sy*sx*depth) -> (N, sy, sx, depth), Vol order
        if len(expected) == 3 and expected[2] == 1 and x.shape[1:] == expected[:2]:
            return x[..., np.newaxis]  # (N, sy, sx) -> (N, sy, sx, 1)
        if len(expected) == 1 and x.shape[1:] == (1, 1, expected[0]):
            return x.reshape(count, expected[0])  # (N, 1, 1, D) -> (N, D)
        raise DataError(Problem(
            f"examples have shape {_format_shape((None, *x.shape[1:]))}, expected {_format_shape((None, *expected))} "
            f"or flat vectors {_format_shape((None, size))} for the network's input.",
            source=source, field=field,
            hint="Reshape the data to the network input (height, width, depth), or use a network whose input "
                 "layer matches the data."))

    depth = expected[2]
    if x.ndim == 4 and x.shape[3] == depth:
        images = x
    elif x.ndim == 3 and depth == 1:
        images = x[..., np.newaxis]  # (N, H, W) -> (N, H, W, 1)
    elif x.ndim == 2 and x.shape[1] % depth == 0 and math.isqrt(x.shape[1] // depth) ** 2 == x.shape[1] // depth:
        side = math.isqrt(x.shape[1] // depth)
        images = x.reshape(count, side, side, depth)  # flat square images in Vol order
    else:
        raise DataError(Problem(
            f"examples have shape {_format_shape((None, *x.shape[1:]))}; with crop={crop} expected images "
            f"(N, H, W, {depth}) with H and W at least {crop}, or flat square images.",
            source=source, field=field,
            hint="Give the uncropped images; the crop size must equal the network's input width and height."))
    if images.shape[1] < crop or images.shape[2] < crop:
        raise DataError(Problem(
            f"images are {images.shape[1]}x{images.shape[2]} (height x width), smaller than crop={crop}.",
            source=source, field=field, hint=f"Give images of at least {crop}x{crop}, or a smaller crop."))
    return images


def _index_name(index: int) -> str:
    return f"index {index}"


def _check_finite(array: np.ndarray, source: str, field: str, where=_index_name) -> None:
    finite = np.isfinite(array.reshape(array.shape[0], -1)).all(axis=1)
    if not finite.all():
        first = int(np.argmin(finite))
        raise DataError(Problem(f"contains NaN or infinity ({int((~finite).sum())} examples, the first at "
                                f"{where(first)}); expected finite numbers.", source=source, field=field,
                                hint="Remove or repair those examples."))


def _check_labels(y: np.ndarray, task: str, num_outputs: int | None, count: int, source: str,
                  field: str = "y", dtype: str = "float32", where=_index_name) -> np.ndarray:
    """Return class indices as int64 (N,) or regression targets as (N, k)."""
    if y.shape[0] != count:
        raise DataError(Problem(f"has {y.shape[0]} labels for {count} examples; expected one label per example.",
                                source=source, field=field))
    if not np.issubdtype(y.dtype, np.number) and y.dtype != np.bool_:
        raise DataError(Problem(f"has dtype {y.dtype}; expected numbers.", source=source, field=field))
    _check_finite(y.reshape(count, -1).astype(np.float64), source, field, where)

    if task == "classification":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise DataError(Problem(
                f"has shape {_format_shape((None, *y.shape[1:]))}; a classification network expects class "
                "indices shaped (N,).", source=source, field=field,
                hint="Convert one-hot labels with y.argmax(axis=1)."))
        labels = y.astype(np.int64)
        bad = (labels != y) | (labels < 0) | (labels >= (num_outputs if num_outputs is not None else np.inf))
        if bad.any():
            first = int(np.argmax(bad))
            expected = "an integer class index" + (f" from 0 to {num_outputs - 1}" if num_outputs is not None else "")
            raise DataError(Problem(f"label {y[first].item()!r} at {where(first)} is invalid; expected {expected}.",
                                    source=source, field=field,
                                    hint="Number the classes 0, 1, 2, ... in the order of the network's outputs."))
        return labels

    targets = y.reshape(count, -1) if y.ndim == 1 else y
    if targets.ndim != 2 or (num_outputs is not None and targets.shape[1] != num_outputs):
        raise DataError(Problem(
            f"has shape {_format_shape((None, *y.shape[1:]))}; the regression network has {num_outputs} outputs, "
            f"so expected targets shaped (N, {num_outputs}).", source=source, field=field))
    return targets.astype(dtype)


# ---------------------------------------------------------------------------
# Reading data
# ---------------------------------------------------------------------------


def load_dataset(path, input_shape, task: str, *, num_outputs: int | None = None, crop: int | None = None,
                 dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]:
    """Read examples and labels for a network with the given input shape.

    Args:
        path: an ``.npz`` file with arrays ``x`` and ``y``, a ``.csv`` file, or a
            folder of class subfolders of images.
        input_shape: the network's input, as ``example_shape`` accepts it.
        task: ``"classification"`` (labels are class indices) or
            ``"regression"`` (labels are target vectors).
        num_outputs: the number of classes or regression targets. Class
            indices must be below it, and a regression CSV has this many target
            columns (default: every column after the features' count, which
            then must be inferable, so pass it).
        crop: the ``crop`` of ``Augmentation``. The network input is then
            ``crop x crop`` and the examples are the larger uncropped images;
            an image folder keeps the size of its first image.
        dtype: dtype of ``x`` (and of regression targets).

    Returns:
        ``(x, y)``: ``x`` shaped ``(N, sy, sx, depth)`` (or ``(N, depth)`` for
        1x1xD inputs, or the uncropped images with ``crop``); ``y`` int64
        class indices shaped ``(N,)`` or targets shaped ``(N, k)``.

    Raises:
        DataError: the file is missing or unreadable, or its shapes, labels or
            values do not fit the network. The message names the file, the
            row, column or array, what was expected and what was found.
    """
    if task not in TASKS:
        raise ValueError(f"task must be 'classification' or 'regression'. Received: task={task!r}")
    expected = example_shape(input_shape)
    if crop is not None and (len(expected) != 3 or expected[0] != crop or expected[1] != crop):
        raise DataError(Problem(
            f"crop={crop} does not match the network input {_format_shape((None, *expected))}; expected a "
            f"{crop}x{crop} input.", source="--augment",
            hint="Set crop to the input layer's out_sx (which must equal out_sy)."))
    path = Path(path)
    source = str(path)
    if path.is_dir():
        x, y = _load_image_folder(path, expected, task, num_outputs, crop, dtype)
    elif not path.exists():
        raise DataError(Problem("file not found.", source=source))
    elif path.suffix.lower() == ".npz":
        x, y = _load_npz(path, expected, task, num_outputs, crop, dtype)
    elif path.suffix.lower() == ".csv":
        x, y = _load_csv(path, expected, task, num_outputs, crop, dtype)
    else:
        raise DataError(Problem(f"has suffix {path.suffix!r}; expected an .npz file, a .csv file or a folder "
                                "of class subfolders of images.", source=source))
    if x.shape[0] == 0:
        raise DataError(Problem("contains no examples.", source=source))
    logger.debug("read %d examples of shape %s from %s", x.shape[0], x.shape[1:], source)
    return x, y


def _load_npz(path: Path, expected, task, num_outputs, crop, dtype):
    source = str(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ("x", "y") if key not in archive.files]
            if missing:
                raise DataError(Problem(
                    f"has no array {' or '.join(repr(key) for key in missing)}; found {sorted(archive.files)}.",
                    source=source, hint="Save the data with np.savez(path, x=examples, y=labels)."))
            x = archive["x"]
            y = archive["y"]
    except DataError:
        raise
    except (ValueError, OSError, EOFError) as error:
        # np.load raises ValueError for object arrays and for files that are not npz archives.
        raise DataError(Problem(f"cannot be read as an .npz archive of numeric arrays: {error}", source=source,
                                hint="Save numeric arrays with np.savez(path, x=examples, y=labels).")) from None

    if x.ndim < 2:
        raise DataError(Problem(f"has shape {x.shape}; expected one example per row, at least 2 dimensions.",
                                source=source, field="x"))
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise DataError(Problem(f"has dtype {x.dtype}; expected real numbers.", source=source, field="x"))
    x = _fit_examples(x, expected, crop, source).astype(dtype)
    _check_finite(x, source, "x")
    y = _check_labels(y, task, num_outputs, x.shape[0], source, dtype=dtype)
    return x, y


def read_csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Return the non-blank rows of a UTF-8 CSV file as ``(line number, cells)``,
    without a header row (a first row that is not all numbers).

    Raises:
        DataError: the file is not UTF-8 or has no data rows.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(Problem(f"invalid UTF-8 at byte offset {error.start}.", source=source,
                                hint="Save the CSV with UTF-8 encoding.")) from None

    rows = [(number, row) for number, row in enumerate(csv.reader(io.StringIO(text)), start=1)
            if any(cell.strip() for cell in row)]
    if rows and not all(_is_number(cell) for cell in rows[0][1]):
        rows = rows[1:]  # a header row
    if not rows:
        raise DataError(Problem("contains no data rows.", source=source))
    return rows


def _load_csv(path: Path, expected, task, num_outputs, crop, dtype):
    source = str(path)
    rows = read_csv_rows(path)

    width = len(rows[0][1])
    problems = []
    values = np.empty((len(rows), width), dtype=np.float64)
    for index, (number, row) in enumerate(rows):
        if len(problems) >= MAX_COLLECTED_PROBLEMS:
            break
        if len(row) != width:
            problems.append(Problem(f"row {number} has {len(row)} columns, expected {width} as in row {rows[0][0]}.",
                                    source=source))
            continue
        try:
            values[index] = np.asarray(row, dtype=np.float64)
            continue
        except ValueError:
            pass
        # Only a row with a bad cell gets the slow cell-by-cell pass that locates it.
        for column, cell in enumerate(row, start=1):
            if not _is_number(cell):
                problems.append(Problem(f"row {number}, column {column}: found {cell.strip()!r}, expected a number.",
                                        source=source))
    _raise_problems(problems)

    if task == "classification":
        label_columns = 1
    elif num_outputs is not None:
        label_columns = num_outputs
    else:
        raise ValueError("num_outputs is required to read a regression CSV")
    feature_columns = width - label_columns
    if crop is None and feature_columns != math.prod(expected):
        what = "the class index" if task == "classification" else f"{label_columns} target columns"
        raise DataError(Problem(
            f"has {width} columns; expected {math.prod(expected) + label_columns}: {math.prod(expected)} features "
            f"(the network input {_format_shape((None, *expected))} flattened) followed by {what}.",
            source=source, hint="Write one example per row in the order height, width, depth."))
    if feature_columns < 1:
        raise DataError(Problem(f"has {width} columns, too few for features and {label_columns} label columns.",
                                source=source))
    x = _fit_examples(values[:, :feature_columns], expected, crop, source, field="features").astype(dtype)

    def row_name(index: int) -> str:
        return f"row {rows[index][0]}"

    _check_finite(x, source, "features", row_name)
    y = _check_labels(values[:, feature_columns:], task, num_outputs, x.shape[0], source,
                      field="label" if task == "classification" else "targets", dtype=dtype, where=row_name)
    return x, y


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _raise_problems(problems: list[Problem]) -> None:
    if not problems:
        return
    if len(problems) >= MAX_COLLECTED_PROBLEMS:
        problems = [*problems, Problem(f"reading stopped after {len(problems)} problems.", source=problems[0].source)]
    raise DataError(problems)


def list_image_classes(folder) -> list[tuple[str, list[Path]]]:
    """Return ``(class name, image paths)`` for each class subfolder of ``folder``.

    Classes are the subfolders in sorted order, so class index i is the i-th
    name. The images of a class are the files in its subfolder with a suffix
    in ``IMAGE_SUFFIXES``, sorted. Names starting with '.' are skipped. Raises DataError when there
    is no class subfolder or a class has no images.
    """
    folder = Path(folder)
    source = str(folder)
    subfolders = sorted(entry for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if not subfolders:
        raise DataError(Problem("has no class subfolders; expected one subfolder of images per class.",
                                source=source, hint="Put the images of class 0 in folder/<name0>/, and so on; "
                                "the sorted subfolder names give the class order."))
    classes = []
    problems = []
    for subfolder in subfolders:
        images = sorted(entry for entry in subfolder.iterdir()
                        if entry.is_file() and not entry.name.startswith(".")
                        and entry.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            problems.append(Problem(f"contains no images (expected files ending in "
                                    f"{', '.join(sorted(IMAGE_SUFFIXES))}).", source=str(subfolder)))
        classes.append((subfolder.name, images))
    _raise_problems(problems)
    return classes


def _load_image_folder(folder: Path, expected, task, num_outputs, crop, dtype):
    source = str(folder)
    if task != "classification":
        raise DataError(Problem("is an image folder, whose subfolders give class labels, but the network is a "
                                "regression network.", source=source,
                                hint="Give regression data as an .npz with x and y, or a CSV."))
    if len(expected) != 3:
        raise DataError(Problem(f"is an image folder, but the network input is a vector {_format_shape(expected)}; "
                                "images need an input with width and height.", source=source))
    classes = list_image_classes(folder)
    if num_outputs is not None and len(classes) > num_outputs:
        raise DataError(Problem(f"has {len(classes)} class subfolders, but the network has {num_outputs} classes.",
                                source=source, hint="Remove subfolders, or use a network with more classes."))
    if num_outputs is not None and len(classes) < num_outputs:
        logger.warning("%s: %d class subfolders for a network with %d classes; classes %d to %d get no examples.",
                       source, len(classes), num_outputs, len(classes), num_outputs - 1)

    target = expected
    examples, labels, problems = [], [], []
    for label, (_name, paths) in enumerate(classes):
        for path in paths:
            if len(problems) >= MAX_COLLECTED_PROBLEMS:
                break
            try:
                image = _open_image(path)
                if crop is not None and target is expected:
                    # Crop training needs the uncropped images, so all are resized to the first one's size.
                    target = (image.height, image.width, expected[2])
                    if image.height < crop or image.width < crop:
                        raise DataError(Problem(f"is {image.width}x{image.height}, smaller than crop={crop}.",
                                                source=str(path)))
                examples.append(preprocess_image(image, target, dtype=dtype))
                labels.append(label)
            except DataError as error:
                problems.extend(error.problems)
    _raise_problems(problems)
    return np.stack(examples), np.asarray(labels, dtype=np.int64)


def _open_image(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return image
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DataError(Problem(f"cannot be read as an image: {error}", source=str(path))) from None


def preprocess_image(image, input_shape, *, dtype: str = "float32") -> np.ndarray:
    """Convert one image to network input as the ConvNetJS demos do.

    The image is scaled (bilinear) to cover the input's width and height,
    keeping its aspect ratio, and centre-cropped to them. Each channel value
    p in 0..255 becomes ``p / 255 - 0.5``, as in ``convnetjs.img_to_vol``.
    Depth 3 keeps RGB, depth 4 RGBA, and depth 1 keeps only the red channel,
    which is what ``img_to_vol(img, true)`` does. For grey images that is the
    grey level, but for colour images it is not the luminance.

    Args:
        image: a ``PIL.Image.Image`` or a path to an image file.
        input_shape: the network input, as ``example_shape`` accepts it; its
            depth must be 1, 3 or 4.
        dtype: dtype of the result.

    Returns:
        An array shaped ``(sy, sx, depth)``.

    Raises:
        DataError: the file cannot be read, or the input is not an image input.
    """
    from PIL import Image, ImageOps

    shape = example_shape(input_shape)
    source = None
    if not isinstance(image, Image.Image):
        source = os.fsdecode(image)
        image = _open_image(Path(image))
    if len(shape) != 3 or shape[2] not in (1, 3, 4):
        raise DataError(Problem(f"the network input {_format_shape(shape)} cannot take images; expected "
                                "(height, width, depth) with depth 1 (grey), 3 (RGB) or 4 (RGBA).", source=source))
    height, width, depth = shape

    image = image.convert("RGBA")
    if image.size != (width, height):
        image = ImageOps.fit(image, (width, height), method=Image.Resampling.BILINEAR, centering=(0.5, 0.5))
    pixels = np.asarray(image, dtype=np.float64)  # (height, width, 4), RGBA in 0..255
    return (pixels[:, :, :depth] / 255.0 - 0.5).astype(dtype)


# ---------------------------------------------------------------------------
# Augmentation
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Random changes applied to each training example, as in the ConvNetJS demos.

    Applied in this order:

    - ``crop``: a random ``crop x crop`` window, as ``convnetjs.augment(V,
      crop)`` draws it: offsets ``dx = randi(0, V.sx - crop)`` and ``dy =
      randi(0, V.sy - crop)``, so from 0 to ``size - crop - 1`` (ConvNetJS's
      ``randi`` excludes its upper bound, so the last offset is never drawn).
      Evaluation data gets the centre window, offset ``(size - crop) // 2``.
    - ``shift``: a shift by ``dx, dy`` drawn uniformly from ``-shift..shift``,
      with zero fill, as the CIFAR-10 demo does with ``augment(V, V.sx, dx,
      dy)`` for shift 2.
    - ``flip``: a left-right mirror with probability 1/2.

    Evaluation data is never shifted or flipped.
    """

    crop: int | None = None
    shift: int = 0
    flip: bool = False

    @property
    def is_identity(self) -> bool:
        return self.crop is None and self.shift == 0 and not self.flip

    def __str__(self) -> str:
        parts = []
        if self.crop is not None:
            parts.append(f"crop={self.crop}")
        if self.shift:
            parts.append(f"shift={self.shift}")
        if self.flip:
            parts.append("flip")
        return ",".join(parts) or "none"


def parse_augment(text: str | None, source: str = "--augment") -> Augmentation:
    """Parse an augmentation spec such as ``"shift=2,flip"`` or ``"crop=24"``.

    Items are separated by commas: ``crop=N`` (N >= 1), ``shift=N`` (N >= 0),
    ``flip`` (or ``flip=true|false``) and ``none``. Raises DataError naming
    each invalid item.
    """
    if text is None:
        return Augmentation()
    values: dict = {}
    problems = []
    for item in (part.strip() for part in text.split(",")):
        if not item or item == "none":
            continue
        key, _, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if key in values:
            problems.append(Problem(f"{key!r} is given twice.", source=source))
        elif key in ("crop", "shift"):
            minimum = 1 if key == "crop" else 0
            if not value.isdigit() or int(value) < minimum:
                problems.append(Problem(f"{key}={value!r} is invalid; expected an integer >= {minimum} "
                                        f"(pixels), as in {key}=2.", source=source))
            else:
                values[key] = int(value)
        elif key == "flip":
            if value not in ("", "true", "false"):
                problems.append(Problem(f"flip={value!r} is invalid; expected 'flip', 'flip=true' or 'flip=false'.",
                                        source=source))
            else:
                values[key] = value != "false"
        else:
            problems.append(Problem(f"unknown augmentation {item!r}; expected crop=N, shift=N or flip, separated "
                                    "by commas, as in shift=2,flip.", source=source))
    if problems:
        raise DataError(problems)
    return Augmentation(**values)


def augment_example(volume: np.ndarray, crop: int, dx: int = 0, dy: int = 0, fliplr: bool = False) -> np.ndarray:
    """Return ``convnetjs.augment(V, crop, dx, dy, fliplr)`` for one example.

    ``volume`` is shaped ``(sy, sx, depth)``. Output cell (x, y) takes input
    cell (x + dx, y + dy), zero where that falls outside the input. The output
    is ``crop x crop``, except that ConvNetJS returns the input itself (of any
    height) when ``crop == sx`` and ``dx == dy == 0``. Then ``fliplr`` mirrors
    it left to right.
    """
    height, width, depth = volume.shape
    if crop != width or dx != 0 or dy != 0:
        out = np.zeros((crop, crop, depth), dtype=volume.dtype)
        # Overlap of the output window with the input, in output coordinates.
        x0, x1 = max(0, -dx), min(crop, width - dx)
        y0, y1 = max(0, -dy), min(crop, height - dy)
        if x0 < x1 and y0 < y1:
            out[y0:y1, x0:x1] = volume[y0 + dy:y1 + dy, x0 + dx:x1 + dx]
    else:
        out = volume
    if fliplr:
        out = out[:, ::-1]
    return np.array(out)


def centre_crop(x: np.ndarray, crop: int) -> np.ndarray:
    """Return the centre ``crop x crop`` window of images shaped ``(N, H, W, depth)``."""
    top = (x.shape[1] - crop) // 2
    left = (x.shape[2] - crop) // 2
    return x[:, top:top + crop, left:left + crop]


def augment_batch(images, seed, augmentation: Augmentation):
    """Apply ``augmentation`` to a batch of images with TensorFlow ops.

    ``images`` is a ``(B, H, W, depth)`` tensor with static H and W, ``seed`` a
    shape ``[2]`` integer tensor for TensorFlow's stateless random ops (one
    fresh seed per batch). Each example draws its own crop offsets, shift and
    flip, with the distributions of ``Augmentation``. For square images the
    result equals ``augment_example`` with the drawn values. Meant for
    ``tf.data.Dataset.map``.
    """
    import tensorflow as tf

    crop_seed, shift_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    batch = tf.shape(images)[0]

    def window(tensor, offsets_y, offsets_x, height, width):
        rows = offsets_y[:, None] + tf.range(height)[None, :]  # (B, height), input rows per output row
        cols = offsets_x[:, None] + tf.range(width)[None, :]  # (B, width)
        tensor = tf.gather(tensor, rows, axis=1, batch_dims=1)  # (B, height, W, depth)
        return tf.gather(tensor, cols, axis=2, batch_dims=1)  # (B, height, width, depth)

    def offsets(seed_pair, maxval):
        # Uniform integers in [0, maxval), as ConvNetJS's randi(0, maxval); randi(0, 0) is 0.
        if maxval <= 0:
            return tf.zeros([batch], tf.int32)
        return tf.random.stateless_uniform([batch], seed_pair, minval=0, maxval=maxval, dtype=tf.int32)

    if augmentation.crop is not None:
        height, width = images.shape[1], images.shape[2]
        seeds = tf.random.experimental.stateless_split(crop_seed, 2)
        crop = augmentation.crop
        images = window(images, offsets(seeds[0], height - crop), offsets(seeds[1], width - crop), crop, crop)

    if augmentation.shift:
        shift = augmentation.shift
        height, width = images.shape[1], images.shape[2]
        padded = tf.pad(images, [[0, 0], [shift, shift], [shift, shift], [0, 0]])  # zero fill outside
        seeds = tf.random.experimental.stateless_split(shift_seed, 2)
        # Offsets 0..2*shift in the padded image are shifts -shift..shift in the original.
        images = window(padded, offsets(seeds[0], 2 * shift + 1), offsets(seeds[1], 2 * shift + 1), height, width)

    if augmentation.flip:
        flips = tf.random.stateless_uniform([batch], flip_seed) < 0.5
        images = tf.where(flips[:, None, None, None], tf.reverse(images, axis=[2]), images)
    return images
