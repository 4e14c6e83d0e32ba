"""``convnetjs-keras export``: Keras model -> ConvNetJS snapshot or MagicNet file."""

from __future__ import annotations

from pathlib import Path

from convnetjs_keras.cli.common import logger

# Random inputs for the --digits report: this many, uniform in this range,
# which is the pixel / 255 - 0.5 range of the ConvNetJS demos.
RANDOM_SAMPLE_COUNT = 32
RANDOM_SAMPLE_RANGE = (-0.5, 0.5)
RANDOM_SAMPLE_SEED = 0


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export", help="export a Keras model (.keras, or model.json + --weights) to a ConvNetJS snapshot",
        description="Write a ConvNetJS snapshot that ConvNetJS loads with net.fromJSON(JSON.parse(text)) and "
                    "that predicts what the Keras model predicts. A model whose output averages several "
                    "chains (as convert makes from a MagicNet file) is written as a MagicNet file "
                    '({"nets": [...]}). Every layer ConvNetJS cannot express is listed before anything is '
                    "written.")
    parser.add_argument("model", metavar="MODEL", help=".keras file, or model.json with --weights")
    parser.add_argument("out", metavar="OUT.json", help="snapshot (or MagicNet) file to write")
    parser.add_argument("--weights", metavar="FILE.weights.h5", help="weights of a model.json")
    parser.add_argument("--output", choices=("softmax", "svm", "regression"),
                        help="loss layer to end with when the model does not end in one (default: softmax "
                             "if the model ends in softmax, else regression, which outputs the raw values)")
    parser.add_argument("--digits", type=int, metavar="N",
                        help="write N significant digits per weight (1 to 17; default: all, exact) and report "
                             "the largest change this makes to the predictions")
    parser.add_argument("--sample", metavar="FILE.npz",
                        help="inputs for the --digits report, shaped like the model's input (array 'x', or "
                             f"the only array); default: {RANDOM_SAMPLE_COUNT} random inputs uniform in "
                             f"[{RANDOM_SAMPLE_RANGE[0]}, {RANDOM_SAMPLE_RANGE[1]}]")
    parser.add_argument("--typed-array-objects", action="store_true",
                        help='write each w as {"0": ..., "1": ...}, the form JSON.stringify gives a Float64Array')
    parser.add_argument("--force", action="store_true", help="replace an existing output file")
    return parser


def _network_json(specs, magicnet: bool, *, digits=None, typed_array_objects=False) -> dict:
    """Return the snapshot dict (one spec) or MagicNet dict (``magicnet``)."""
    from convnetjs_keras.snapshot import net_spec_to_json
    from convnetjs_keras.version import __version__

    version = {"convnetjs_keras_version": __version__}
    nets = [net_spec_to_json(spec, digits=digits, typed_array_objects=typed_array_objects, extra=version)
            for spec in specs]
    return {"nets": nets, **version} if magicnet else nets[0]


def _keras_of(network: dict, magicnet: bool):
    from convnetjs_keras.magicnet import from_magicnet
    from convnetjs_keras.model import from_snapshot

    return from_magicnet(network, dtype="float64") if magicnet else from_snapshot(network, dtype="float64")


def read_sample(path, keras_shape, layout):
    """Return the inputs of ``FILE.npz`` in ConvNetJS (NHWC) order.

    Raises:
        DataError: the file cannot be read, has no single input array, or the
            array's shape differs from ``(N,) + keras_shape``.
    """
    import numpy as np

    from convnetjs_keras.errors import DataError, Problem

    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            name = None
            if "x" in names:
                name = "x"
            elif len(names) == 1:
                name = names[0]
            x = None if name is None else np.asarray(archive[name], np.float64)
    except (OSError, ValueError, TypeError) as error:
        # TypeError: np.load returned a plain array (a .npy file), which is no context manager.
        raise DataError(Problem(f"cannot be read as a NumPy .npz archive: {error}.", source=str(path))) from None
    if x is None:
        raise DataError(Problem(f"contains the arrays {names}, expected one named 'x' or a single array.",
                                source=str(path)))
    expected = tuple(int(d) for d in keras_shape)
    if x.ndim == len(expected):
        x = x[None]
    if x.shape[1:] != expected or x.shape[0] == 0:
        raise DataError(Problem(f"array {name!r} has shape {x.shape}, expected (N, {', '.join(map(str, expected))}) "
                                "like the model's input.", source=str(path)))
    if layout == "channels_first" and x.ndim == 4:
        x = x.transpose(0, 2, 3, 1)  # (N, depth, sy, sx) -> ConvNetJS order (N, sy, sx, depth)
    return x


