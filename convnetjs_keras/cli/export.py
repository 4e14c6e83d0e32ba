"""``convnetjs-keras export``: Keras model -> ConvNetJS snapshot."""

from __future__ import annotations

from pathlib import Path

from convnetjs_keras.cli.common import logger


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export", help="export a Keras model (.keras, or model.json + --weights) to a ConvNetJS snapshot",
        description="Write a ConvNetJS snapshot that ConvNetJS loads with net.fromJSON(JSON.parse(text)) and "
                    "that predicts what the Keras model predicts.")
    parser.add_argument("model", metavar="MODEL", help=".keras file, or model.json with --weights")
    parser.add_argument("out", metavar="OUT.json", help="snapshot file to write")
    parser.add_argument("--weights", metavar="FILE.weights.h5", help="weights of a model.json")
    parser.add_argument("--output", choices=("softmax", "svm", "regression"),
                        help="loss layer to end with when the model does not end in one (default: softmax "
                             "if the model ends in softmax, else regression)")
    parser.add_argument("--digits", type=int, metavar="N",
                        help="write N significant digits per weight (default: all 17, exact)")
    parser.add_argument("--typed-array-objects", action="store_true",
                        help='write each w as {"0": ..., "1": ...}, the form JSON.stringify gives a Float64Array')
    parser.add_argument("--force", action="store_true", help="replace an existing output file")
    return parser


def run(args) -> int:
    from convnetjs_keras.errors import OutputPathError, Problem
    from convnetjs_keras.files import atomic_write_bytes, check_output_path
    from convnetjs_keras.keras_io import load_keras_model
    from convnetjs_keras.model import to_snapshot
    from convnetjs_keras.snapshot import dumps_snapshot

    out = Path(args.out)
    if args.digits is not None and not 1 <= args.digits <= 17:
        raise OutputPathError(Problem(f"--digits must be between 1 and 17, found {args.digits}."))
    check_output_path(out, inputs=[args.model, args.weights], overwrite=args.force)
    model = load_keras_model(args.model, args.weights)
    snapshot = to_snapshot(model, output=args.output, digits=args.digits,
                           typed_array_objects=args.typed_array_objects)
    data = dumps_snapshot(snapshot)
    atomic_write_bytes(out, data)
    logger.info("wrote %s (%d ConvNetJS layers, %.1f kB)", out, len(snapshot["layers"]), len(data) / 1000)
    return 0
