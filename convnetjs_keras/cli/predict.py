"""``convnetjs-keras predict``: class probabilities or regression outputs for images and data files.

Inputs are read in batches: image files are decoded by a few threads while
the previous batch runs through ``convnetjs_keras.inference.predict``, so at
most two batches of images are in memory, however large the folder.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from convnetjs_keras.cli.common import add_model_arguments, logger, positive_int
from convnetjs_keras.errors import DataError, Problem, UsageError

DEFAULT_TOP = 3  # the ConvNetJS demos list the top 3 classes
DEFAULT_BATCH_SIZE = 256
DECODE_THREADS = 4
ARRAY_SUFFIXES = (".npz", ".npy")
MAX_LISTED_CSV_PROBLEMS = 20
PROGRESS_INTERVAL_S = 0.2


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "predict", help="print the top classes (or regression outputs) of a network for images or data",
        description="Run a network on images or data and print, for each input, the top classes with their "
                    "probabilities (svm networks: scores) or, for regression networks, the output values. Images "
                    "are scaled to cover the network input, centre-cropped, and converted as the ConvNetJS demos "
                    "do (pixel / 255 - 0.5; depth 1 keeps the red channel). Folders are read recursively, in "
                    "sorted order.")
    parser.add_argument("model", metavar="MODEL", help="ConvNetJS snapshot, .keras file, model.json (with "
                        "--weights) or network text (.js/.txt)")
    parser.add_argument("inputs", metavar="INPUT", nargs="+",
                        help="image file, folder of images, .npz (array x, or its only array) or .npy of "
                             "examples, or .csv with one example per row (features in ConvNetJS's Vol order, "
                             "an optional header row)")
    parser.add_argument("--top", type=positive_int, metavar="K",
                        help=f"number of classes per input, best first (default: {DEFAULT_TOP}; classification "
                             "networks only)")
    parser.add_argument("--labels", metavar="FILE",
                        help="class names, one per line in class index order (default: class indices)")
    parser.add_argument("--out", metavar="FILE.csv",
                        help="write a CSV file instead of printing: input, then class, label (with --labels) "
                             "and probability for each of the top K, or output_0, output_1, ... for regression")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, metavar="N",
                        help=f"inputs decoded and predicted together (default: {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip images that cannot be read and list them at the end (default: stop at the "
                             "first one)")
    add_model_arguments(parser)
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")
    return parser


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class ImageSource:
    """Image files, predicted in the order given."""

    paths: list[Path]

    def __len__(self) -> int:
        return len(self.paths)


@dataclasses.dataclass
class ArraySource:
    """Examples from an .npz, .npy or .csv file, already shaped for the model."""

    names: list[str]
    x: object  # numpy array (N, *model input shape)

    def __len__(self) -> int:
        return len(self.names)


def collect_sources(inputs, input_shape, dtype) -> list:
    """Return an ``ImageSource`` or ``ArraySource`` per INPUT argument, checking that each exists.

    Raises:
        DataError: an input is missing, a folder contains no images, an array or
            CSV file does not fit ``input_shape``, or images are given for a
            network whose input is not an image.
    """
    from convnetjs_keras.data import IMAGE_SUFFIXES

    sources = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            paths = _folder_images(path)
            if not paths:
                raise DataError(Problem(f"contains no images (expected files ending in "
                                        f"{', '.join(sorted(IMAGE_SUFFIXES))}).", source=text))
            sources.append(ImageSource(paths))
        elif not path.exists():
            raise DataError(Problem("file not found.", source=text))
        elif path.suffix.lower() in ARRAY_SUFFIXES:
            sources.append(_array_source(path, input_shape, dtype))
        elif path.suffix.lower() == ".csv":
            sources.append(_csv_source(path, input_shape, dtype))
        else:
            sources.append(ImageSource([path]))

    if any(isinstance(source, ImageSource) for source in sources):
        _check_image_input(input_shape)
    return sources


def _folder_images(folder: Path) -> list[Path]:
    """Return the image files under ``folder``, recursively, sorted by their path inside it.

    Names starting with '.' are skipped, as are files without an image suffix.
    """
    from convnetjs_keras.data import IMAGE_SUFFIXES

    found = []
    for root, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        found += [Path(root) / name for name in files
                  if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found, key=lambda path: path.relative_to(folder).parts)


def _check_image_input(input_shape) -> None:
    if len(input_shape) != 3 or input_shape[2] not in (1, 3, 4):
        shape = ", ".join(map(str, input_shape))
        raise DataError(Problem(f"images were given, but the network input ({shape}) is not an image input; "
                                "expected (height, width, depth) with depth 1, 3 or 4.",
                                hint="Give the examples as an .npz, .npy or .csv file."))


def _array_source(path: Path, input_shape, dtype) -> ArraySource:
    import numpy as np

    source = str(path)
    try:
        if path.suffix.lower() == ".npy":
            x = np.load(path, allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as archive:
                if "x" in archive.files:
                    x = archive["x"]
                elif len(archive.files) == 1:
                    x = archive[archive.files[0]]
                else:
                    raise DataError(Problem(f"has no array 'x' and {len(archive.files)} other arrays "
                                            f"{sorted(archive.files)}; expected the examples in x.", source=source,
                                            hint="Save them with np.savez(path, x=examples)."))
    except DataError:
        raise
    except (ValueError, OSError, EOFError) as error:
        # np.load raises ValueError for object arrays and for files that are not NumPy files.
        raise DataError(Problem(f"cannot be read as a NumPy file of numeric arrays: {error}",
                                source=source)) from None
    x = _shape_examples(x, input_shape, dtype, source)
    return ArraySource([f"{path}[{index}]" for index in range(x.shape[0])], x)


def _shape_examples(x, input_shape, dtype, source: str):
    """Return ``x`` as (N, *input_shape) in ``dtype``, or raise a DataError naming ``source``."""
    import numpy as np

    if x.ndim < 2:
        raise DataError(Problem(f"has shape {x.shape}; expected one example per row, at least 2 dimensions.",
                                source=source, field="x"))
    if x.dtype.kind not in "biuf":
        raise DataError(Problem(f"has dtype {x.dtype}; expected real numbers.", source=source, field="x"))
    size = math.prod(input_shape)
    count = x.shape[0]
    if x.shape[1:] == tuple(input_shape):
        shaped = x
    elif x.ndim == 2 and x.shape[1] == size:
        shaped = x.reshape((count, *input_shape))  # flat rows in Vol order are row-major (sy, sx, depth)
    elif len(input_shape) == 1 and x.shape[1:] == (1, 1, size):
        shaped = x.reshape((count, size))  # (N, 1, 1, D) -> (N, D)
    elif len(input_shape) == 3 and input_shape[2] == 1 and x.shape[1:] == tuple(input_shape[:2]):
        shaped = x[..., np.newaxis]  # grey images (N, sy, sx) -> (N, sy, sx, 1)
    else:
        expected = f"(N, {', '.join(map(str, input_shape))})"
        raise DataError(Problem(f"has shape {x.shape}; expected {expected} or flat rows (N, {size}) for the "
                                "network input.", source=source, field="x"))
    shaped = np.ascontiguousarray(shaped, dtype=dtype)
    finite = np.isfinite(shaped.reshape(count, -1)).all(axis=1)
    if not finite.all():
        first = int(np.argmin(finite))
        raise DataError(Problem(f"contains NaN or infinity in {int((~finite).sum())} examples, the first at index "
                                f"{first}; expected finite numbers.", source=source, field="x"))
    return shaped


def _csv_source(path: Path, input_shape, dtype) -> ArraySource:
    import numpy as np

    from convnetjs_keras.data import read_csv_rows

    source = str(path)
    size = math.prod(input_shape)
    rows = read_csv_rows(path)
    lengths = {len(row) for _line, row in rows}
    if len(lengths) == 1 and size not in lengths:
        # Every row has the same wrong length: one message, not one per row.
        found = lengths.pop()
        hint = "Remove the label columns: predict reads features only." if found > size else None
        raise DataError(Problem(f"every row has {found} values, expected {size} (the network input "
                                f"{' x '.join(map(str, input_shape))}).", source=source, hint=hint))

    problems = []
    values = np.empty((len(rows), size), dtype=np.float64)
    for index, (line, row) in enumerate(rows):
        if len(problems) >= MAX_LISTED_CSV_PROBLEMS:
            problems.append(Problem(f"reading stopped after {MAX_LISTED_CSV_PROBLEMS} problems.", source=source))
            break
        if len(row) != size:
            hint = "Remove the label columns: predict reads features only." if len(row) > size else None
            problems.append(Problem(f"line {line} has {len(row)} values, expected {size} (the network input "
                                    f"{' x '.join(map(str, input_shape))}).", source=source, hint=hint))
            continue
        for column, cell in enumerate(row, start=1):
            if not _is_number(cell) or not math.isfinite(float(cell)):
                problems.append(Problem(f"line {line}, column {column}: {cell.strip()!r} is not a finite number.",
                                        source=source))
                break
        else:
            values[index] = [float(cell) for cell in row]
    if problems:
        raise DataError(problems)
    x = values.reshape((len(rows), *input_shape)).astype(dtype)
    return ArraySource([f"{path}:{line}" for line, _row in rows], x)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_labels(path, count: int) -> list[str]:
    """Return the class names in ``path``, one per line; there must be exactly ``count``.

    Trailing empty lines are ignored; spaces around a name are removed.

    Raises:
        DataError: the file is missing, not UTF-8, has an empty name, or has
            another number of names.
    """
    source = str(path)
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise DataError(Problem("file not found.", source=source, field="--labels")) from None
    except UnicodeDecodeError as error:
        raise DataError(Problem(f"invalid UTF-8 at byte offset {error.start}.", source=source,
                                field="--labels")) from None
    except OSError as error:
        raise DataError(Problem(f"cannot be read: {error.strerror or error}.", source=source,
                                field="--labels")) from None
    names = [line.strip() for line in lines]
    while names and not names[-1]:
        names.pop()
    if "" in names:
        raise DataError(Problem(f"line {names.index('') + 1} is empty; expected one class name per line.",
                                source=source, field="--labels"))
    if len(names) != count:
        raise DataError(Problem(f"has {len(names)} class names, but the network has {count} classes.",
                                source=source, field="--labels",
                                hint="Give one name per line, in the order of the network's outputs."))
    return names


# ---------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------


def _decode(path: Path, input_shape, dtype):
    from convnetjs_keras.data import preprocess_image

    return preprocess_image(path, input_shape, dtype=dtype)


def iter_batches(sources, input_shape, dtype, batch_size: int, *, skip_bad: bool = False, skipped=None):
    """Yield ``(names, x)`` batches of at most ``batch_size`` inputs, in input order.

    Images are decoded by ``DECODE_THREADS`` threads, one batch ahead. An
    image that cannot be read raises its DataError, or with ``skip_bad`` is
    left out and appended to ``skipped`` as a ``Problem``.
    """
    import numpy as np

    skipped = [] if skipped is None else skipped
    with ThreadPoolExecutor(max_workers=DECODE_THREADS) as executor:
        try:
            for source in sources:
                if isinstance(source, ArraySource):
                    for start in range(0, len(source), batch_size):
                        yield source.names[start:start + batch_size], source.x[start:start + batch_size]
                    continue

                chunks = [source.paths[start:start + batch_size] for start in range(0, len(source), batch_size)]

                def submit(chunk):
                    return [(path, executor.submit(_decode, path, input_shape, dtype)) for path in chunk]

                queued = submit(chunks[0])
                for number in range(len(chunks)):
                    current = queued
                    queued = submit(chunks[number + 1]) if number + 1 < len(chunks) else None
                    names, arrays = [], []
                    for path, future in current:
                        try:
                            arrays.append(future.result())
                        except DataError as error:
                            if not skip_bad:
                                raise
                            skipped.extend(error.problems)
                            continue
                        names.append(str(path))
                    if arrays:
                        yield names, np.stack(arrays)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)


class Progress:
    """A one-line progress report on stderr, redrawn with a carriage return at most every 0.2 s."""

    def __init__(self, total: int, enabled: bool, stream=None):
        self.total = total
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.last = 0.0

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if not self.enabled or (now - self.last < PROGRESS_INTERVAL_S and done < self.total):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        self.stream.write(f"\rpredicted {done:,}/{self.total:,} inputs ({100 * done / self.total:.0f}%, "
                          f"{rate:,.0f} inputs/s)")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class OutputFormat:
    """Formatting of network outputs as printed lines or CSV rows."""

    task: str
    value_name: str  # "probability", "score" or "output"
    top: int
    labels: list[str] | None

    def header(self, num_outputs: int) -> list[str]:
        if self.task == "regression":
            return ["input", *(f"output_{index}" for index in range(num_outputs))]
        columns = ["input"]
        for rank in range(1, self.top + 1):
            columns.append(f"class_{rank}")
            if self.labels is not None:
                columns.append(f"label_{rank}")
            columns.append(f"{self.value_name}_{rank}")
        return columns

    def ranked(self, outputs):
        """Return the top class indices of each row, best first; ties keep the lower index first."""
        import numpy as np

        return np.argsort(-outputs, axis=1, kind="stable")[:, :self.top]

    def csv_rows(self, names, outputs):
        if self.task == "regression":
            return [[name, *(repr(float(value)) for value in row)] for name, row in zip(names, outputs)]
        rows = []
        for name, row, order in zip(names, outputs, self.ranked(outputs)):
            cells = [name]
            for index in order:
                cells.append(str(int(index)))
                if self.labels is not None:
                    cells.append(self.labels[index])
                cells.append(repr(float(row[index])))
            rows.append(cells)
        return rows

    def lines(self, names, outputs):
        if self.task == "regression":
            return [f"{name}: " + ", ".join(f"{float(value):.6g}" for value in row) for name, row in zip(names, outputs)]
        lines = []
        for name, row, order in zip(names, outputs, self.ranked(outputs)):
            ranked = [f"{self.labels[index] if self.labels is not None else int(index)} {float(row[index]):.4f}"
                      for index in order]
            lines.append(f"{name}: " + ", ".join(ranked))
        return lines


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------


def run(args) -> int:
    from convnetjs_keras.cli.common import load_any_model
    from convnetjs_keras.data import model_task
    from convnetjs_keras.files import atomic_path, check_output_path
    from convnetjs_keras.inference import _input_signature, predict

    out = Path(args.out) if args.out else None
    if out is not None:
        if out.suffix.lower() != ".csv":
            raise UsageError(Problem(f"--out must name a .csv file, found {out.name!r}.", source=str(out)))
        check_output_path(out, inputs=[args.model, args.labels, args.weights, *args.inputs], overwrite=args.force)

    model = load_any_model(args.model, args)
    input_shape, dtype = _input_signature(model)
    task, num_outputs = model_task(model)
    output_format = _output_format(args, model, task, num_outputs)

    sources = collect_sources(args.inputs, input_shape, dtype)
    total = sum(len(source) for source in sources)
    # A progress line would interleave with results printed to the same terminal.
    show_progress = total > args.batch_size and sys.stderr.isatty() and (out is not None or not sys.stdout.isatty())
    progress = Progress(total, enabled=show_progress)
    skipped: list[Problem] = []
    start = time.perf_counter()
    done = 0
    batches = iter_batches(sources, input_shape, dtype, args.batch_size, skip_bad=args.skip_bad, skipped=skipped)

    if out is None:
        for names, x in batches:
            outputs = predict(model, x, batch_size=args.batch_size)
            print("\n".join(output_format.lines(names, outputs)), flush=True)
            done += len(names)
            progress.update(done)
    else:
        with atomic_path(out) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(output_format.header(num_outputs))
                for names, x in batches:
                    outputs = predict(model, x, batch_size=args.batch_size)
                    writer.writerows(output_format.csv_rows(names, outputs))
                    done += len(names)
                    progress.update(done)
                if done == 0:
                    raise DataError(Problem(f"none of the {total} inputs could be read; nothing was written.",
                                            source=str(out)))
    progress.finish()

    seconds = time.perf_counter() - start
    if skipped:
        listed = "\n".join(f"  - {problem}" for problem in skipped[:20])
        more = f"\n  ... and {len(skipped) - 20} more" if len(skipped) > 20 else ""
        logger.warning("skipped %d unreadable input%s:\n%s%s", len(skipped), "" if len(skipped) == 1 else "s",
                       listed, more)
    if done == 0:
        raise DataError(Problem(f"none of the {total} inputs could be read."))
    if out is not None or total > args.batch_size:
        logger.info("predicted %s inputs in %.1f s (%s inputs/s)%s", f"{done:,}", seconds,
                    f"{done / max(seconds, 1e-9):,.0f}", f"; wrote {out}" if out is not None else "")
    return 0


def _output_format(args, model, task: str, num_outputs: int) -> OutputFormat:
    if task == "regression":
        if args.top is not None:
            raise UsageError(Problem("--top applies to classification networks; this network is a regression "
                                     f"network with {num_outputs} outputs, all of which are printed."))
        if args.labels:
            raise UsageError(Problem("--labels applies to classification networks; this network is a regression "
                                     "network."))
        return OutputFormat(task, "output", num_outputs, None)
    labels = read_labels(args.labels, num_outputs) if args.labels else None
    value_name = "score" if type(model.layers[-1]).__name__ == "ConvNetJSSVM" else "probability"
    top = min(args.top if args.top is not None else DEFAULT_TOP, num_outputs)
    return OutputFormat(task, value_name, top, labels)