def random_sample(spec):
    """Return ``RANDOM_SAMPLE_COUNT`` random inputs of the net's input shape (NHWC)."""
    import numpy as np

    shape = spec.input_shape
    size = (shape.depth,) if shape.is_vector else (shape.sy, shape.sx, shape.depth)
    rng = np.random.default_rng(RANDOM_SAMPLE_SEED)
    return rng.uniform(*RANDOM_SAMPLE_RANGE, size=(RANDOM_SAMPLE_COUNT, *size))


def largest_prediction_change(full: dict, rounded: dict, magicnet: bool, x) -> float:
    """Return max |prediction(full) - prediction(rounded)| over inputs ``x``,
    both networks run in Keras in float64."""
    import numpy as np

    reference = _keras_of(full, magicnet).predict(x, verbose=0)
    changed = _keras_of(rounded, magicnet).predict(x, verbose=0)
    return float(np.max(np.abs(reference - changed)))


def run(args) -> int:
    from convnetjs_keras.errors import Problem, UsageError
    from convnetjs_keras.export import averaged_chains, chains_to_net_specs, input_layout, model_input_shape, \
        model_to_net_spec
    from convnetjs_keras.files import atomic_write_bytes, check_output_path
    from convnetjs_keras.keras_io import load_keras_model
    from convnetjs_keras.snapshot import dumps_snapshot

    out = Path(args.out)
    if args.digits is not None and not 1 <= args.digits <= 17:
        raise UsageError(Problem(f"--digits must be between 1 and 17, found {args.digits}."))
    if args.sample is not None and args.digits is None:
        raise UsageError(Problem("--sample goes with --digits: it sets the inputs of the --digits report."))
    check_output_path(out, inputs=[args.model, args.weights, args.sample], overwrite=args.force)
    if out.suffix.lower() in (".keras", ".h5"):
        raise UsageError(Problem(f"{out.name!r} names a Keras file, but export writes a ConvNetJS snapshot (JSON).",
                                 hint="Use a .json output path."))
    model = load_keras_model(args.model, args.weights)

    # Every check happens here, before anything is written.
    chains = averaged_chains(model)
    magicnet = chains is not None
    specs = chains_to_net_specs(model, chains, args.output) if magicnet else [model_to_net_spec(model, args.output)]
    sample = None
    if args.sample is not None:
        sample = read_sample(args.sample, model_input_shape(model), input_layout(model))

    network = _network_json(specs, magicnet, digits=args.digits, typed_array_objects=args.typed_array_objects)
    data = dumps_snapshot(network)
    atomic_write_bytes(out, data)
    what = f"MagicNet of {len(specs)} nets" if magicnet else f"{len(network['layers'])} ConvNetJS layers"
    if args.digits is None:
        logger.info("wrote %s: %s, %.1f kB", out, what, len(data) / 1000)
        return 0

    full = _network_json(specs, magicnet, typed_array_objects=args.typed_array_objects)
    full_size = len(dumps_snapshot(full))
    logger.info("wrote %s: %s, %.1f kB with %d significant digits (%.1f kB with all digits)", out, what,
                len(data) / 1000, args.digits, full_size / 1000)
    if sample is None:
        sample = random_sample(specs[0])
        described = (f"{len(sample)} random inputs uniform in [{RANDOM_SAMPLE_RANGE[0]}, "
                     f"{RANDOM_SAMPLE_RANGE[1]}]")
    else:
        described = f"{len(sample)} inputs from {args.sample}"
    change = largest_prediction_change(full, network, magicnet, sample)
    logger.info("largest change in predictions from rounding: %.3g (max absolute difference over %s)",
                change, described)
    return 0
