"""``convnetjs-keras train``: train a network as ConvNetJS's trainer would, then export it.

Reads a network (snapshot, .keras, or network text with its trainer line),
trainer options and data, trains with ``compile_like_convnetjs`` while logging
the ConvNetJS demo panel's numbers, and writes ``model.keras``,
``snapshot.json``, ``history.csv`` and ``training.png`` into the output folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import sys
import time
import warnings
from pathlib import Path

from convnetjs_keras.cli.common import (
    add_model_arguments,
    logger,
    model_kind,
    non_negative_int,
    positive_int,
)
from convnetjs_keras.errors import (
    ConvNetJSKerasError,
    KerasModelError,
    NetworkTextError,
    OutputPathError,
    Problem,
    SnapshotFormatError,
    TrainerOptionError,
)

OUTPUT_NAMES = ("model.keras", "snapshot.json", "history.csv", "training.png")
DISTRIBUTE_KINDS = ("none", "mirrored", "multi-worker", "data-parallel")

# Automatic report interval: epochs longer than REPORT_EPOCH_EXAMPLES examples
# also get a panel line every REPORT_EVERY_EXAMPLES examples.
REPORT_EPOCH_EXAMPLES = 20_000
REPORT_EVERY_EXAMPLES = 10_000

# Automatic steps_per_execution: about this many examples per execution
# (one call into the compiled training loop), at most MAX_STEPS_PER_EXECUTION steps.
EXAMPLES_PER_EXECUTION = 256
MAX_STEPS_PER_EXECUTION = 32

VALIDATION_BATCH_SIZE = 256

# The network text wrapper around a JavaScript trainer object; see parse_trainer_text.
_TRAINER_PREFIX = "new convnetjs.Trainer(net, "


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected a fraction between 0 and 1, e.g. 0.1")
    return value


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "train", help="train a network as ConvNetJS's trainer would and export it",
        description="Train a ConvNetJS network with Keras, updating the weights as ConvNetJS's Trainer does "
                    "(method, batch size, L1/L2 decay), and write DIR/model.keras, DIR/snapshot.json (for "
                    "ConvNetJS), DIR/history.csv and DIR/training.png. Each epoch logs what the ConvNetJS demo "
                    "panel shows: loss, L2 decay loss, training and validation accuracy, examples seen and "
                    "time per example.")
    parser.add_argument("net", metavar="NET", help="ConvNetJS snapshot (.json), .keras file, model.json (with "
                        "--weights) or network text (.js/.txt, JavaScript from a ConvNetJS demo page)")
    parser.add_argument("--data", required=True, metavar="DATA",
                        help=".npz with arrays x and y, .csv (features, then the class index or the regression "
                             "targets) or a folder with one subfolder of images per class")
    parser.add_argument("--epochs", required=True, type=positive_int, metavar="N", help="passes over the data")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder, created if missing; existing outputs are kept unless --force")

    trainer = parser.add_mutually_exclusive_group()
    trainer.add_argument("--trainer", metavar="OPTIONS",
                         help="trainer options as JSON or a JavaScript object, e.g. "
                              "'{\"method\": \"adadelta\", \"batch_size\": 20, \"l2_decay\": 0.001}'; keys given "
                              "here replace those of the network text's trainer line")
    trainer.add_argument("--trainer-from", metavar="FILE",
                         help="read trainer options from FILE: JSON, a JavaScript object, or network text with "
                              "a trainer line")
    parser.add_argument("--batch-size", type=positive_int, metavar="N",
                        help="examples per weight update; replaces the trainer's batch_size (default: the "
                             "trainer's batch_size, 1 when no trainer options are given, as in ConvNetJS)")

    validation = parser.add_mutually_exclusive_group()
    validation.add_argument("--validation-split", type=_fraction, metavar="F",
                            help="hold out this fraction of DATA, chosen at random (fixed by --seed), for "
                                 "validation")
    validation.add_argument("--validation-data", metavar="DATA", help="validation data, in any DATA format")
    parser.add_argument("--augment", metavar="SPEC",
                        help="random changes to each training example, as in the ConvNetJS demos: shift=N "
                             "(shift up to N pixels, zero fill), flip (mirror left-right with probability 1/2), "
                             "crop=N (random N x N window of larger images; validation uses the centre "
                             "window); combine with commas, e.g. shift=2,flip")

    add_model_arguments(parser)
    parser.add_argument("--seed", type=int, metavar="N",
                        help="seed for weight initialization, shuffling, augmentation, dropout and "
                             "--validation-split (default: random)")
    parser.add_argument("--fallback-to-sgd", action="store_true",
                        help="train an unknown trainer method with SGD, as ConvNetJS silently does (default: "
                             "reject it)")
    parser.add_argument("--distribute", choices=DISTRIBUTE_KINDS, default="none",
                        help="TensorFlow distribution strategy to build and train the model under (default: none)")
    parser.add_argument("--steps-per-execution", type=positive_int, metavar="N",
                        help="training steps per call into the compiled training loop (default: about "
                             f"{EXAMPLES_PER_EXECUTION} examples per call, at most {MAX_STEPS_PER_EXECUTION} "
                             "steps)")
    parser.add_argument("--report-every", type=non_negative_int, metavar="EXAMPLES",
                        help="also log a panel line every EXAMPLES examples within an epoch; 0 only at epoch "
                             f"ends (default: every {REPORT_EVERY_EXAMPLES:,} when an epoch has more than "
                             f"{REPORT_EPOCH_EXAMPLES:,} examples)")
    parser.add_argument("--force", action="store_true", help="replace existing output files")
    return parser


def run(args) -> int:
    if getattr(args, "precision", "float32") != "float64":
        return _train(args)
    import keras

    # Keras keeps learning rates and optimizer constants in floatx; a float64
    # model trains exactly as ConvNetJS does only with floatx float64 too.
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        return _train(args)
    finally:
        keras.config.set_floatx(previous)


def _train(args) -> int:
    from convnetjs_keras.data import parse_augment

    net_path = Path(args.net)
    kind = model_kind(net_path)
    _check_net_exists(net_path, kind)
    augmentation = parse_augment(args.augment)
    outputs = _check_outputs(args)
    options = _trainer_options(args, kind)
    logger.info("trainer: %s", json.dumps(options.to_dict()))

    with _distribute_scope(args.distribute) as replicas:
        if replicas is not None:
            # Raises DistributionError unless each replica gets an equal slice of every batch.
            replicas.per_replica_batch_size(options.batch_size)
        model, x, y, validation = _prepare(args, augmentation, options)
        history_rows, seconds, interrupted = _fit(args, model, x, y, validation, augmentation, options)

    if interrupted:
        logger.info("interrupted after %.1f s; writing the model as trained so far", seconds)
    _write_outputs(model, history_rows, outputs, args)
    if interrupted:
        return 130
    epochs = "epoch" if args.epochs == 1 else "epochs"
    logger.info("trained %d %s on %s examples in %.1f s", args.epochs, epochs, f"{x.shape[0]:,}", seconds)
    return 0


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------


def _check_net_exists(path: Path, kind: str) -> None:
    if path.is_file():
        return
    error = {"keras": KerasModelError, "keras-json": KerasModelError,
             "network-text": NetworkTextError}.get(kind, SnapshotFormatError)
    raise error(Problem("file not found." if not path.exists() else "is not a file.", source=str(path),
                        hint="Give a ConvNetJS snapshot, a .keras file or network text (.js/.txt)."))


def _check_outputs(args) -> list[Path]:
    """Return the output paths, after checking that writing them overwrites no input
    and, without --force, no existing file."""
    from convnetjs_keras.files import check_output_path

    out = Path(args.out)
    paths = [out / name for name in OUTPUT_NAMES]
    if out.exists():
        if not out.is_dir():
            raise OutputPathError(Problem("exists and is not a folder.", source=str(out),
                                          hint="--out names a folder for model.keras, snapshot.json, history.csv "
                                               "and training.png."))
        inputs = [args.net, args.data, args.validation_data, args.trainer_from, args.weights]
        for path in paths:
            check_output_path(path, inputs=inputs, overwrite=args.force)
    else:
        ancestor = out.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
            raise OutputPathError(Problem(f"cannot be created: {str(ancestor)!r} is not a writable folder.",
                                          source=str(out)))
    return paths


def parse_trainer_text(text: str, source: str) -> dict:
    """Parse trainer options written as JSON or as a JavaScript object literal.

    JSON is tried first. Text starting with '{' that is not valid JSON is read
    with the network text parser, so unquoted keys, single quotes and
    comments work as on a ConvNetJS demo page (``{method:'adadelta',
    batch_size:20}``). Raises TrainerOptionError when the text is neither.
    """
    from convnetjs_keras.network_text import parse_network_text

    stripped = text.strip()
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError as json_error:
        if not stripped.startswith("{"):
            raise TrainerOptionError(Problem(
                f"is not a JSON object: {json_error}.", source=source,
                hint='Write an object such as {"method": "adadelta", "batch_size": 20}.')) from None
        # The network text parser reads a JavaScript object only as a trainer's argument, so the
        # object is wrapped in a constructor call. Error columns on line 1 are shifted back.
        wrapped = f"{_TRAINER_PREFIX}{stripped}\n);\nvar layer_defs = [];"
        try:
            value = parse_network_text(wrapped, source).trainer_options
        except NetworkTextError as error:
            raise TrainerOptionError([_unwrap_problem(problem) for problem in error.problems]) from None
    if not isinstance(value, dict):
        raise TrainerOptionError(Problem(f"is a JSON {type(value).__name__}; expected an object such as "
                                         '{"method": "sgd", "learning_rate": 0.01}.', source=source))
    return value


def _unwrap_problem(problem: Problem) -> Problem:
    def shift(match):
        line, column = int(match.group(1)), int(match.group(2))
        if line == 1:
            column = max(1, column - len(_TRAINER_PREFIX))
        return f"line {line}, column {column}"

    message = re.sub(r"line (\d+), column (\d+)", shift, problem.message)
    return Problem(message, source=problem.source, hint=problem.hint)


def _read_trainer_file(path: str) -> dict:
    from convnetjs_keras.network_text import looks_like_network_text, parse_network_text

    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TrainerOptionError(Problem("file not found.", source=path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise TrainerOptionError(Problem(f"cannot be read: {error}", source=path)) from None
    if looks_like_network_text(text):
        options = parse_network_text(text, path).trainer_options
        if options is None:
            raise TrainerOptionError(Problem("constructs no trainer; expected a line such as "
                                             "'trainer = new convnetjs.Trainer(net, {method:\"sgd\"});'.",
                                             source=path))
        return options
    return parse_trainer_text(text, path)


def _trainer_options(args, kind: str):
    """Merge trainer options: --batch-size over --trainer or --trainer-from over
    the network text's trainer line over ConvNetJS's defaults."""
    from convnetjs_keras.network_text import load_network_text
    from convnetjs_keras.training import TrainerOptions

    options: dict = {}
    sources = []
    if kind == "network-text":
        text_options = load_network_text(args.net).trainer_options
        if text_options:
            options.update(text_options)
            sources.append(args.net)
    if args.trainer is not None:
        options.update(parse_trainer_text(args.trainer, "--trainer"))
        sources.append("--trainer")
    elif args.trainer_from is not None:
        options.update(_read_trainer_file(args.trainer_from))
        sources.append(args.trainer_from)
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
        sources.append("--batch-size")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = TrainerOptions.from_dict(options, fallback_to_sgd=args.fallback_to_sgd,
                                          source=", ".join(sources) or "trainer options")
    for warning in caught:
        logger.warning("warning: %s", warning.message)
    if not sources:
        logger.info("no trainer options given; using ConvNetJS's defaults (sgd, learning_rate 0.01, momentum 0.9, "
                    "batch_size 1)")
    return result


@contextlib.contextmanager
def _distribute_scope(kind: str):
    try:
        from convnetjs_keras.distribute import strategy_scope
    except ModuleNotFoundError as error:
        if error.name != "convnetjs_keras.distribute":
            raise
        if kind != "none":
            raise ConvNetJSKerasError(Problem(
                f"--distribute {kind} is not available in this installation (convnetjs_keras.distribute "
                "is missing).", hint="Use --distribute none.")) from None
        yield None
        return
    with strategy_scope(kind) as replicas:
        yield replicas


def _prepare(args, augmentation, options):
    """Load the model and the data, check that the model exports to ConvNetJS, and compile it."""
    import keras

    from convnetjs_keras.callbacks import CostLoss
    from convnetjs_keras.cli.common import load_any_model
    from convnetjs_keras.data import centre_crop, load_dataset, model_task
    from convnetjs_keras.errors import DataError
    from convnetjs_keras.export import model_to_net_spec
    from convnetjs_keras.training import compile_like_convnetjs, make_loss

    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)
    model = load_any_model(args.net, args)
    # Fail before training, not after it, when the model cannot be written as a ConvNetJS snapshot.
    model_to_net_spec(model)

    task, num_outputs = model_task(model)
    dtype = keras.backend.standardize_dtype(model.inputs[0].dtype)
    if (augmentation.shift or augmentation.flip or augmentation.crop) and len(model.input_shape) != 4:
        raise DataError(Problem(
            f"--augment {augmentation} needs an image input, but the network input is a vector "
            f"{tuple(model.input_shape[1:])}.", source="--augment", hint="Drop --augment for this network."))

    x, y = load_dataset(args.data, model.input_shape, task, num_outputs=num_outputs, crop=augmentation.crop,
                        dtype=dtype)
    validation = None
    if args.validation_data is not None:
        x_val, y_val = load_dataset(args.validation_data, model.input_shape, task, num_outputs=num_outputs,
                                    crop=augmentation.crop, dtype=dtype)
        validation = (x_val, y_val)
    elif args.validation_split is not None:
        x, y, validation = _split(x, y, args.validation_split, args.seed, args.data)
    if validation is not None and augmentation.crop is not None:
        validation = (centre_crop(validation[0], augmentation.crop), validation[1])

    metrics = [CostLoss(make_loss(model))]
    if task == "classification":
        metrics.insert(0, keras.metrics.SparseCategoricalAccuracy(name="accuracy"))
    steps = args.steps_per_execution or _auto_steps_per_execution(options.batch_size)
    # More steps than an epoch has would make Keras report step numbers past the epoch's end.
    steps = min(steps, math.ceil(x.shape[0] / options.batch_size))
    single_step_reason = _single_step_reason(keras.backend.backend(), args.distribute)
    if single_step_reason and steps > 1:
        if args.steps_per_execution:
            logger.warning("warning: --steps-per-execution %d is ignored: %s", steps, single_step_reason)
        steps = 1
    compile_like_convnetjs(model, options, metrics=metrics, steps_per_execution=steps)
    logger.info("%s: %s examples for training%s; %s, %d outputs; batch size %d, steps per execution %d",
                args.data, f"{x.shape[0]:,}",
                f", {validation[0].shape[0]:,} for validation" if validation is not None else "",
                task, num_outputs, options.batch_size, steps)
    return model, x, y, validation


def _single_step_reason(backend: str, distribute: str) -> str | None:
    """Return why only steps_per_execution=1 works here, or None when more steps work."""
    if backend == "torch":
        return "Keras' PyTorch backend runs one step per execution"  # Keras 3.15 raises otherwise
    if distribute == "multi-worker":
        # Keras 3.15's multi-step loop fails under MultiWorkerMirroredStrategy in TensorFlow 2.21
        # ("You must feed a value for placeholder tensor ... while/cond").
        return "multi-worker training runs one step per execution"
    return None


def _auto_steps_per_execution(batch_size: int) -> int:
    return max(1, min(MAX_STEPS_PER_EXECUTION, EXAMPLES_PER_EXECUTION // batch_size))


def _split(x, y, fraction, seed, source):
    import numpy as np

    from convnetjs_keras.errors import DataError

    count = x.shape[0]
    held_out = round(count * fraction)
    if held_out < 1 or held_out >= count:
        raise DataError(Problem(f"has {count} examples; --validation-split {fraction} leaves "
                                f"{count - held_out} for training and {held_out} for validation.", source=source,
                                hint="Use a fraction that leaves at least one example on each side."))
    order = np.random.default_rng(seed).permutation(count)
    train, validation = order[held_out:], order[:held_out]
    return x[train], y[train], (x[validation], y[validation])


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


def training_dataset(x, y, batch_size: int, augmentation, seed: int | None):
    """Return a ``tf.data`` pipeline of shuffled (and augmented) training batches.

    Each epoch visits every example once in a new random order. Shuffling
    permutes indices and gathers each batch, so no copy of the data sits in
    a shuffle buffer. Augmentation runs on whole batches (``augment_batch``)
    with a fresh stateless seed per batch.
    """
    import tensorflow as tf

    from convnetjs_keras.data import augment_batch

    # NOTE: the input pipeline's functions capture the whole arrays. Arrays near 2 GB may exceed
    # TensorFlow's protobuf size limit; this was not tested.
    x_all = tf.constant(x)
    y_all = tf.constant(y)
    count = x.shape[0]
    indices = tf.data.Dataset.range(count).shuffle(count, seed=seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size).map(lambda index: (tf.gather(x_all, index), tf.gather(y_all, index)),
                                            num_parallel_calls=tf.data.AUTOTUNE)
    if not augmentation.is_identity:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        batches = tf.data.Dataset.zip((batches, seeds)).map(
            lambda batch, batch_seed: (augment_batch(batch[0], batch_seed, augmentation), batch[1]),
            num_parallel_calls=tf.data.AUTOTUNE)
    return batches.prefetch(tf.data.AUTOTUNE)


def _fit(args, model, x, y, validation, augmentation, options):
    import keras
    import tensorflow as tf

    from convnetjs_keras.callbacks import panel_callback

    count = x.shape[0]
    report_every = args.report_every
    if report_every is None:
        report_every = REPORT_EVERY_EXAMPLES if count > REPORT_EPOCH_EXAMPLES else 0
    panel = panel_callback(count, options.batch_size, args.epochs, report_every or None)

    verbose = 1 if sys.stdout.isatty() else 0
    # Keras' progress bar goes first, so that it ends its line before the panel logs the epoch.
    callbacks = ([keras.callbacks.ProgbarLogger()] if verbose else []) + [panel]

    validation_data = None
    if validation is not None:
        validation_data = tf.data.Dataset.from_tensor_slices(validation).batch(VALIDATION_BATCH_SIZE)
    start = time.perf_counter()
    try:
        model.fit(training_dataset(x, y, options.batch_size, augmentation, args.seed), epochs=args.epochs,
                  validation_data=validation_data, callbacks=callbacks, verbose=verbose,
                  shuffle=False)  # training_dataset shuffles
    except KeyboardInterrupt:
        # Keep what was trained: the caller writes the outputs, then exits with 130.
        return panel.rows, time.perf_counter() - start, True
    return panel.rows, time.perf_counter() - start, False


# ---------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------


def _write_outputs(model, rows, paths, args) -> None:
    from convnetjs_keras.callbacks import write_history_csv
    from convnetjs_keras.keras_io import save_keras_model
    from convnetjs_keras.model import save_snapshot
    from convnetjs_keras.plots import plot_training

    keras_path, snapshot_path, history_path, plot_path = paths
    try:
        keras_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputPathError(Problem(f"cannot be created: {error.strerror}.", source=str(keras_path.parent))) from None
    save_keras_model(model, keras_path)
    save_snapshot(model, snapshot_path)
    write_history_csv(rows, history_path)
    plot_training(rows, plot_path, title=f"{Path(args.net).name} on {Path(args.data).name}")
    for path in paths:
        logger.info("wrote %s", path)
