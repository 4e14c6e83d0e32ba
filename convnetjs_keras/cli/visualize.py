"""``convnetjs-keras visualize``: filters, feature maps and predictions of one input, as an HTML page."""

from __future__ import annotations

from pathlib import Path

from convnetjs_keras.cli.common import add_model_arguments, logger, non_negative_int, positive_int
from convnetjs_keras.errors import DataError, OutputPathError, Problem, UsageError

# The defaults of convnetjs_keras.visualize, repeated here because importing
# that module imports Keras, which `convnetjs-keras --help` must not wait for.
DEFAULT_TOP = 5
DEFAULT_MAX_CHANNELS = 256


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "visualize", help="draw a network's filters, feature maps and predictions for one input as an HTML page",
        description="Run one input through a network and write DIR/index.html, laid out like the ConvNetJS demo "
                    "pages: one row per layer with its type, output shape, max and min activation, parameter "
                    "count, feature maps and (for conv layers) filters, plus the input and the top predictions. "
                    "Each picture is also a PNG file in DIR.")
    parser.add_argument("model", metavar="MODEL", help="ConvNetJS snapshot, .keras file, model.json (with "
                        "--weights) or network text (.js/.txt)")
    parser.add_argument("--input", required=True, metavar="INPUT",
                        help="an image file (converted as the ConvNetJS demos do: scaled to cover the input, "
                             "centre-cropped, pixel / 255 - 0.5), or an .npz, .npy or .csv file of examples, of "
                             "which --index picks one")
    parser.add_argument("--index", type=non_negative_int, default=0, metavar="N",
                        help="example of an .npz, .npy or .csv INPUT to draw, counted from 0 (default: 0)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder, created if missing")
    parser.add_argument("--labels", metavar="FILE",
                        help="class names, one per line in class index order (default: class indices)")
    parser.add_argument("--top", type=positive_int, default=DEFAULT_TOP, metavar="K",
                        help=f"classes shown in the prediction panel (default: {DEFAULT_TOP})")
    parser.add_argument("--max-channels", type=positive_int, default=DEFAULT_MAX_CHANNELS, metavar="N",
                        help=f"feature maps and filters drawn per layer; the image title states when a layer has more "
                             f"(default: {DEFAULT_MAX_CHANNELS})")
    add_model_arguments(parser)
    parser.add_argument("--force", action="store_true", help="replace a report already in DIR")
    return parser


def run(args) -> int:
    from convnetjs_keras.cli.common import load_any_model
    from convnetjs_keras.cli.predict import ArraySource, collect_sources, read_labels
    from convnetjs_keras.data import model_task
    from convnetjs_keras.inference import _input_signature
    from convnetjs_keras.visualize import render_report

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise OutputPathError(Problem("exists and is not a folder.", source=str(out),
                                      hint="--out names a folder for index.html and the PNG files."))
    if (out / "index.html").exists() and not args.force:
        # Checked before the model is loaded, to fail fast; render_report checks every file it writes.
        raise OutputPathError(Problem("already contains a report (index.html).", source=str(out),
                                      hint="Pass --force to replace it, or choose another folder."))
    input_path = Path(args.input)
    if input_path.is_dir():
        raise DataError(Problem("is a folder; expected one image or data file.", source=args.input,
                                field="--input", hint="Pick one image from the folder."))

    model = load_any_model(args.model, args)
    input_shape, dtype = _input_signature(model)
    task, num_outputs = model_task(model)
    labels = None
    if args.labels:
        if task != "classification":
            raise UsageError(Problem("--labels applies to classification networks; this network is a "
                                     "regression network."))
        labels = read_labels(args.labels, num_outputs)

    (source,) = collect_sources([args.input], input_shape, dtype)
    if isinstance(source, ArraySource):
        if args.index >= len(source):
            raise DataError(Problem(f"--index {args.index} is out of range; the file has {len(source)} examples "
                                    f"(0 to {len(source) - 1}).", source=args.input))
        image = source.x[args.index]
        input_name = source.names[args.index]
    else:
        if args.index != 0:
            logger.warning("--index applies to .npz, .npy and .csv inputs; ignored for the image %s", args.input)
        image = source.paths[0]
        input_name = str(source.paths[0])

    report = render_report(model, image, out, labels=labels, top=args.top, input_name=input_name,
                           overwrite=args.force, max_channels=args.max_channels)
    if report.task == "classification":
        best = report.predictions[0]
        logger.info("top class: %s (%s %.4f)", best.label, report.value_name, best.value)
    logger.info("wrote %s and %d images", report.index_html, len(report.images))
    return 0
